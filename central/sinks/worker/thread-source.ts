// The SinkSource sinks see in the sink thread: reads from the thread's own read-only connection
// (events through the shared, decoded reads), writes through central. A cursor move or a dead
// letter is posted to central, which writes it inside its next group commit; the promise
// resolves when that commit is durable, so a sink moves on exactly when it did when it wrote
// the log itself: after its delivery and its cursor are both on disk.

import type { DeadLetterRow, EventLog, SinkWrite } from '../../event-log.js';
import type { SinkSource, SourceRow } from '../sink.js';
import type { FromThread } from './protocol.js';
import type { SharedReads } from './shared-reads.js';

type Reader = Pick<EventLog, 'getCursor' | 'head' | 'storedAt'>;

export class ThreadSource implements SinkSource {
  private nextId = 1;
  /** Writes posted and not yet answered: at most one per sink (each waits for its own). */
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();

  constructor(private readonly reader: Reader, private readonly reads: SharedReads, private readonly post: (m: FromThread) => void) {}

  read(afterRowid: number, limit: number): SourceRow[] {
    return this.reads.read(afterRowid, limit);
  }

  getCursor(name: string): { rowid: number; position: number; known: boolean } {
    return this.reader.getCursor(name);
  }

  setCursor(name: string, rowid: number, position: number): Promise<void> {
    return this.write([{ kind: 'cursor', name, rowid, position }]);
  }

  head(): { rowid: number; storedAt: number } {
    return this.reader.head();
  }

  storedAt(rowid: number): number | undefined {
    return this.reader.storedAt(rowid);
  }

  deadLetter(sink: string, rows: DeadLetterRow[]): Promise<void> {
    return this.write([{ kind: 'dead-letters', sink, rows }]);
  }

  /** Central's answer to write `id`. */
  written(id: number, error?: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (error === undefined) p.resolve();
    else p.reject(new Error(`central could not record the sink's progress: ${error}`));
  }

  private write(writes: SinkWrite[]): Promise<void> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ t: 'write', id, writes });
    });
  }
}
