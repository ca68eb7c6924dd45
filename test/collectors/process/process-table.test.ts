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
