// A small bounded cache keyed by file content, shared across evaluations: parsing the same
// certificate or YAML text again gives the same result, so the collector's repeated evaluations
// pay for parsing only when a file actually changed. Values must be treated as read-only.

export class ContentCache<V> {
  private readonly map = new Map<string, V>();

  constructor(
    private readonly maxEntries: number,
    private readonly maxKeyLength: number,
  ) {}

  get(key: string, make: () => V): V {
    if (key.length > this.maxKeyLength) return make();
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // Refresh recency: Map keeps insertion order, the oldest entry is evicted first.
      this.map.delete(key);
      this.map.set(key, hit);
      return hit;
    }
    const value = make();
    this.map.set(key, value);
    if (this.map.size > this.maxEntries) this.map.delete(this.map.keys().next().value!);
    return value;
  }
}
