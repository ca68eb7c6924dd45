// The checkpoint thread's entry point (started by checkpointer.ts): its own connection to the
// event log, which copies the write-ahead log's committed pages into the database file every
// interval (a PASSIVE checkpoint: it never waits for, nor holds up, central's writer or a reader).

import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { CheckpointInit, FromCheckpoint, ToCheckpoint } from './checkpointer.js';

const port = parentPort;
if (!port) throw new Error('central/checkpoint/thread.js runs only as central\'s checkpoint thread');
const init = workerData as CheckpointInit;
const post = (m: FromCheckpoint) => port.postMessage(m);

let db: Database.Database;
try {
  db = new Database(init.file, { fileMustExist: true });
  // The checkpoint lock is this connection's alone (central's writer no longer checkpoints unless
  // the write-ahead log outgrows its safety limit): a busy answer just means "next time".
  db.pragma('busy_timeout = 0');
} catch (err) {
  // An error object loses its message crossing threads: say it in words, then end.
  post({ t: 'failed', message: err instanceof Error ? err.message : String(err) });
  port.close();
  process.exit(1);
}

function checkpoint(): void {
  const started = performance.now();
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
    post({ t: 'done', ms: performance.now() - started, frames: row?.log ?? 0, copied: row?.checkpointed ?? 0, busy: row?.busy === 1 });
  } catch (err) {
    post({ t: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
}

const timer = setInterval(checkpoint, init.everyMs);
port.on('message', (m: ToCheckpoint) => {
  if (m.t !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
post({ t: 'ready' });
