// What the agent remembers of processes it saw exec, keyed by pid AND start time so a reused
// pid never inherits another process's identity. Bounded: roughly the least recently used
// entries go first. Used for parent chains and for attributing a process that was gone before its
// /proc entry could be read (its parent's container is its container).

export interface ProcessRecord {
  pid: number;
  ppid: number;
  /** /proc/PID/stat starttime (clock ticks since boot); null when never read. */
  startTime: bigint | null;
  exe: string;
  comm: string;
  argv: string[];
  uid: number;
  euid: number;
  containerId: string | null;
  /** cgroup path, for containers without a hex id. */
  cgroupPath: string;
}

export class ProcessTable {
  private readonly byPid = new Map<number, ProcessRecord>();
  /**
   * Eviction order: records in the order they were put (or given a second chance), read from
   * `head`. A record replaced or deleted stays here until eviction reaches it and finds the map
   * holding another (stale: skipped). A record used since it was queued is queued again once
   * instead of evicted (the "second chance" of the clock algorithm): the least recently used go
   * first, roughly, at O(1) a lookup. Moving an entry to the end of the map on every lookup, as an
   * exact LRU does, filled V8's hash table with holes it had to skip and rehash: on a node with a
   * busy parent it cost more than the rest of the exec's enrichment.
   */
  private queue: ProcessRecord[] = [];
  private head = 0;
  /** Records looked up as a parent since they were last queued. */
  private readonly used = new Set<ProcessRecord>();

  constructor(private readonly max = 32_768) {}

  get size(): number {
    return this.byPid.size;
  }

  /** Record a process; an older process with the same pid is replaced. */
  put(rec: ProcessRecord): void {
    const old = this.byPid.get(rec.pid);
    if (old !== undefined) this.used.delete(old);
    this.byPid.set(rec.pid, rec);
    this.queue.push(rec);
    while (this.byPid.size > this.max && this.head < this.queue.length) {
      const r = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as ProcessRecord;
      if (this.byPid.get(r.pid) !== r) continue;
      if (this.used.delete(r)) this.queue.push(r);
      else this.byPid.delete(r.pid);
    }
    this.compact();
  }

  /**
   * The process with this pid, provided it could be the parent of a child that started at
   * `childStart`: a process that started after its supposed child is a reused pid, not the parent.
   */
  parentOf(ppid: number, childStart: bigint | null): ProcessRecord | undefined {
    const rec = this.byPid.get(ppid);
    if (!rec) return undefined;
    if (childStart !== null && rec.startTime !== null && rec.startTime > childStart) return undefined;
    this.used.add(rec);
    return rec;
  }

  /** The process with this pid and start time (null start time matches any). */
  get(pid: number, startTime: bigint | null = null): ProcessRecord | undefined {
    const rec = this.byPid.get(pid);
    if (!rec) return undefined;
    if (startTime !== null && rec.startTime !== null && rec.startTime !== startTime) return undefined;
    return rec;
  }

  delete(pid: number): void {
    const rec = this.byPid.get(pid);
    if (rec === undefined) return;
    this.byPid.delete(pid);
    this.used.delete(rec);
  }

  /** Keeps the queue within a small multiple of the table: read entries and stale ones go. */
  private compact(): void {
    const length = this.queue.length;
    if (this.head > 4096 && this.head * 2 > length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    } else if (length - this.head > 2 * this.max + 4096) {
      // Replaced and deleted records pile up while the table is below its bound.
      const live: ProcessRecord[] = [];
      for (let i = this.head; i < length; i++) {
        const r = this.queue[i]!;
        if (this.byPid.get(r.pid) === r) live.push(r);
      }
      this.queue = live;
      this.head = 0;
    }
  }
}
