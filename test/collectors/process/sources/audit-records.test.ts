// The audit record assembler (native/audit-assembler.cc) over record texts in the kernel's
// exact format: grouping by serial, decoding, split arguments and the fallbacks. It is the
// code the reader thread runs, called synchronously through assembleAuditRecords.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';

import { loadNative } from '../../../../collectors/process/sources/native.js';

const loaded = loadNative();
if ('error' in loaded) throw new Error(`the native addon is not built (run npx node-gyp rebuild): ${loaded.error.message}`);
const addon = loaded.addon;

const SYSCALL = 1300;
const PATH = 1302;
const CWD = 1307;
const EXECVE = 1309;
const EOE = 1320;
const PROCTITLE = 1327;
const NO_PROC = '/nonexistent-proc';

const hex = (s: string | Buffer) => Buffer.from(s).toString('hex').toUpperCase();
const head = (serial: number) => `audit(1700000000.123:${serial}): `;
const syscall = (serial: number, over: Record<string, string> = {}) => {
  const f: Record<string, string> = {
    arch: 'c000003e', syscall: '59', success: 'yes', exit: '0', a0: '55d', a1: '55e', a2: '55f', a3: '0', items: '2',
    ppid: '100', pid: String(1000 + serial), auid: '4294967295', uid: '0', gid: '0', euid: '0', suid: '0', fsuid: '0',
    egid: '0', sgid: '0', fsgid: '0', tty: '(none)', ses: '4294967295', comm: '"true"', exe: '"/usr/bin/true"',
    subj: 'unconfined', key: '"nw"', ...over,
  };
  return { type: SYSCALL, text: head(serial) + Object.entries(f).map(([k, v]) => `${k}=${v}`).join(' ') };
};
const rec = (type: number, serial: number, body: string) => ({ type, text: head(serial) + body });
const assemble = (records: { type: number; text: string }[], key = 'nw') => addon.assembleAuditRecords(records, key, NO_PROC);

t.test('one exec: SYSCALL, EXECVE, CWD, PATH, PROCTITLE and EOE make one event', async (t) => {
  const [e, ...rest] = assemble([
    syscall(42),
    rec(EXECVE, 42, `argc=3 a0="true" a1=${hex('hello world')} a2=""`),
    rec(CWD, 42, 'cwd="/tmp"'),
    rec(PATH, 42, 'item=0 name="/usr/bin/true" inode=1 dev=00:01 mode=0100755'),
    rec(PROCTITLE, 42, `proctitle=${hex('true\0hello world')}`),
    rec(EOE, 42, ''),
  ]);
  t.equal(rest.length, 0);
  t.match(e, {
    source: 'audit',
    timeUnixNano: 1700000000123000000n,
    serial: 42,
    pid: 1042,
    ppid: 100,
    uid: 0,
    auid: 4294967295,
    exe: '/usr/bin/true',
    comm: 'true',
    argv: ['true', 'hello world', ''],
    argvTruncated: false,
    argvMissing: false,
    cwd: '/tmp',
    success: true,
    cgroup: null,
    startTime: null,
    auditKey: 'nw',
  });
  t.equal(e!.stdio, undefined, 'no stdio when /proc had nothing');
});

t.test('interleaved serials are assembled apart', async (t) => {
  const events = assemble([
    syscall(1),
    syscall(2),
    rec(EXECVE, 2, 'argc=2 a0="two" a1="b"'),
    rec(EXECVE, 1, 'argc=2 a0="one" a1="a"'),
    rec(EOE, 1, ''),
    rec(CWD, 2, 'cwd="/two"'),
    rec(EOE, 2, ''),
  ]);
  t.same(events.map((e) => [e.serial, e.argv, e.cwd]), [
    [1, ['one', 'a'], ''],
    [2, ['two', 'b'], '/two'],
  ]);
});

t.test('a group whose EOE never comes is still emitted', async (t) => {
  const events = assemble([syscall(7), rec(EXECVE, 7, 'argc=1 a0="lonely"')]);
  t.same(events.map((e) => e.argv), [['lonely']]);
});

t.test('arguments split into aN[k] chunks, over several EXECVE records, are joined', async (t) => {
  const [e] = assemble([
    syscall(9),
    rec(EXECVE, 9, `argc=3 a0="x" a1_len=10 a1[0]=${hex('aaaaa')}`),
    rec(EXECVE, 9, `a1[1]="bbbbb" a2=${hex('c d')}`),
    rec(EOE, 9, ''),
  ]);
  t.same(e!.argv, ['x', 'aaaaabbbbb', 'c d']);
  t.equal(e!.argvTruncated, false);
});

t.test('a split argument past 4096 bytes is cut and flagged', async (t) => {
  const chunk = 'z'.repeat(2000);
  const [e] = assemble([
    syscall(10),
    rec(EXECVE, 10, `argc=2 a0="x" a1_len=6000 a1[0]="${chunk}" a1[1]="${chunk}" a1[2]="${chunk}"`),
    rec(EOE, 10, ''),
  ]);
  t.equal(e!.argv[1]!.length, 4096);
  t.equal(e!.argvTruncated, true);
});

