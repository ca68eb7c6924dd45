// Each node's events-per-second budget: a token bucket that goes into debt instead of refusing.
// take(n) answers how long central should wait before storing and acknowledging n events, so an
// agent over budget is slowed by flow control (its window fills, its spool grows) and nothing is
// dropped. Buckets are kept per node name, across reconnects, so a reconnect resets nothing.

export interface BudgetOptions {
  eventsPerSecond: number;
  burst: number;
  now?: () => number;
  /** Forget nodes idle this long (their bucket is full again anyway). */
  idleMs?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class Budgets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(private readonly opts: BudgetOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Milliseconds to wait before n events of this node may be taken in (0: now). */
  take(node: string, n: number): number {
    const now = this.now();
    this.sweep(now);
    const rate = this.opts.eventsPerSecond;
    let b = this.buckets.get(node);
    if (!b) {
      b = { tokens: this.opts.burst, at: now };
      this.buckets.set(node, b);
    }
    b.tokens = Math.min(this.opts.burst, b.tokens + ((now - b.at) * rate) / 1000);
    b.at = now;
    b.tokens -= n;
    return b.tokens >= 0 ? 0 : Math.ceil((-b.tokens * 1000) / rate);
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    const idle = this.opts.idleMs ?? 10 * 60_000;
    if (now - this.lastSweep < idle) return;
    this.lastSweep = now;
    for (const [node, b] of this.buckets) {
      const full = b.tokens + ((now - b.at) * this.opts.eventsPerSecond) / 1000 >= this.opts.burst;
      if (full && now - b.at > idle) this.buckets.delete(node);
    }
  }
}
