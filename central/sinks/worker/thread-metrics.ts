// The sink thread's metrics on central's registry, under the same names, help and labels: one
// family per family of the thread's registry, whose values are asked of the thread when central
// is scraped (one request per scrape, shared by every family). Counters stay monotonic across a
// restart of the thread: what the thread had counted when it was last read is kept and added to
// what the new thread counts (counts made after that last read and before a crash are lost).
// While the thread is down or slow to answer, the last values are shown.

import type { Logger } from 'pino';
import type { Metric, Registry } from 'prom-client';
import type { FamilySnapshot, MetricSnapshot } from './protocol.js';

/** How long a scrape waits for the thread before showing the last values. */
const ANSWER_MS = 1000;

/** Types whose every sample only grows (counter; histogram buckets, sums and counts). */
const CUMULATIVE = new Set(['counter', 'histogram']);

type Sample = FamilySnapshot['values'][number];

const sampleKey = (s: Sample): string => {
  const labels = Object.entries(s.labels).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${s.metricName ?? ''}\u0000${JSON.stringify(labels)}`;
};

export class ThreadMetrics {
  private last = new Map<string, FamilySnapshot>();
  /** Per family, per sample: what earlier threads counted. */
  private readonly carried = new Map<string, Map<string, Sample>>();
  private asking: Promise<void> | null = null;
  private readonly warned = new Set<string>();

  /** `ask` resolves with the running thread's snapshot, or null when there is no thread. */
  constructor(private readonly registry: Registry, private readonly ask: () => Promise<MetricSnapshot | null>, private readonly logger: Logger) {}

  /** Take a snapshot the thread sent (its `ready`): new families appear on the registry. */
  take(snapshot: MetricSnapshot): void {
    for (const f of snapshot) {
      this.last.set(f.name, f);
      if (this.registry.getSingleMetric(f.name) === undefined) this.register(f.name);
    }
  }

  /** The thread ended: keep what it counted, so that its successor's counts add to it. */
  carryOver(): void {
    for (const f of this.last.values()) {
      if (!CUMULATIVE.has(f.type)) continue;
      const carried = this.carried.get(f.name) ?? new Map<string, Sample>();
      for (const s of f.values) {
        const key = sampleKey(s);
        const before = carried.get(key);
        carried.set(key, { ...s, value: (before?.value ?? 0) + s.value });
      }
      this.carried.set(f.name, carried);
      // The values are carried now: until the new thread answers, show them once, not twice.
      this.last.set(f.name, { ...f, values: [] });
    }
  }

  private register(name: string): void {
    const last = () => this.last.get(name)!;
    // What prom-client's Registry needs of a metric: a name, help, type, aggregator, get and reset.
    const family = {
      name,
      get help() {
        return last().help;
      },
      get type() {
        return last().type;
      },
      get aggregator() {
        return last().aggregator;
      },
      get: async () => {
        await this.refresh();
        return this.view(name);
      },
      reset: () => undefined,
    };
    try {
      this.registry.registerMetric(family as unknown as Metric);
    } catch (err) {
      if (this.warned.has(name)) return;
      this.warned.add(name);
      this.logger.error({ metric: name, err: String(err) }, 'A metric of the sink thread has the name of one of central\'s own; it is not shown.');
    }
  }

  /** One request to the thread for every family of one scrape. */
  private refresh(): Promise<void> {
    this.asking ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const snapshot = await Promise.race([this.ask(), new Promise<null>((r) => (timer = setTimeout(() => r(null), ANSWER_MS)))]);
        if (snapshot) this.take(snapshot);
      } catch {
        // No answer (the thread ended meanwhile): the last values stand.
      } finally {
        clearTimeout(timer);
        this.asking = null;
      }
    })();
    return this.asking;
  }

  private view(name: string): FamilySnapshot {
    const f = this.last.get(name)!;
    const carried = this.carried.get(name);
    if (!carried || carried.size === 0) return f;
    const values = new Map<string, Sample>();
    for (const s of carried.values()) values.set(sampleKey(s), s);
    for (const s of f.values) {
      const key = sampleKey(s);
      const before = values.get(key);
      values.set(key, before ? { ...s, value: before.value + s.value } : s);
    }
    return { ...f, values: [...values.values()] };
  }
}
