// The /proc poller: sees processes that live across a scan, and splits command lines within
// the agent's bounds.
import t from 'tap';

import { PollerSource, boundArgv, parseStat } from '../../../../collectors/process/sources/poller-source.js';
import { collector, runShell, tempDir } from './exec-fixtures.js';

t.test('sees a long-lived process started after start', async (t) => {
  const src = new PollerSource({ pollIntervalMs: 50 });
  const c = collector();
  t.teardown(() => src.stop());
  await src.start(c.onBatch, c.onNotice);
  const dir = tempDir();
  const marker = `poll-${Date.now()}`;
  const sh = runShell(`exec /bin/sh -c 'sleep 1; :' ${marker}`, { cwd: dir });
  const e = await c.waitForEvent((e) => e.pid === sh.pid);
  t.equal(e.source, 'poller');
  t.same(e.argv, ['/bin/sh', '-c', 'sleep 1; :', marker]);
  t.equal(e.ppid, process.pid);
  t.equal(e.cwd, dir);
  t.equal(e.exe, '/usr/bin/dash');
  t.type(e.startTime, 'bigint');
  t.type(e.cgroup, 'string');
  t.equal(e.argvMissing, false);
  t.match(src.limits, /misses processes that start and exit between two scans/);
  await sh.done;
});

t.test('does not report processes that were running before start', async (t) => {
  const before = runShell(`exec /bin/sh -c 'sleep 1; :' poll-before`);
  await new Promise((r) => setTimeout(r, 100));
  const src = new PollerSource({ pollIntervalMs: 50 });
  const c = collector();
  t.teardown(() => src.stop());
  await src.start(c.onBatch, c.onNotice);
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(c.events.some((e) => e.pid === before.pid));
  await before.done;
});

t.test('stop is idempotent and safe without start', async (t) => {
  const src = new PollerSource();
  await src.stop();
  await src.start(() => {}, () => {});
  await Promise.all([src.stop(), src.stop()]);
  t.pass();
});

t.test('boundArgv splits on NUL and keeps an unterminated last argument', async (t) => {
  t.same(boundArgv(Buffer.from('a\0b c\0\0')), { argv: ['a', 'b c', ''], truncated: false });
  t.same(boundArgv(Buffer.from('title without nul')), { argv: ['title without nul'], truncated: false });
  t.same(boundArgv(Buffer.alloc(0)), { argv: [], truncated: false });
});

t.test('boundArgv enforces 128 args, 4096 bytes each, 32 KiB in all, and replaces bad UTF-8', async (t) => {
  const many = boundArgv(Buffer.from(Array.from({ length: 300 }, (_v, i) => String(i)).join('\0') + '\0'));
  t.equal(many.argv.length, 128);
  t.equal(many.truncated, true);
  const long = boundArgv(Buffer.from('x'.repeat(5000) + '\0'));
  t.equal(long.argv[0]!.length, 4096);
  t.equal(long.truncated, true);
  const total = boundArgv(Buffer.from(Array.from({ length: 20 }, () => 'y'.repeat(4000)).join('\0')));
  t.ok(total.argv.reduce((n, a) => n + a.length, 0) <= 32 * 1024);
  t.equal(total.truncated, true);
  t.same(boundArgv(Buffer.from([0x61, 0xff, 0x62, 0])).argv, ['a\uFFFDb']);
});

t.test('parseStat reads state, comm with spaces and parentheses, ppid, flags and start time', async (t) => {
  const line = '123 (a) b (c)) S 45 123 123 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 1 2 3';
  t.same(parseStat(line), { state: 'S', comm: 'a) b (c)', ppid: 45, flags: 4194560, startTime: 98765n });
  t.equal(parseStat('garbage'), null);
});
