// The eBPF exec source against the real kernel: the program built by `npm run build`
// (scripts/build-bpf.mjs) loaded through the system's libbpf, real execs. What the program reads
// in the kernel is checked against what /proc says of the same process.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import t, { type Test } from 'tap';

import { BpfSource } from '../../../../collectors/process/sources/bpf-source.js';
import type { ExecEvent, FileChangeEvent } from '../../../../collectors/process/sources/exec-source.js';
import { bpfObjectPath, loadNative, type NativeAddon } from '../../../../collectors/process/sources/native.js';
import { collector, copyTrue, isRoot, removeRulesWithKey, runAsNobody, runModule, runShell, sleep, tempDir, uniqueKey } from './exec-fixtures.js';

const loaded = loadNative();
// Not reasons to skip: `npm ci` builds the addon and, as root in CI, `npm run build` the program.
if ('error' in loaded) throw new Error(`the native addon is not built (run npx node-gyp rebuild): ${loaded.error.message}`);
const addon: NativeAddon = loaded.addon;
let skipReason: string | false = false;
if (!isRoot) skipReason = 'needs root (CAP_BPF, CAP_PERFMON)';
else {
  try {
    statSync(bpfObjectPath);
  } catch {
    if (process.env.CI) throw new Error(`the eBPF program is not built (${bpfObjectPath}); npm run build compiles it with clang`);
    skipReason = 'the eBPF program is not built (no clang here)';
  }
}

async function startSource(t: Test, opts: { key?: string; maxQueue?: number } = {}) {
  const key = opts.key ?? uniqueKey();
  const src = new BpfSource({ ruleKey: key, maxQueue: opts.maxQueue });
  const c = collector();
  t.teardown(async () => {
    await src.stop();
    removeRulesWithKey(addon, key);
  });
  await src.start(c.onBatch, c.onNotice);
  return { src, c, key };
}

const byArg = (arg: string) => (e: ExecEvent) => e.argv.includes(arg);

