// The spool's promises: numbered, durable before it counts, read in order, deleted only on
// acknowledgement, recovered after a crash (torn tail cut), byte cap with counted drops.
import t from 'tap';
import { readdirSync, appendFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Spool, type SpoolDrop } from '../../daemon/spool.js';
import { tempDir } from '../helpers/pipeline.js';

const tmp = () => tempDir('spool');
const payloads = (n: number, tag = 'e') => Array.from({ length: n }, (_, i) => `${tag}${i}`);
const build = (s: string, seq: number) => Buffer.from(`${seq}:${s}`);

t.test('append numbers events from 1 without gaps and read returns them in order', async (t) => {
  const spool = await Spool.open({ dir: tmp() });
  t.same(await spool.append(payloads(3), build), [1, 2, 3]);
  t.same(await spool.append(payloads(2), build), [4, 5]);
  const recs = await spool.read(1, 100);
  t.same(recs.map((r) => r.payload.toString()), ['1:e0', '2:e1', '3:e2', '4:e0', '5:e1']);
  t.same((await spool.read(4, 100)).map((r) => r.seq), [4, 5]);
  t.equal(spool.pending, 5);
  await spool.close();
});

t.test('read honours max count and continues from where it stopped', async (t) => {
  const spool = await Spool.open({ dir: tmp(), segmentBytes: 64 * 1024 });
  await spool.append(payloads(1000), build);
  const seen: number[] = [];
  let next = 1;
  for (;;) {
    const recs = await spool.read(next, 97);
    if (recs.length === 0) break;
    seen.push(...recs.map((r) => r.seq));
    next = recs[recs.length - 1]!.seq + 1;
  }
  t.equal(seen.length, 1000);
  t.ok(seen.every((s, i) => s === i + 1), 'every sequence once, in order');
  await spool.close();
});

t.test('ack forgets acknowledged events, deletes whole segments, and survives reopen', async (t) => {
  const dir = tmp();
  const spool = await Spool.open({ dir, segmentBytes: 16 * 1024 });
  // A segment rolls between append groups, never inside one.
  for (let i = 0; i < 10; i++) await spool.append(payloads(500), build);
  const segsBefore = readdirSync(dir).filter((f) => f.startsWith('seg-')).length;
  t.ok(segsBefore > 2, 'several segments written');
  await spool.ack(4000);
  t.equal(spool.pending, 1000);
  t.ok(readdirSync(dir).filter((f) => f.startsWith('seg-')).length < segsBefore, 'acknowledged segments deleted');
  t.same((await spool.read(1, 1))[0]!.seq, 4001, 'reading from the start skips acknowledged events');
  await spool.close();
  const again = await Spool.open({ dir, segmentBytes: 16 * 1024 });
  t.equal(again.acked, 4000);
  t.equal(again.pending, 1000);
  t.same(await again.append(['x'], build), [5001], 'numbering continues after a restart');
  await again.close();
});

t.test('a torn tail from a crash mid-write is cut and numbering continues', async (t) => {
  const dir = tmp();
  const spool = await Spool.open({ dir });
  await spool.append(payloads(10), build);
  await spool.close();
  const seg = readdirSync(dir).find((f) => f.startsWith('seg-'))!;
  const size = statSync(path.join(dir, seg)).size;
  appendFileSync(path.join(dir, seg), Buffer.from([200, 0, 0, 0, 1, 2, 3])); // half a header
  const corrupt: string[] = [];
  const again = await Spool.open({ dir, onCorrupt: (d) => corrupt.push(d) });
  t.equal(statSync(path.join(dir, seg)).size, size, 'cut back to the last whole record');
  t.equal(corrupt.length, 1, 'the cut is reported');
  t.equal(again.lastSeq, 10);
  t.same(await again.append(['y'], build), [11]);
  t.equal((await again.read(1, 100)).length, 11);
  await again.close();
});

t.test('a record whose checksum does not match ends recovery of its segment there', async (t) => {
  const dir = tmp();
  const spool = await Spool.open({ dir });
  await spool.append(payloads(3), build);
  await spool.close();
  const file = path.join(dir, readdirSync(dir).find((f) => f.startsWith('seg-'))!);
  const { openSync, writeSync, closeSync } = await import('node:fs');
  const fd = openSync(file, 'r+');
  // Flip a byte in the third record's payload: records are 16 + len('n:eX') = 20 bytes.
  writeSync(fd, Buffer.from('Z'), 0, 1, 40 + 17);
  closeSync(fd);
  const again = await Spool.open({ dir });
  t.equal(again.lastSeq, 2, 'records up to the damaged one are kept');
  await again.close();
});

t.test('past the byte cap the oldest segment is dropped, counted and reported', async (t) => {
  const drops: SpoolDrop[] = [];
  const spool = await Spool.open({ dir: tmp(), segmentBytes: 64 * 1024, maxBytes: 256 * 1024, onDrop: (d) => drops.push(d) });
  const big = 'x'.repeat(1000);
  for (let i = 0; i < 10; i++) await spool.append(Array(100).fill(big), build);
  t.ok(drops.length > 0, 'drops reported');
  const lost = drops.reduce((n, d) => n + d.count, 0);
  t.equal(spool.counters.dropped, lost);
  t.equal(drops[0]!.firstSeq, 1, 'the oldest events go first');
  t.ok(spool.bytes <= 256 * 1024 + 64 * 1024 + 2000, 'disk use stays near the cap');
  const recs = await spool.read(1, 100000);
  t.equal(recs[0]!.seq, drops[drops.length - 1]!.lastSeq + 1, 'reading resumes right after the dropped range');
  t.equal(recs[recs.length - 1]!.seq, 1000, 'the newest events are kept');
  await spool.close();
});

t.test('close is idempotent and append after close is refused', async (t) => {
  const spool = await Spool.open({ dir: tmp() });
  await spool.close();
  await spool.close();
  await t.rejects(spool.append(['a'], build), { code: 'NW_ERR_STOPPED' });
});

t.test('an item that cannot be encoded is refused alone and leaves no gap', async (t) => {
  const rejected: unknown[] = [];
  const spool = await Spool.open({ dir: tmp(), onReject: (e) => rejected.push(e) });
  const seqs = await spool.append(['a', 'bad', 'b', 'huge'], (s, seq) => {
    if (s === 'bad') throw new Error('cannot encode');
    if (s === 'huge') return Buffer.alloc(5 * 1024 * 1024);
    return build(s, seq);
  });
  t.same(seqs, [1, 2]);
  t.equal(rejected.length, 2);
  t.same((await spool.read(1, 10)).map((r) => r.payload.toString()), ['1:a', '2:b']);
  t.same(await spool.append(['c'], build), [3], 'numbering continues without a gap');
  await spool.close();
});

t.test('an empty segment left by a crash is removed at open and the next append is kept', async (t) => {
  const dir = tmp();
  const spool = await Spool.open({ dir });
  await spool.append(['a', 'b'], build);
  await spool.close();
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path.join(dir, `seg-${String(3).padStart(20, '0')}.log`), ''); // rolled, then crashed
  const again = await Spool.open({ dir });
  t.same(await again.append(['c'], build), [3]);
  t.same((await again.read(1, 10)).map((r) => r.seq), [1, 2, 3], 'everything readable');
  await again.close();
  const third = await Spool.open({ dir });
  t.equal(third.lastSeq, 3, 'and durable');
  await third.close();
});
