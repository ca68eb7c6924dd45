// Group commit: batches from every agent stream that arrive within one turn of the event loop
// are stored in one SQLite transaction, so one fsync (synchronous=FULL) makes all of them
// durable before each is acknowledged. Without it, central commits one batch per fsync and 100
// agents queue behind each other for seconds.
//
//   stream A ─┐
//   stream B ─┼─▶ queue ─(setImmediate)─▶ EventLog.storeMany (one commit) ─▶ each submit resolves
//   stream C ─┘
//
// Results resolve in submission order, so a stream that pipelines its batches sees its acks in
// order. The queue holds at most what the streams' windows allow (ingest bounds each stream).
//
// The sink thread's bookkeeping (cursor moves, dead letters) rides along (`alongside`): it is
// written inside the next commit, in its own savepoint, and costs no fsync of its own; with no
// batch waiting, it commits alone on the next turn. Ingest's connection stays the log's only
// writer, so no SQLite lock is ever contended (see central/sinks/worker/sink-worker.ts).

import type { EventLog, StoreItem, StoreResult } from './event-log.js';

interface Pending extends StoreItem {
  bytes: number;
  cancelled: () => boolean;
  resolve: (r: StoreResult) => void;
  reject: (err: Error) => void;
}

export interface GroupCommitOptions {
  /** Events per transaction: a longer one would hold the event loop (and every stream) longer. */
  maxEvents?: number;
  /** Bytes per transaction, for the same reason (events may be large). */
  maxBytes?: number;
  /** Called after each commit with how many batches and events it held. */
  onCommit?: (batches: number, events: number, ms: number) => void;
}

interface Alongside {
  apply: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private alongsideQueue: Alongside[] = [];
  private scheduled = false;
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(private readonly log: EventLog, private readonly opts: GroupCommitOptions = {}) {
    this.maxEvents = opts.maxEvents ?? 20_000;
    this.maxBytes = opts.maxBytes ?? 32 * 1024 * 1024;
  }

  /**
   * Resolves once the batch is durably stored; rejects when it could not be. `cancelled` is
   * asked just before the commit: a stream that failed meanwhile must not have a later batch
   * stored after an earlier one was not (its agent resends both from the gap).
   */
  submit(item: StoreItem, cancelled: () => boolean = () => false): Promise<StoreResult> {
    let bytes = 0;
    for (const e of item.events) bytes += e.bytes.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, bytes, cancelled, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Run `apply` (writes to the log) inside the next commit; resolves once that commit is
   * durable, rejects with what `apply` threw (its writes undone, the batches unharmed) or when
   * the commit failed. Callers bound how much they queue (the sink thread waits for each).
   */
  alongside(apply: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.alongsideQueue.push({ apply, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // After the I/O callbacks of this turn: every batch that arrived with it joins the commit.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    let events = 0;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length) {
      const next = this.queue[n]!;
      if (n > 0 && (events + next.events.length > this.maxEvents || bytes + next.bytes > this.maxBytes)) break;
      events += next.events.length;
      bytes += next.bytes;
      n++;
    }
    const group: Pending[] = [];
    for (const p of this.queue.splice(0, n)) {
      if (p.cancelled()) p.reject(new Error('the stream closed before its batch was stored'));
      else group.push(p);
    }
    if (this.queue.length > 0) this.schedule();
    const side = this.alongsideQueue.splice(0);
    if (group.length === 0 && side.length === 0) return;
    const t0 = performance.now();
    let results: (StoreResult | Error)[];
    const sideErrors: (Error | null)[] = [];
    const alongside = side.length === 0 ? undefined : () => {
      for (const s of side) {
        try {
          s.apply();
          sideErrors.push(null);
        } catch (err) {
          sideErrors.push(err as Error);
        }
      }
    };
    try {
      results = this.log.storeMany(group, alongside);
    } catch (err) {
      for (const p of group) p.reject(err as Error);
      for (const s of side) s.reject(err as Error);
      return;
    }
    if (group.length > 0) this.opts.onCommit?.(group.length, events, performance.now() - t0);
    group.forEach((p, i) => {
      const r = results[i]!;
      if (r instanceof Error) p.reject(r);
      else p.resolve(r);
    });
    side.forEach((s, i) => {
      const err = sideErrors[i];
      if (err) s.reject(err);
      else s.resolve();
    });
  }
}
