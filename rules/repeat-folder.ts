// Repeated identical detections are counted, not re-sent one by one: the first occurrence of a
// key goes out at once; repeats within the window are counted and go out as one finding with
// `count` when the window closes. Bounded: past maxKeys the oldest window is closed early.

import type { Finding } from '../core/finding.js';

interface Window {
  first: Finding;
  repeats: number;
  closesAt: number;
}

export class RepeatFolder {
  private readonly windows = new Map<string, Window>();
  private timer: NodeJS.Timeout | null = null;
  /** Detections folded into a later summary instead of being sent on their own. */
  folded = 0;

  constructor(
    private readonly windowMs: number,
    private readonly emit: (findings: Finding[]) => void,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.closeDue(), Math.max(50, Math.min(this.windowMs / 4, 5_000)));
    this.timer.unref();
  }

  /** Returns the findings to send now (the first of a key), remembering repeats. */
  offer(key: string, f: Finding): Finding[] {
    const w = this.windows.get(key);
    if (w) {
      w.repeats++;
      this.folded++;
      return [];
    }
    const out: Finding[] = [f];
    if (this.windows.size >= this.maxKeys) {
      const [oldKey, old] = this.windows.entries().next().value as [string, Window];
      this.windows.delete(oldKey);
      const s = summary(old, this.windowMs);
      if (s) out.push(s);
    }
    this.windows.set(key, { first: f, repeats: 0, closesAt: this.now() + this.windowMs });
    return out;
  }

  /** Close every window whose time is up; summaries go to emit(). */
  closeDue(all = false): void {
    const now = this.now();
    const out: Finding[] = [];
    for (const [key, w] of this.windows) {
      if (!all && w.closesAt > now) continue;
      this.windows.delete(key);
      const s = summary(w, this.windowMs);
      if (s) out.push(s);
    }
    if (out.length > 0) this.emit(out);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closeDue(true);
  }
}

function summary(w: Window, windowMs: number): Finding | null {
  if (w.repeats === 0) return null;
  return {
    ...w.first,
    count: w.repeats,
    timeUnixNano: undefined,
    message: `${w.first.message} It happened ${w.repeats} more time${w.repeats === 1 ? '' : 's'} within ${Math.round(windowMs / 1000)} s after the first.`,
    attributes: { ...w.first.attributes, repeatOf: w.first.fingerprint },
  };
}
