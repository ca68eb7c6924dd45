// Sinks log through pino in their thread as they did on central's loop (with their `sink`
// binding); each line is handed to central, which logs it again through its own logger, so its
// destination, level and bindings apply and the thread needs no file descriptor of its own.
// Sinks log nothing per event, so this is a handful of lines, not a stream.

import { pino, type Logger } from 'pino';

/** Longest line relayed whole; a longer one (a huge error text) is cut, and says so. */
const MAX_LINE = 16 * 1024;

/** The thread's logger: lines without time, pid or host (central's logger adds its own). */
export function threadLogger(level: string, send: (line: string) => void): Logger {
  return pino({ level, base: null, timestamp: false }, { write: (line: string) => send(line) });
}

/** Log a line from the thread through central's logger at the level it was written. */
export function relayLine(logger: Logger, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line.length > MAX_LINE ? '' : line) as Record<string, unknown>;
  } catch {
    logger.warn({ line: line.slice(0, 512), length: line.length }, 'The sink thread wrote a log line that is too long or not JSON; its start follows.');
    return;
  }
  const { level, msg, ...fields } = record;
  const label = typeof level === 'number' ? logger.levels.labels[level] : undefined;
  const log = label && typeof (logger as unknown as Record<string, unknown>)[label] === 'function' ? label : 'info';
  (logger[log as 'info'])(fields, typeof msg === 'string' ? msg : '');
}
