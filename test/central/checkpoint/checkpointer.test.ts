import { statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Registry, type Counter, type Gauge, type Histogram } from 'prom-client';
import t from 'tap';
import { Checkpointer } from '../../../central/checkpoint/checkpointer.js';
import { tempDirFor } from '../../helpers/event-log-fixtures.js';
import { quietLogger, waitFor } from '../../helpers/pipeline.js';

/** A WAL database whose writer never checkpoints, with `rows` rows of 1 KiB committed. */
function walDatabase(t: { teardown: (fn: () => unknown) => void }, rows: number): { file: string; db: Database.Database } {
  const file = path.join(tempDirFor(t, 'checkpoint'), 'events.db');
  const db = new Database(file);
  t.teardown(() => db.close());
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE rows (body BLOB)');
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)');
  const body = Buffer.alloc(1024, 7);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(body);
  })();
  return { file, db };
}

const size = (file: string) => statSync(file).size;
const metric = async (reg: Registry, name: string) => (await (reg.getSingleMetric(name) as Counter | Gauge | Histogram).get()).values;

t.test('the thread copies the write-ahead log into the database file, with its own connection', async (t) => {
  const { file, db } = walDatabase(t, 2000);
  t.ok(size(file) < 64 * 1024, `the database file holds no rows yet (${size(file)} bytes)`);
  t.ok(size(`${file}-wal`) > 2 * 1024 * 1024, 'the write-ahead log holds them');
  const registry = new Registry();
  const cp = new Checkpointer({ file, logger: quietLogger, registry, everyMs: 20 });
  await cp.start();
  await waitFor('the rows checkpointed into the database file', () => size(file) > 2 * 1024 * 1024, 10_000, 20);
  // The thread reports a checkpoint after it has copied the pages: the report may trail the file.
  const timed = async () => ((await metric(registry, 'nodewarden_event_log_checkpoint_seconds'))
    .find((v) => (v as { metricName?: string }).metricName === 'nodewarden_event_log_checkpoint_seconds_count')?.value ?? 0) >= 1;
  t.ok(await waitFor('the checkpoint reported', timed, 10_000, 20).then(() => true, () => false), 'each checkpoint is timed');
  t.ok((await metric(registry, 'nodewarden_event_log_wal_frames'))[0]!.value > 0, 'the write-ahead log\'s pages at the last checkpoint');
  // The writer goes on while the thread runs: a new commit is never held up by a checkpoint.
  db.prepare('INSERT INTO rows (body) VALUES (?)').run(Buffer.alloc(10));
  t.equal((db.prepare('SELECT count(*) AS n FROM rows').get() as { n: number }).n, 2001);
  await cp.stop();
  t.equal(cp.thread, null, 'stopped');
  await cp.stop(); // idempotent
});

t.test('a thread that ends unexpectedly is counted and started again', async (t) => {
  const { file, db } = walDatabase(t, 10);
  const registry = new Registry();
  const cp = new Checkpointer({ file, logger: quietLogger, registry, everyMs: 20, restartMs: 50 });
  t.teardown(() => cp.stop());
  await cp.start();
  const first = cp.thread!;
  await first.terminate();
  await waitFor('a new thread', () => cp.thread !== null && cp.thread !== first, 5000, 20);
  t.equal((await metric(registry, 'nodewarden_event_log_checkpoint_failures_total'))[0]!.value, 1);
  // The new thread checkpoints what is committed after the restart.
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 2000; i++) insert.run(Buffer.alloc(1024, 1));
  })();
  await waitFor('checkpointed by the new thread', () => size(file) > 2 * 1024 * 1024, 10_000, 20);
  t.pass('the new thread checkpoints');
});

t.test('a file that cannot be opened fails the start, naming why', async (t) => {
  const cp = new Checkpointer({ file: path.join(tempDirFor(t, 'checkpoint-missing'), 'none.db'), logger: quietLogger, registry: new Registry() });
  const err = await cp.start().then(() => null, (e: unknown) => e as Error);
  t.ok(err, 'the start is refused');
  t.match(err?.message, /cannot open the event log .*none\.db for checkpoints: .*(does not exist|unable to open)/i, String(err?.message));
  t.equal(cp.thread, null);
});