t.test('fewer arguments than argc announced is flagged as truncated', async (t) => {
  const [e] = assemble([syscall(11), rec(EXECVE, 11, 'argc=3 a0="x"'), rec(EOE, 11, '')]);
  t.same(e!.argv, ['x']);
  t.equal(e!.argvTruncated, true);
});

t.test('without EXECVE, argv comes from PROCTITLE; without either it is missing', async (t) => {
  const [fromTitle, missing] = assemble([
    syscall(12),
    rec(PROCTITLE, 12, `proctitle=${hex('sh\0-c\0echo hi')}`),
    rec(EOE, 12, ''),
    syscall(13),
    rec(EOE, 13, ''),
  ]);
  t.same(fromTitle!.argv, ['sh', '-c', 'echo hi']);
  t.equal(fromTitle!.argvMissing, false);
  t.same(missing!.argv, []);
  t.equal(missing!.argvMissing, true);
});

t.test('invalid UTF-8 becomes U+FFFD; quotes, newlines and non-ASCII decode exactly', async (t) => {
  const [e] = assemble([
    syscall(14),
    rec(EXECVE, 14, `argc=4 a0=${hex(Buffer.from([0x61, 0xff, 0xfe]))} a1=${hex('q"uote')} a2=${hex('new\nline')} a3=${hex('ünï ✓')}`),
    rec(EOE, 14, ''),
  ]);
  t.same(e!.argv, ['a\uFFFD\uFFFD', 'q"uote', 'new\nline', 'ünï ✓']);
});

t.test('non-exec syscalls of other rules are ignored; execs under another key are kept', async (t) => {
  const events = assemble([
    syscall(20, { syscall: '257', key: '"someone-else"' }),
    rec(EOE, 20, ''),
    syscall(21, { key: '"someone-else"' }),
    rec(EXECVE, 21, 'argc=1 a0="kept"'),
    rec(EOE, 21, ''),
    syscall(22, { arch: '40000003', syscall: '11', key: '(null)' }),
    rec(EXECVE, 22, 'argc=1 a0="i386"'),
    rec(EOE, 22, ''),
  ]);
  t.same(events.map((e) => [e.serial, e.argv[0], e.auditKey ?? null]), [
    [21, 'kept', 'someone-else'],
    [22, 'i386', null],
  ]);
});

t.test('our key among several joined by \\x01 is recognised', async (t) => {
  const events = assemble([syscall(30, { syscall: '2', key: hex('other\x01nw') }), rec(EOE, 30, '')]);
  t.equal(events.length, 1);
  t.equal(events[0]!.auditKey, 'other\x01nw');
});

t.test('a failed exec is reported with success false; unset ids read 4294967295', async (t) => {
  const [e] = assemble([
    syscall(40, { success: 'no', exit: '-2', uid: '-1', auid: '4294967295' }),
    rec(EXECVE, 40, 'argc=1 a0="/nope"'),
    rec(EOE, 40, ''),
  ]);
  t.equal(e!.success, false);
  t.equal(e!.uid, 4294967295);
  t.equal(e!.auid, 4294967295);
});

t.test('garbage records are ignored without harm', async (t) => {
  const events = assemble([
    { type: SYSCALL, text: 'not an audit record' },
    { type: EXECVE, text: 'audit(1.2:3' },
    { type: SYSCALL, text: 'audit(1700000000.123:50): arch= syscall= pid=x key="nw' },
    rec(EOE, 50, ''),
  ]);
  t.equal(events.length, 1, 'the record with our (cut) key still counts as ours');
  t.same(events[0]!.argv, []);
});

/**
 * A /proc of our own making for the reads that follow a SYSCALL record: per pid a cgroup, a stat
 * of a running process, stdio links, exe, the pid namespace link and NSpid in status.
 */
function fakeProc(procs: { pid: number; ppid: number; ns: string; nspid: string }[]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'nw-fake-proc-'));
  for (const p of procs) {
    const dir = path.join(root, String(p.pid));
    mkdirSync(path.join(dir, 'fd'), { recursive: true });
    mkdirSync(path.join(dir, 'ns'));
    writeFileSync(path.join(dir, 'cgroup'), '0::/kubepods/pod1/c1\n');
    const fields = ['R', String(p.ppid), ...Array<string>(17).fill('0'), '12345', '0'];
    writeFileSync(path.join(dir, 'stat'), `${p.pid} (true) ${fields.join(' ')}\n`);
    writeFileSync(path.join(dir, 'status'), `Name:\ttrue\nUid:\t0\t0\t0\t0\nNSpid:\t${p.nspid}\n`);
    symlinkSync('/dev/null', path.join(dir, 'fd', '0'));
    symlinkSync('/dev/null', path.join(dir, 'fd', '1'));
    symlinkSync(process.execPath, path.join(dir, 'exe'));
    symlinkSync(p.ns, path.join(dir, 'ns', 'pid'));
  }
  return root;
}

