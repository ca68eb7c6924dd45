// Per-rule rate limits: a token bucket per rule id, so one noisy rule (a crash-looping pod whose
// entrypoint is a shell script) cannot flood the spool and the pipeline. What is held back is
// counted (nodewarden_rule_suppressed_total{reason="rate-limit"}) and summarised once the rule
// is quiet again, never silently lost.

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; held: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** True when the rule may send one more finding now; false when it is over its rate. */
  take(rule: string, perMinute: number): boolean {
    const now = this.now();
    let b = this.buckets.get(rule);
    if (!b) {
      b = { tokens: perMinute, at: now, held: 0 };
      this.buckets.set(rule, b);
    }
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) * perMinute) / 60_000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.held++;
    return false;
  }

  /** Rules that held findings back and have tokens again: how many each held (and reset it). */
  drainHeld(perMinute: (rule: string) => number): { rule: string; held: number }[] {
    const now = this.now();
    const out: { rule: string; held: number }[] = [];
    for (const [rule, b] of this.buckets) {
      if (b.held === 0) continue;
      const tokens = Math.min(perMinute(rule), b.tokens + ((now - b.at) * perMinute(rule)) / 60_000);
      if (tokens >= 1) {
        out.push({ rule, held: b.held });
        b.held = 0;
      }
    }
    return out;
  }
}
