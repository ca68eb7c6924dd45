// The one send chain every network sink goes through, written once:
//
//   batch ─▶ timeout (AbortSignal) ─▶ transport.send ─▶ outcome
//              ▲                                          │ retry: backoff × 2, "equal jitter",
//              └──────────── wait ◀───────────────────────┘        at least the receiver's Retry-After
//
// A transport answers ok | retry(afterMs?) | permanent, for the batch or per event; a transport
// that throws is a bug or an unexpected network failure and counts as retry. Waiting ends early
// when the sink stops (the batch stays behind the cursor for the next start).

import { describeError } from '../../../core/errors.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

/** One attempt, bounded by `timeoutMs`; never throws. */
export async function sendOnce(transport: Transport, batch: SinkEvent[], timeoutMs: number, stop?: AbortSignal): Promise<SendResult> {
  if (stop?.aborted) return { kind: 'retry', reason: 'the sink is stopping' };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onStop = () => ac.abort(new Error('the sink is stopping'));
  stop?.addEventListener('abort', onStop);
  // A transport that ignores its signal still cannot hold the chain past the timeout.
  const aborted = new Promise<never>((_resolve, reject) => ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }));
  aborted.catch(() => undefined);
  try {
    const result = await Promise.race([transport.send(batch, ac.signal), aborted]);
    // A transport that noticed the abort and said why (e.g. "not acknowledged yet") is believed.
    if (ac.signal.aborted && result.kind !== 'retry') return { kind: 'retry', reason: describeError(ac.signal.reason) };
    return result;
  } catch (err) {
    return { kind: 'retry', reason: ac.signal.aborted ? describeError(ac.signal.reason) : describeError(err) };
  } finally {
    clearTimeout(timer);
    stop?.removeEventListener('abort', onStop);
  }
}

/** The delay before retry number `attempt` (1-based): exponential, capped, equal jitter, ≥ afterMs. */
export function backoff(policy: RetryPolicy, attempt: number, afterMs?: number): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt - 1, 20));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  // A receiver's Retry-After is honoured even past maxMs (it knows when it will take more), up to
  // an hour: past that it is more likely a broken header than a plan.
  return Math.round(Math.max(jittered, Math.min(afterMs ?? 0, 3_600_000)));
}

/** Sleep that a stop ends early; resolves false when stopped. */
export function pause(ms: number, stop: AbortSignal): Promise<boolean> {
  if (stop.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop.removeEventListener('abort', onStop);
      resolve(true);
    }, ms);
    const onStop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    stop.addEventListener('abort', onStop, { once: true });
  });
}

/** Per-event outcomes of a result, whatever its shape. */
export function outcomes(result: SendResult, n: number): Outcome[] {
  if (result.kind !== 'items') return Array.from({ length: n }, () => result);
  if (result.items.length !== n) {
    // A receiver answering for fewer or more events than it was sent cannot be trusted per event.
    return Array.from({ length: n }, () => ({ kind: 'retry' as const, reason: `the receiver answered for ${result.items.length} of ${n} events` }));
  }
  return result.items;
}