t.test('probe says why the program cannot run: not built', async (t) => {
  const src = new BpfSource({}, { objectPath: '/nonexistent/exec.bpf.o' });
  t.match(await src.probe(), /eBPF exec program is not built \(\/nonexistent\/exec\.bpf\.o/);
});

t.test('probe says why the program cannot run: not an eBPF object', { skip: !isRoot ? 'needs root' : false }, async (t) => {
  const dir = tempDir();
  const bogus = path.join(dir, 'exec.bpf.o');
  writeFileSync(bogus, 'not an ELF file');
  const src = new BpfSource({}, { objectPath: bogus });
  t.match(await src.probe(), /cannot open the eBPF object .*exec\.bpf\.o/);
});

t.test('a ring buffer size the kernel cannot take is refused, saying what it must be', { skip: skipReason }, async (t) => {
  const src = new BpfSource({ bpfRingBytes: 3 * 65536 });
  t.match(await src.probe(), /ring buffer size must be a power of two and a multiple of the page size/);
  await src.stop();
});

t.test('a probed program is the one start uses; stop removes it even unstarted', { skip: skipReason }, async (t) => {
  const key = uniqueKey();
  t.teardown(() => removeRulesWithKey(addon, key));
  const probed = new BpfSource({ bpfRingBytes: 65536, ruleKey: key });
  t.equal(await probed.probe(), null);
  t.equal(await probed.probe(), null, 'a second probe keeps the same program');
  const c = collector();
  await probed.start(c.onBatch, c.onNotice);
  const marker = `probed-${Date.now()}`;
  await runShell(`/bin/true ${marker}`).done;
  await c.waitForEvent(byArg(marker));
  await probed.stop();
  const unstarted = new BpfSource({ ruleKey: key });
  t.equal(await unstarted.probe(), null);
  await unstarted.stop();
  await t.rejects(unstarted.start(c.onBatch, c.onNotice), /was stopped/);
});

/** The compiled eBPF source, for children that load it. */
const sourceModule = path.join(path.dirname(bpfObjectPath), '..', '..', 'dist', 'collectors', 'process', 'sources', 'bpf-source.js');

t.test('not root: the program is refused with a reason naming the privilege', { skip: !isRoot ? 'runs a child as nobody, which needs root' : skipReason }, async (t) => {
  const script = `import { BpfSource } from ${JSON.stringify(sourceModule)};
    console.log(JSON.stringify(await new BpfSource({}).probe()));`;
  const { code, out, err } = await runAsNobody(script);
  t.equal(code, 0, err);
  t.match(JSON.parse(out), /not permitted to load the eBPF exec program.*needs root/);
});

t.test('a process interrupted by signals every 0.1 ms loads the program (a profiler\'s SIGPROF made the verifier give up)', { skip: skipReason }, async (t) => {
  const script = `import { BpfSource } from ${JSON.stringify(sourceModule)};
    const s = new BpfSource({}); console.log(JSON.stringify(await s.probe())); await s.stop();`;
  const { code, out, err } = await runModule(script, ['--cpu-prof', `--cpu-prof-dir=${tempDir('nw-bpf-prof-')}`, '--cpu-prof-interval=100']);
  t.equal(code, 0, err);
  t.equal(JSON.parse(out), null, 'the probe loaded the program');
});

t.test('eBPF source on the real kernel', { skip: skipReason }, async (t) => {
  const dir = tempDir();
  const nwTrue = copyTrue(dir);

  t.test('captures 200 execs with full argv, pid, ppid, cwd and exe', async (t) => {
    const { c } = await startSource(t);
    const run = `r${Date.now()}`;
    const sh = runShell(`for i in $(seq 1 200); do /bin/sh -c 'echo $$ $0' uniq-${run}-$i; done`, { cwd: dir });
    const { stdout, code } = await sh.done;
    t.equal(code, 0);
    const pids = new Map<string, number>();
    for (const line of stdout.trim().split('\n')) {
      const [pid, arg] = line.split(' ');
      pids.set(arg!, Number(pid));
    }
    const ok = await c.waitUntil(() => c.events.filter((e) => e.argv[3]?.startsWith(`uniq-${run}-`)).length >= 200);
    t.ok(ok, 'all 200 execs arrived');
    const wrong = [];
    for (let i = 1; i <= 200; i++) {
      const arg = `uniq-${run}-${i}`;
      const e = c.events.find(byArg(arg));
      if (!e || e.pid !== pids.get(arg) || e.ppid !== sh.pid || e.cwd !== dir || e.exe !== '/usr/bin/dash' || e.comm !== 'sh'
        || e.argv.length !== 4 || e.argv[2] !== 'echo $$ $0' || !e.success || e.argvTruncated || e.argvMissing) wrong.push(e ?? arg);
    }
    t.same(wrong, [], 'each exec has its argv, pid, ppid, cwd, exe and comm');
    const one = c.events.find(byArg(`uniq-${run}-1`))!;
    t.equal(one.source, 'bpf');
    t.equal(one.uid, 0);
    t.type(one.timeUnixNano, 'bigint');
    t.ok(Math.abs(Number(one.timeUnixNano / 1_000_000n) - Date.now()) < 60_000, 'timestamp on the wall clock');
  });

  t.test('a one-millisecond process arrives complete: everything was read at the exec', async (t) => {
    const { c } = await startSource(t);
    const marker = `short-${Date.now()}`;
    const sh = runShell(`${nwTrue} ${marker}`, { cwd: dir });
    await sh.done;
    const e = await c.waitForEvent(byArg(marker));
    t.same(e.argv, [nwTrue, marker]);
    t.equal(e.exe, nwTrue);
    t.equal(e.comm, 'nw-true');
    t.equal(e.ppid, sh.pid);
    t.equal(e.cwd, dir);
    t.match(e.cgroup, /^0::\//m, 'the cgroup of a process long gone');
    t.type(e.startTime, 'bigint');
    t.type(e.exeCtimeSec, 'number');
    t.equal(e.nsInit, false);
    t.match(e.stdio, { stdin: '/dev/null', stdout: /^(pipe|socket):\[\d+\]$/ });
  });

  t.test('what the program read agrees with /proc for a live process', async (t) => {
    const { c } = await startSource(t);
    const marker = `live-${Date.now()}`;
    const child = spawn('/bin/sh', ['-c', 'exec /bin/sleep 3', marker], { cwd: dir, stdio: ['pipe', 'ignore', 'ignore'] });
    t.teardown(() => void child.kill());
    const e = await c.waitForEvent((x) => x.pid === child.pid && x.argv[0] === '/bin/sleep');
    const pid = child.pid!;
    t.equal(e.exe, readlinkSync(`/proc/${pid}/exe`), 'exe');
    t.equal(e.cwd, readlinkSync(`/proc/${pid}/cwd`), 'cwd');
    t.same(e.stdio, { stdin: readlinkSync(`/proc/${pid}/fd/0`), stdout: readlinkSync(`/proc/${pid}/fd/1`) }, 'stdio (a socket pair and /dev/null)');
    const procCgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    for (const line of e.cgroup!.trim().split('\n')) t.ok(procCgroup.includes(line), `cgroup line ${line} is /proc's`);
    t.ok(e.cgroup!.split('\n').some((l) => l.startsWith('0::')), 'the unified hierarchy is there');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    t.equal(String(e.startTime), stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19], 'start time in clock ticks');
    const st = statSync(`/proc/${pid}/exe`, { bigint: true });
    t.equal(e.exeCtimeSec, Number(st.ctimeNs / 1_000_000_000n), 'exe ctime, seconds');
    t.equal(e.exeCtimeNsec, Number(st.ctimeNs % 1_000_000_000n), 'and nanoseconds');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    t.equal(e.ppid, Number(/^PPid:\s+(\d+)/m.exec(status)![1]));
    t.equal(e.auid, Number(readFileSync(`/proc/${pid}/loginuid`, 'utf8')), 'login uid');
  });

  t.test('pid 1 of a new pid namespace, and its child', async (t) => {
    const { c } = await startSource(t);
    const marker = `ns-${Date.now()}`;
    const sh = runShell(`exec unshare --pid --fork /bin/sh -c 'sleep 0.5; true' ${marker}`);
    const init = await c.waitForEvent((e) => e.argv[0] === '/bin/sh' && e.argv.includes(marker));
    const inside = await c.waitForEvent((e) => e.argv[0] === 'sleep' && e.ppid === init.pid);
    const plain = await c.waitForEvent((e) => e.pid === sh.pid && e.argv[0] === 'unshare');
    t.equal(init.nsInit, true);
    t.equal(inside.nsInit, false);
    t.equal(plain.nsInit, false);
    await sh.done;
  });

  t.test('arguments exactly as passed, invalid UTF-8 replaced, bounds kept', async (t) => {
    const { c } = await startSource(t);
    const marker = `args-${Date.now()}`;
    const args = [marker, 'with space', 'dq"uote', "sq'uote", 'ünïcødé ✓', 'new\nline', '', '-', `a${'\u00ff'}`];
    const script = path.join(dir, 'args.sh');
    writeFileSync(script, `exec ${nwTrue} ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`);
    await runShell(`/bin/sh ${script}`).done;
    t.same((await c.waitForEvent(byArg(marker))).argv, [nwTrue, ...args]);
    await runShell(`${nwTrue} ${marker}-bad "$(printf 'a\\377\\376b')"`).done;
    t.equal((await c.waitForEvent(byArg(`${marker}-bad`))).argv[2], 'a\uFFFD\uFFFDb');
    const huge = 'h'.padEnd(10_000, 'h');
    const bound = path.join(dir, 'bound.sh');
    writeFileSync(bound, `exec ${nwTrue} ${marker}-huge ${huge}\n`);
    await runShell(`/bin/sh ${bound}; ${nwTrue} ${marker}-many $(seq 1 300); ${nwTrue} ${marker}-wide $(seq 1 9000)`).done;
    const one = await c.waitForEvent(byArg(`${marker}-huge`));
    t.equal(one.argv[2]!.length, 4096);
    t.equal(one.argvTruncated, true);
    const many = await c.waitForEvent(byArg(`${marker}-many`));
    t.equal(many.argv.length, 128);
    t.equal(many.argvTruncated, true);
    // 9,000 arguments are more than the 32 KiB the program copies.
    const wide = await c.waitForEvent(byArg(`${marker}-wide`));
    t.equal(wide.argvTruncated, true);
    t.ok(wide.argv.reduce((n, a) => n + Buffer.byteLength(a), 0) <= 32 * 1024);
  });

  t.test('fileless: a memfd and a deleted executable read as /proc shows them', async (t) => {
    const { c } = await startSource(t);
    const marker = `fileless-${Date.now()}`;
    // Python's os.execve takes a descriptor (fexecve): a program run straight from memory.
    await runShell(`python3 -c "import os; fd = os.memfd_create('nwmem'); os.write(fd, open('/bin/true', 'rb').read()); os.execve(fd, ['x', '${marker}'], {})"`).done;
    const mem = await c.waitForEvent(byArg(marker));
    t.equal(mem.exe, '/memfd:nwmem (deleted)');
    const gone = path.join(dir, 'gone');
    copyFileSync('/bin/true', gone);
    chmodSync(gone, 0o755);
    // Opened, unlinked, then run through its descriptor.
    await runShell(`exec 3<${gone}; rm ${gone}; /proc/self/fd/3 ${marker}-deleted`).done;
    const del = await c.waitForEvent(byArg(`${marker}-deleted`));
    t.equal(del.exe, `${gone} (deleted)`);
  });

  t.test('a path deeper than the program walks is never shortened into another path', async (t) => {
    const { c } = await startSource(t);
    // 70 folders deep: more components than the program reads.
    const deep = path.join(dir, ...Array.from({ length: 70 }, (_v, i) => `d${i}`));
    mkdirSync(deep, { recursive: true });
    const sleeper = path.join(deep, 'nw-sleep');
    copyFileSync('/bin/sleep', sleeper);
    chmodSync(sleeper, 0o755);
    const quick = copyTrue(deep, 'nw-deep-true');
    const alive = spawn(sleeper, ['1.5'], { stdio: 'ignore' });
    t.teardown(() => void alive.kill());
    const long = await c.waitForEvent((e) => e.pid === alive.pid);
    t.equal(long.exe, sleeper, 'while the process lives, the whole path from /proc');
    await runShell(`${quick} deep-${process.pid}`).done;
    const gone = await c.waitForEvent(byArg(`deep-${process.pid}`));
    t.ok(gone.exe === quick || gone.exe.startsWith('(cut)/'), `gone at once: whole, or marked as cut (${gone.exe.slice(0, 40)}…)`);
    t.ok(gone.exe.endsWith('/d69/nw-deep-true'));
  });

  t.test('a symlinked program names the file run, as audit does', async (t) => {
    const { c } = await startSource(t);
    const link = path.join(dir, 'link-to-true');
    await runShell(`ln -sf ${nwTrue} ${link} && ${link} sym-${process.pid}`).done;
    const e = await c.waitForEvent(byArg(`sym-${process.pid}`));
    t.equal(e.exe, nwTrue);
    t.equal(e.argv[0], link);
    t.equal(e.comm, 'link-to-true');
  });

  t.test('stats count what was received and delivered; stop is idempotent and delivers what was read', async (t) => {
    const { src, c } = await startSource(t);
    const marker = `stats-${Date.now()}`;
    await runShell(`for i in 1 2 3 4 5; do ${nwTrue} ${marker}; done`).done;
    await c.waitUntil(() => c.events.filter(byArg(marker)).length === 5);
    const s = src.stats();
    t.ok(s.received >= 5);
    t.equal(s.lostKernel, 0);
    t.ok((s.readerCpuSeconds ?? 0) > 0);
    await runShell(`${nwTrue} ${marker}-last`).done;
    await src.stop();
    await src.stop();
    t.ok(c.events.some(byArg(`${marker}-last`)), 'an exec just before stop is delivered');
    t.equal(src.stats().delivered, src.stats().received);
  });

  t.test('watches files through audit beside the program', async (t) => {
    const { src, key } = await startSource(t);
    const fw = src.fileWatch;
    t.ok(fw, 'audit runs beside the program for watch rules');
    const watchKeys = () => addon.auditListRules().filter((r) => r.key?.startsWith(`${key}-w:`));
    t.same(addon.auditListRules().filter((r) => r.key === key), [], 'and adds no exec rule');
    const file = path.join(tempDir('nw-watch-'), 'kubelet.conf');
    writeFileSync(file, 'x', { mode: 0o600 });
    const changes: FileChangeEvent[] = [];
    fw!.onChange((ch) => changes.push(ch));
    fw!.watch([{ hostPath: '/etc/kubelet.conf', path: file }]);
    t.equal(watchKeys().length, 1);
    await runShell(`chmod 644 ${file}`).done;
    let chmod: FileChangeEvent | undefined;
    for (const until = Date.now() + 5000; !chmod && Date.now() < until; await sleep(20)) chmod = changes.find((ch) => ch.comm === 'chmod');
    t.match(chmod, { hostPath: '/etc/kubelet.conf', success: true, exe: /chmod$/ });
    await src.stop();
    t.same(watchKeys(), [], 'stop removes the watch rules');
  });
});
