// The sink thread's shared reads: every event read from the log and decoded once however many
// sinks read it, events stored later found by the next read, gaps left by retention skipped
// (inside a block, at its end, across many blocks), and blocks dropped once every sink passed
// them or past the byte cap.
import t from 'tap';
import { BLOCK_ROWS, SharedReads, type RowReader } from '../../../../central/sinks/worker/shared-reads.js';
import { storeEvents, tempLog } from '../../../helpers/event-log-fixtures.js';

/** The log, counting the rows it hands out. */
function counting(log: RowReader): RowReader & { rows: number; queries: number } {
  const c = {
    rows: 0,
    queries: 0,
    read(after: number, limit: number) {
      const r = log.read(after, limit);
      c.rows += r.length;
      c.queries++;
      return r;
    },
  };
  return c;
}

const rowids = (rows: { rowid: number }[]) => rows.map((r) => r.rowid);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

t.test('sinks reading the same rows get one decoded event, read from the log once', async (t) => {
  const { log } = tempLog(t, 'shared');
  storeEvents(log, Array.from({ length: 1000 }, (_, i) => ({ title: `e${i + 1}` })));
  const source = counting(log);
  const reads = new SharedReads(source, 64 * 1024 * 1024);
  const a = reads.read(0, 500);
  const b = reads.read(0, 300);
  const c = reads.read(300, 500);
  t.same(rowids(a), range(1, 500));
  t.same(rowids(b), range(1, 300));
  t.same(rowids(c), range(301, 800));
  t.equal(a[0]!.event!.title, 'e1', 'decoded');
  t.equal(b[0], a[0], 'the same row object, decoded once, for both readers');
  // Whole blocks are read: rows 1-1000 (blocks of 256 up to 1024), each once.
  t.equal(source.rows, 1000, 'each row read from the log once');
  t.same(reads.stats(), { served: 1300, decoded: 1000, bytes: reads.stats().bytes });
});

t.test('events stored after a read are found by the next one; at the head a read is empty', async (t) => {
  const { log } = tempLog(t, 'shared');
  storeEvents(log, Array.from({ length: 10 }, () => ({})));
  const reads = new SharedReads(log, 64 * 1024 * 1024);
  t.same(rowids(reads.read(0, 100)), range(1, 10));
  t.same(reads.read(10, 100), [], 'nothing newer yet');
  storeEvents(log, Array.from({ length: BLOCK_ROWS + 20 }, () => ({})));
  t.same(rowids(reads.read(10, 1000)), range(11, BLOCK_ROWS + 30), 'the rest of the block and the next one');
  t.same(rowids(reads.read(5, 3)), [6, 7, 8], 'an earlier position still reads from the block');
});

t.test('gaps left by retention are skipped: inside a block, at its end, and across blocks', async (t) => {
  const { log } = tempLog(t, 'shared');
  storeEvents(log, Array.from({ length: 5 * BLOCK_ROWS }, () => ({})));
  // Rows 100-199 (inside block 0), 250-256 (block 0's tail) and 300-1000 (blocks 1 to 3) gone.
  const db = (log as unknown as { db: { prepare(sql: string): { run(...a: number[]): unknown } } }).db;
  db.prepare('DELETE FROM events WHERE rowid BETWEEN ? AND ?').run(100, 199);
  db.prepare('DELETE FROM events WHERE rowid BETWEEN ? AND ?').run(250, 256);
  db.prepare('DELETE FROM events WHERE rowid BETWEEN ? AND ?').run(300, 1000);
  const source = counting(log);
  const reads = new SharedReads(source, 64 * 1024 * 1024);
  const all = rowids(reads.read(0, 10_000));
  t.same(all, [...range(1, 99), ...range(200, 249), ...range(257, 299), ...range(1001, 5 * BLOCK_ROWS)]);
  t.ok(source.queries < 12, `a long gap costs no query per block (${source.queries} queries)`);
  t.same(rowids(reads.read(249, 2)), [257, 258], 'a reader at a block\'s tail gap goes on to the next row');
});

t.test('blocks every sink has passed are dropped; the rest stay within the cap', async (t) => {
  const { log } = tempLog(t, 'shared');
  storeEvents(log, Array.from({ length: 4 * BLOCK_ROWS }, () => ({ padding: 1000 })));
  let passed = 0;
  const source = counting(log);
  const reads = new SharedReads(source, 64 * 1024 * 1024, () => passed);
  reads.read(0, 4 * BLOCK_ROWS);
  const full = reads.stats().bytes;
  t.ok(full > 4 * BLOCK_ROWS * 1000, 'four blocks held');
  passed = 2 * BLOCK_ROWS;
  reads.read(4 * BLOCK_ROWS, 10);
  t.ok(Math.abs(reads.stats().bytes - full / 2) < full / 8, 'the two blocks every sink passed are gone');
  const queries = source.queries;
  reads.read(2 * BLOCK_ROWS, 10);
  t.equal(source.queries, queries, 'a block not yet passed is still held');

  const capped = new SharedReads(log, 2 * BLOCK_ROWS * 1100);
  capped.read(0, 4 * BLOCK_ROWS);
  t.ok(capped.stats().bytes <= 2 * BLOCK_ROWS * 1100, `within the cap (${capped.stats().bytes} bytes)`);
  t.same(rowids(capped.read(0, 5)), range(1, 5), 'a dropped block is read again when asked for');
});