t.test('pid 1 of its pid namespace: a child of the same parent in a new namespace is told apart from its siblings', async (t) => {
  // Parent 50 in namespace A; children 1060 and 1062 share it, 1061 is the first process of B.
  // The parent's link is remembered after the first child: the one in B must still be found out.
  const root = fakeProc([
    { pid: 50, ppid: 1, ns: 'pid:[4026531836]', nspid: '50' },
    { pid: 1060, ppid: 50, ns: 'pid:[4026531836]', nspid: '1060' },
    { pid: 1061, ppid: 50, ns: 'pid:[4026532999]', nspid: '1061\t1' },
    { pid: 1062, ppid: 50, ns: 'pid:[4026531836]', nspid: '1062' },
  ]);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const one = (serial: number) => [syscall(serial, { ppid: '50' }), rec(EOE, serial, '')];
  const events = addon.assembleAuditRecords([...one(60), ...one(61), ...one(62)], 'nw', root);
  t.same(events.map((e) => [e.pid, e.nsInit, e.startTime]), [
    [1060, false, 12345n],
    [1061, true, 12345n],
    [1062, false, 12345n],
  ]);
});

t.test('a process gone before /proc is read leaves its context unset; the next exec is read in full', async (t) => {
  const root = fakeProc([
    { pid: 50, ppid: 1, ns: 'pid:[4026531836]', nspid: '50' },
    { pid: 1071, ppid: 50, ns: 'pid:[4026531836]', nspid: '1071' },
  ]);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const one = (serial: number) => [syscall(serial, { ppid: '50' }), rec(EOE, serial, '')];
  const [gone, there] = addon.assembleAuditRecords([...one(70), ...one(71)], 'nw', root);
  t.same([gone!.pid, gone!.cgroup, gone!.startTime, gone!.nsInit, gone!.exeCtimeSec, gone!.stdio], [1070, null, null, null, null, undefined]);
  t.same([there!.pid, there!.cgroup, there!.startTime, there!.nsInit, there!.stdio], [1071, '0::/kubepods/pod1/c1\n', 12345n, false, { stdin: '/dev/null', stdout: '/dev/null' }]);
  t.type(there!.exeCtimeSec, 'number');
});

t.test('a watch rule\'s records (key "<key>-w:<path>") are a file change, not an exec', async (t) => {
  const records = [
    syscall(77, { syscall: '268', key: hex('nw-w:/etc/kubernetes/kubelet.conf'), comm: '"chmod"', exe: '"/usr/bin/chmod"', auid: '1000', uid: '0', pid: '4242', ppid: '4000' }),
    rec(CWD, 77, 'cwd="/root"'),
    rec(PATH, 77, 'item=0 name="/etc/kubernetes/kubelet.conf" inode=12 dev=fd:01 mode=0100600 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL'),
    rec(PROCTITLE, 77, `proctitle=${hex('chmod\u0000644\u0000/etc/kubernetes/kubelet.conf')}`),
    rec(EOE, 77, ''),
    syscall(78),
    rec(EOE, 78, ''),
  ];
  const execs = assemble(records);
  t.equal(execs.length, 1, 'the exec alone is an exec');
  const [c, ...rest] = addon.assembleAuditFileChanges(records, 'nw', NO_PROC);
  t.equal(rest.length, 0);
  t.match(c, {
    syscall: 268, arch: 0xc000003e, success: true, pid: 4242, ppid: 4000, uid: 0, auid: 1000, comm: 'chmod', exe: '/usr/bin/chmod', cwd: '/root',
    key: 'nw-w:/etc/kubernetes/kubelet.conf', paths: ['/etc/kubernetes/kubelet.conf'],
  });
  t.equal(typeof c!.timeUnixNano, 'bigint');
  // Another agent's watch key, or an exec of a watched file, is not ours to report as a change.
  const others = addon.assembleAuditFileChanges([
    syscall(79, { syscall: '90', key: '"other-w:/etc/x"' }), rec(EOE, 79, ''),
    syscall(80, { syscall: '59', key: hex('nw-w:/usr/bin/kubelet') }), rec(EOE, 80, ''),
  ], 'nw', NO_PROC);
  t.same(others, []);
});

t.test('a file change whose EOE never comes is still reported, with at most 8 paths', async (t) => {
  const paths = Array.from({ length: 12 }, (_, i) => rec(PATH, 90, `item=${i} name="/etc/a${i}" nametype=NORMAL`));
  const [c] = addon.assembleAuditFileChanges([syscall(90, { syscall: '82', key: '"nw-w:/etc/a0"', success: 'no', exit: '-13' }), ...paths], 'nw', NO_PROC);
  t.match(c, { syscall: 82, success: false, exit: -13 });
  t.equal(c!.paths.length, 8);
});
