// Each node's budget, in events per second and in bytes per second (so a few huge events cannot
// fill the disk on an events budget): token buckets that go into debt instead of refusing.
// take(n, bytes) answers how long central should wait before storing and acknowledging, so an
// agent over budget is slowed by flow control (its window fills, its spool grows) and nothing is
// dropped. Buckets are kept per node name, across reconnects, so a reconnect resets nothing.

export interface BudgetOptions {
  eventsPerSecond: number;
  burst: number;
  /** Default: no byte budget. Its burst is `burst` seconds' worth at the events' ratio. */
  bytesPerSecond?: number;
  burstBytes?: number;
  now?: () => number;
  /** Forget nodes idle this long (their bucket is full again anyway). */
  idleMs?: number;
}

interface Bucket {
  tokens: number;
  bytes: number;
  at: number;
}

export class Budgets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(private readonly opts: BudgetOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Milliseconds to wait before n events (of `bytes` bytes) of this node may be taken in (0: now). */
  take(node: string, n: number, bytes = 0): number {
    const now = this.now();
    this.sweep(now);
    const rate = this.opts.eventsPerSecond;
    const byteRate = this.opts.bytesPerSecond ?? 0;
    const burstBytes = this.opts.burstBytes ?? byteRate * 5;
    let b = this.buckets.get(node);
    if (!b) {
      b = { tokens: this.opts.burst, bytes: burstBytes, at: now };
      this.buckets.set(node, b);
    }
    const elapsed = now - b.at;
    b.tokens = Math.min(this.opts.burst, b.tokens + (elapsed * rate) / 1000) - n;
    b.at = now;
    let wait = b.tokens >= 0 ? 0 : Math.ceil((-b.tokens * 1000) / rate);
    if (byteRate > 0) {
      b.bytes = Math.min(burstBytes, b.bytes + (elapsed * byteRate) / 1000) - bytes;
      if (b.bytes < 0) wait = Math.max(wait, Math.ceil((-b.bytes * 1000) / byteRate));
    }
    return wait;
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const idle = this.opts.idleMs ?? 10 * 60_000;
    if (now - this.lastSweep < idle) return;
    this.lastSweep = now;
    for (const [node, b] of this.buckets) {
      const full = b.tokens + ((now - b.at) * this.opts.eventsPerSecond) / 1000 >= this.opts.burst && b.bytes >= 0;
      if (full && now - b.at > idle) this.buckets.delete(node);
    }
  }
}
