// What the audit and connector sources do alike with a batch from the native reader: losses the
// reader counted become notices, a reader that stopped is reported, and the execs go to the
// consumer without letting a consumer's exception unwind into the native callback.

import type { NativeBatchInfo, NativeExecEvent } from './native.js';
import type { ExecEvent, SourceNotice } from './exec-source.js';
import { describeError } from '../../../core/errors.js';

export interface BatchTarget {
  onBatch: (batch: ExecEvent[]) => void;
  notice: (n: SourceNotice) => void;
}

/** Hands a native batch on; returns how many execs were delivered. */
export function deliverNativeBatch(
  socket: string,
  maxQueue: number,
  events: NativeExecEvent[],
  info: NativeBatchInfo,
  to: BatchTarget,
): number {
  if (info.lostSocket > 0) {
    to.notice({
      kind: 'loss',
      count: info.lostSocket,
      where: 'socket',
      detail: `${socket} overflowed ${info.lostSocket} time(s) (ENOBUFS): at least that many messages were dropped`,
    });
  }
  if (info.lostAgent > 0) {
    to.notice({
      kind: 'loss',
      count: info.lostAgent,
      where: 'agent',
      detail: `${info.lostAgent} exec(s) dropped: the agent's queue of ${maxQueue} was full`,
    });
  }
  if (info.error) to.notice({ kind: 'degraded', detail: `the reader of ${socket} stopped: ${info.error}` });
  if (events.length === 0) return 0;
  try {
    to.onBatch(events);
  } catch (err) {
    to.notice({ kind: 'degraded', detail: `the exec consumer threw: ${describeError(err)}` });
  }
  return events.length;
}

/** A notice handler that cannot break capture: notices are advisory. */
export function guardNotice(onNotice: (n: SourceNotice) => void): (n: SourceNotice) => void {
  return (n) => {
    try {
      onNotice(n);
    } catch {
      // a throwing handler is the consumer's problem, not capture's
    }
  };
}
