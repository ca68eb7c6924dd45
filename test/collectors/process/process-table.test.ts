import t from 'tap';
import { ProcessTable, type ProcessRecord } from '../../../collectors/process/process-table.js';

const rec = (pid: number, startTime: bigint | null, exe = '/bin/sh', containerId: string | null = null): ProcessRecord => ({
  pid, ppid: 1, startTime, exe, comm: exe.split('/').pop()!, argv: [exe], uid: 0, euid: 0, containerId, cgroupPath: '/',
});

t.test('a reused pid does not inherit the identity of the process that had it before', async (t) => {
  const table = new ProcessTable();
  table.put(rec(100, 5000n, '/usr/bin/containerd-shim', 'c1'));
  t.equal(table.parentOf(100, 6000n)?.containerId, 'c1', 'a parent started before its child is the parent');
  table.put(rec(100, 9000n, '/bin/evil', 'c2'));
  t.equal(table.parentOf(100, 6000n), undefined, 'a process that started after the child cannot be its parent');
  t.equal(table.get(100, 5000n), undefined, 'the old identity is gone');
  t.equal(table.get(100, 9000n)?.exe, '/bin/evil');
});

t.test('the table is bounded and forgets the least recently used first', async (t) => {
  const table = new ProcessTable(3);
  table.put(rec(1, 1n));
  table.put(rec(2, 2n));
  table.put(rec(3, 3n));
  table.parentOf(1, null); // touch 1
  table.put(rec(4, 4n));
  t.equal(table.size, 3);
  t.ok(table.get(1), 'recently used survives');
  t.notOk(table.get(2), 'least recently used evicted');
});

t.test('a parent in use survives any number of short-lived children past the bound', async (t) => {
  const table = new ProcessTable(1024);
  table.put(rec(1, 1n, '/tmp/spawner', 'c1'));
  let orphans = 0;
  let largest = 0;
  for (let pid = 2; pid < 100_000; pid++) {
    if (!table.parentOf(1, BigInt(pid))) orphans++;
    table.put(rec(pid, BigInt(pid), '/bin/true', 'c1'));
    largest = Math.max(largest, table.size);
  }
  t.equal(orphans, 0, 'every child found its parent');
  t.equal(largest, 1024, 'never past the bound');
  t.ok(table.get(99_999), 'the newest child is kept');
  t.notOk(table.get(50_000), 'an old child is gone');
});

t.test('a replaced or deleted record is never evicted in place of a live one, nor brought back', async (t) => {
  const table = new ProcessTable(2);
  table.put(rec(1, 1n));
  table.put(rec(1, 2n, '/bin/new')); // replaces pid 1
  table.put(rec(2, 3n));
  table.delete(2);
  table.put(rec(3, 4n));
  table.put(rec(4, 5n));
  t.equal(table.size, 2);
  t.notOk(table.get(1), 'the oldest live record went first');
  t.notOk(table.get(2), 'a deleted record stays deleted');
  t.ok(table.get(3));
  t.ok(table.get(4));
});
