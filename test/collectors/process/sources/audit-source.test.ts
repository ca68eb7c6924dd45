// The audit exec source against the real kernel: real execs, real rules. Rules are
// machine-wide, so every test uses a key of its own and removes its rules in teardown.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';

import { isNwError } from '../../../../core/errors.js';
import { AuditSource, planAuditStart } from '../../../../collectors/process/sources/audit-source.js';
import type { ExecEvent, FileChangeEvent } from '../../../../collectors/process/sources/exec-source.js';
import { loadNative, type AuditStatus, type NativeAddon } from '../../../../collectors/process/sources/native.js';
import {
  collector,
  copyTrue,
  isRoot,
  removeRulesWithKey,
  rulesWithKey,
  runShell,
  sleep,
  tempDir,
  uniqueKey,
} from './exec-fixtures.js';

const base: AuditStatus = {
  enabled: 1,
  failure: 1,
  pid: 0,
  rateLimit: 0,
  backlogLimit: 64,
  lost: 0,
  backlog: 0,
  featureBitmap: 127,
  backlogWaitTime: 15000,
};

t.test('planAuditStart refuses a locked audit configuration', async (t) => {
  const plan = planAuditStart({ ...base, enabled: 2 }, 'multicast');
  t.equal(plan.ok, false);
  t.match(!plan.ok && plan.reason, /locked \(enabled 2\)/);
});

t.test('planAuditStart switches auditing on only when it is off', async (t) => {
  t.same(planAuditStart({ ...base, enabled: 0 }, 'multicast'), { ok: true, enable: true });
  t.same(planAuditStart({ ...base, enabled: 1 }, 'multicast'), { ok: true, enable: false });
});

t.test('planAuditStart will not displace a registered audit daemon in unicast mode', async (t) => {
  const plan = planAuditStart({ ...base, pid: 4242 }, 'unicast');
  t.equal(plan.ok, false);
  t.match(!plan.ok && plan.reason, /pid 4242/);
  t.same(planAuditStart({ ...base, pid: 4242 }, 'multicast'), { ok: true, enable: false });
});

// Everything below needs the kernel's audit and root.
let addon: NativeAddon | undefined;
let skipReason: string | false = false;
if (!isRoot) skipReason = 'needs root (CAP_AUDIT_CONTROL, CAP_AUDIT_READ)';
else {
  const loaded = loadNative();
  // Not a reason to skip: `npm ci` builds the addon, so its absence is a failure.
  if ('error' in loaded) throw new Error(`the native addon is not built (run npx node-gyp rebuild): ${loaded.error.message}`);
  else {
    addon = loaded.addon;
    try {
      addon.auditStatus();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EPROTONOSUPPORT' || code === 'ECONNREFUSED') skipReason = `kernel audit unavailable here: ${(err as Error).message}`;
      else throw err;
    }
  }
}
const initialEnabled = addon && !skipReason ? addon.auditStatus().enabled : undefined;

/** A started source with its own key; teardown stops it and removes its rules. */
async function startSource(t: Test, opts: { key?: string; unicast?: boolean; maxQueue?: number } = {}) {
  const key = opts.key ?? uniqueKey();
  const src = new AuditSource({ ruleKey: key, auditMode: opts.unicast ? 'unicast' : 'multicast', maxQueue: opts.maxQueue });
  const c = collector();
  t.teardown(async () => {
    await src.stop();
    removeRulesWithKey(addon!, key);
  });
  await src.start(c.onBatch, c.onNotice);
  return { src, c, key };
}

const byArg = (arg: string) => (e: ExecEvent) => e.argv.includes(arg);

t.test('audit source on the real kernel', { skip: skipReason }, async (t) => {
  const dir = tempDir();
  const nwTrue = copyTrue(dir);

  t.teardown(() => {
    // Leave auditing as this file found it, once no rule of anyone remains.
    const a = addon!;
    if (initialEnabled === 0 && a.auditStatus().enabled === 1 && a.auditListRules().length === 0) a.auditSetEnabled(0);
  });

  t.test('captures 200 execs with full argv, pid, ppid, cwd and exe', async (t) => {
    const { c } = await startSource(t);
    const run = `r${Date.now()}`;
    // Each child prints its own pid, so events can be matched to processes exactly.
    const sh = runShell(`for i in $(seq 1 200); do /bin/sh -c 'echo $$ $0' uniq-${run}-$i; done`, { cwd: dir });
    const { stdout, code } = await sh.done;
    t.equal(code, 0);
    const pids = new Map<string, number>();
    for (const line of stdout.trim().split('\n')) {
      const [pid, arg] = line.split(' ');
      pids.set(arg!, Number(pid));
    }
    t.equal(pids.size, 200);
    const ok = await c.waitUntil(() => c.events.filter((e) => e.argv[3]?.startsWith(`uniq-${run}-`)).length >= 200);
    t.ok(ok, 'all 200 execs arrived');
    let exact = 0;
    for (let i = 1; i <= 200; i++) {
      const arg = `uniq-${run}-${i}`;
      const e = c.events.find(byArg(arg));
      if (!e) continue;
      if (
        e.pid === pids.get(arg) &&
        e.ppid === sh.pid &&
        e.cwd === dir &&
        e.exe === '/usr/bin/dash' &&
        e.argv.length === 4 &&
        e.argv[0] === '/bin/sh' &&
        e.argv[2] === 'echo $$ $0' &&
        e.success &&
        !e.argvTruncated &&
        !e.argvMissing
      ) {
        exact++;
      } else {
        t.fail(`exec ${arg} captured wrongly: ${JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
    }
    t.equal(exact, 200, 'each exec has its argv, pid, ppid, cwd and exe');
    const one = c.events.find(byArg(`uniq-${run}-1`))!;
    t.equal(one.source, 'audit');
    t.type(one.serial, 'number');
    t.equal(one.uid, 0);
    t.equal(one.auid, 4294967295, 'an unset auid reads as 4294967295');
    t.type(one.timeUnixNano, 'bigint');
    t.ok(Math.abs(Number(one.timeUnixNano / 1_000_000n) - Date.now()) < 60_000, 'timestamp is the record time');
  });

  t.test('captures a one-millisecond process with its argv', async (t) => {
    const { c } = await startSource(t);
    const marker = `short-${Date.now()}`;
    const sh = runShell(`${nwTrue} ${marker}`, { cwd: dir });
    await sh.done;
    const e = await c.waitForEvent(byArg(marker));
    t.same(e.argv, [nwTrue, marker]);
    t.equal(e.exe, nwTrue);
    t.equal(e.comm, 'nw-true');
    t.equal(e.ppid, sh.pid);
    t.equal(e.argvMissing, false);
  });

  t.test('decodes arguments audit hex-encodes, exactly', async (t) => {
    const { c } = await startSource(t);
    const marker = `hex-${Date.now()}`;
    const args = [marker, 'with space', 'dq"uote', "sq'uote", 'ünïcødé ✓', 'new\nline', 'tab\there', '', '-', '"', 'plain'];
    // A script quotes them for the shell exactly as written here.
    const script = path.join(dir, 'hex.sh');
    writeFileSync(script, `exec ${nwTrue} ${args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')}\n`);
    await runShell(`/bin/sh ${script}`).done;
    const e = await c.waitForEvent(byArg(marker));
    t.same(e.argv, [nwTrue, ...args]);
    t.equal(e.argvTruncated, false);
  });

  t.test('replaces invalid UTF-8 in arguments instead of failing', async (t) => {
    const { c } = await startSource(t);
    const marker = `badutf-${Date.now()}`;
    await runShell(`${nwTrue} ${marker} "$(printf 'a\\377\\376b')"`).done;
    const e = await c.waitForEvent(byArg(marker));
    t.equal(e.argv[2], 'a\uFFFD\uFFFDb');
  });

  t.test('reassembles argv spread over several EXECVE records and split arguments', async (t) => {
    const { c } = await startSource(t);
    const marker = `long-${Date.now()}`;
    // Five 3,000-byte args that need hex (6,000 chars each) overflow one record; a 4,000-byte
    // one (8,000 hex chars) is split into a0[0], a0[1] chunks by the kernel.
    const big = Array.from({ length: 5 }, (_v, i) => `${i} `.padEnd(3000, 'x'));
    const split = 'y '.padEnd(4000, 'z');
    const script = path.join(dir, 'long.sh');
    writeFileSync(script, `exec ${nwTrue} ${marker} ${[...big, split].map((a) => `'${a}'`).join(' ')}\n`);
    await runShell(`/bin/sh ${script}`).done;
    const e = await c.waitForEvent(byArg(marker));
    t.equal(e.argv.length, 8);
    t.same(e.argv.slice(2), [...big, split], 'every long argument exact');
    t.equal(e.argvTruncated, false);
  });

  t.test('bounds argv: 4096 bytes per argument, 128 arguments, 32 KiB in all', async (t) => {
    const { c } = await startSource(t);
    const marker = `bound-${Date.now()}`;
    const huge = 'h'.padEnd(10_000, 'h');
    const script = path.join(dir, 'bound.sh');
    writeFileSync(script, `exec ${nwTrue} ${marker} ${huge}\n`);
    await runShell(`/bin/sh ${script}; ${nwTrue} ${marker}-many $(seq 1 300)`).done;
    const one = await c.waitForEvent(byArg(marker));
    t.equal(one.argv[2]!.length, 4096);
    t.equal(one.argvTruncated, true);
    const many = await c.waitForEvent(byArg(`${marker}-many`));
    t.equal(many.argv.length, 128);
    t.equal(many.argvTruncated, true);
    const total = many.argv.reduce((n, a) => n + Buffer.byteLength(a), 0);
    t.ok(total <= 32 * 1024);
  });

  t.test('reads cgroup, start time and stdio of a live process at once', async (t) => {
    const { c } = await startSource(t);
    const marker = `live-${Date.now()}`;
    const sh = runShell(`exec /bin/sh -c 'sleep 2' ${marker}`);
    const e = await c.waitForEvent(byArg(marker));
    t.equal(e.pid, sh.pid);
    t.type(e.cgroup, 'string');
    t.match(e.cgroup!, /^0::/m);
    t.type(e.startTime, 'bigint');
    t.match(e.stdio, { stdin: '/dev/null', stdout: /^(pipe|socket):\[\d+\]$/ });
    await sh.done;
  });

  t.test('strings that repeat or not, many to a batch, all arrive as they were', async (t) => {
    const { c, key } = await startSource(t);
    // 300 different argv[0] (and cwd): more than the addon's cache of repeated strings has slots,
    // so strings of one batch contend for slots; and the same exe throughout.
    const sh = runShell(`exec /bin/bash -c 'for i in $(seq 1 300); do (cd /tmp && exec -a "z$i-${key}" /bin/true "x$i"); done; (exec -a same-${key} /bin/true last)'`);
    await sh.done;
    await c.waitForEvent((e) => e.argv[0] === `same-${key}`);
    const got = c.events.filter((e) => e.argv[0]?.endsWith(`-${key}`) && e.argv[0] !== `same-${key}`);
    t.equal(got.length, 300);
    t.same(got.filter((e) => e.argv[0] !== `z${e.argv[1]!.slice(1)}-${key}` || e.cwd !== '/tmp' || !e.exe.endsWith('true')).map((e) => e.argv), [],
      'each argv[0] with its own argument, the cwd and the exe');
  });

  t.test('reads at once whether a process is pid 1 of its pid namespace, and its executable file\'s ctime', async (t) => {
    const { c } = await startSource(t);
    const marker = `ns-${Date.now()}`;
    // unshare's child is pid 1 of a new pid namespace; the shell it runs starts `sleep` inside it.
    const sh = runShell(`exec unshare --pid --fork /bin/sh -c 'sleep 1.5; true' ${marker}`);
    const init = await c.waitForEvent((e) => e.argv[0] === '/bin/sh' && e.argv.includes(marker));
    const inside = await c.waitForEvent((e) => e.argv[0] === 'sleep' && e.ppid === init.pid);
    const plain = await c.waitForEvent((e) => e.pid === sh.pid && e.argv[0] === 'unshare');
    t.equal(init.nsInit, true, 'the first process of the new namespace');
    t.equal(inside.nsInit, false, 'its child, in the same namespace');
    t.equal(plain.nsInit, false, 'unshare itself, in the namespace of its parent');
    const st = statSync('/bin/sh', { bigint: true });
    t.equal(init.exeCtimeSec, Number(st.ctimeNs / 1_000_000_000n), 'ctime of the file /proc/PID/exe leads to, seconds');
    t.equal(init.exeCtimeNsec, Number(st.ctimeNs % 1_000_000_000n), 'and nanoseconds');
    await sh.done;
  });

  t.test("keeps another key's rule through start and stop", async (t) => {
    const a = addon!;
    const other = uniqueKey('nwt-other');
    t.teardown(() => removeRulesWithKey(a, other));
    a.auditAddExecRule(true, other);
    const { src, key } = await startSource(t);
    t.equal(rulesWithKey(a, other).length, 1, 'the other rule is still there while we run');
    t.equal(rulesWithKey(a, key).length, 2);
    await src.stop();
    t.equal(rulesWithKey(a, other).length, 1, 'and after we stopped');
    t.equal(rulesWithKey(a, key).length, 0);
  });

  t.test('still captures execs whose records carry the key of a rule listed before ours', async (t) => {
    const a = addon!;
    const other = uniqueKey('nwt-first');
    t.teardown(() => removeRulesWithKey(a, other));
    a.auditAddExecRule(true, other);
    const { c, key } = await startSource(t);
    const marker = `shadow-${Date.now()}`;
    await runShell(`${nwTrue} ${marker}`).done;
    const e = await c.waitForEvent(byArg(marker));
    // The first matching rule names the record: the other one (or any rule listed before it
    // on this shared machine), never ours, which came last.
    t.not(e.auditKey, key);
    t.type(e.auditKey, 'string');
  });

  t.test('restores its rules when they are deleted while running, and capture resumes', async (t) => {
    const a = addon!;
    const { c, key } = await startSource(t);
    await runShell(`${nwTrue} before-${key}`).done;
    await c.waitForEvent(byArg(`before-${key}`));
    // What `auditctl -D` would do to us; other keys' rules are left alone here on purpose.
    removeRulesWithKey(a, key);
    const n = await c.waitForNotice((n) => n.kind === 'rules-restored', 10_000);
    t.equal(n.kind, 'rules-restored');
    t.ok(n.kind === 'rules-restored' && n.gapMs >= 0 && n.gapMs < 5000, `gap ${n.kind === 'rules-restored' ? n.gapMs : ''} ms`);
    t.equal(rulesWithKey(a, key).length, 2, 'both rules are back');
    await runShell(`${nwTrue} after-${key}`).done;
    await c.waitForEvent(byArg(`after-${key}`));
    t.pass('capture resumed');
  });

  t.test('reuses rules a crashed run left behind, without duplicates', async (t) => {
    const a = addon!;
    const key = uniqueKey();
    t.teardown(() => removeRulesWithKey(a, key));
    a.auditAddExecRule(true, key);
    a.auditAddExecRule(false, key);
    const { src, c } = await startSource(t, { key });
    t.equal(rulesWithKey(a, key).length, 2, 'still exactly two rules with our key');
    await runShell(`${nwTrue} reuse-${key}`).done;
    await c.waitForEvent(byArg(`reuse-${key}`));
    await src.stop();
    t.equal(rulesWithKey(a, key).length, 0, 'stop removed them');
  });

  t.test('stop leaves no rule with our key, is idempotent and safe without start', async (t) => {
    const a = addon!;
    const idle = new AuditSource({ ruleKey: uniqueKey() });
    await idle.stop();
    const { src, key } = await startSource(t);
    t.equal(rulesWithKey(a, key).length, 2);
    await Promise.all([src.stop(), src.stop()]);
    await src.stop();
    t.equal(rulesWithKey(a, key).length, 0);
  });

  t.test('restores audit "enabled" only when it changed it', async (t) => {
    const a = addon!;
    const before = a.auditStatus().enabled;
    const { src } = await startSource(t);
    t.equal(a.auditStatus().enabled, 1, 'auditing is on while running');
    await src.stop();
    const others = a.auditListRules().length;
    // Another source of ours may share the machine; with no rules left, the old state is back.
    if (others === 0) t.equal(a.auditStatus().enabled, before);
  });

  const daemonPid = addon!.auditStatus().pid;
  const unicastSkip = daemonPid !== 0 ? `an audit daemon (pid ${daemonPid}) is registered on this machine` : false;
  t.test('unicast mode registers as the audit daemon and unregisters on stop', { skip: unicastSkip }, async (t) => {
    const a = addon!;
    const { src, c, key } = await startSource(t, { unicast: true });
    t.equal(a.auditStatus().pid, process.pid);
    await runShell(`${nwTrue} unicast-${key}`).done;
    const e = await c.waitForEvent(byArg(`unicast-${key}`));
    t.same(e.argv, [nwTrue, `unicast-${key}`]);
    await src.stop();
    t.equal(a.auditStatus().pid, 0);
  });

  t.test('a locked configuration (injected status) fails start with a clear reason', async (t) => {
    const a = addon!;
    const key = uniqueKey();
    t.teardown(() => removeRulesWithKey(a, key));
    const src = new AuditSource({ ruleKey: key }, { readStatus: () => ({ ...a.auditStatus(), enabled: 2 }) });
    t.match(await src.probe(), /locked/);
    const err = await src.start(() => {}, () => {}).catch((e: unknown) => e);
    t.ok(isNwError(err, 'NW_ERR_EXEC_SOURCE'));
    t.match((err as Error).message, /locked \(enabled 2\)/);
    t.equal(rulesWithKey(a, key).length, 0, 'no rule was added');
    await src.stop();
  });

  t.test('a rising kernel lost counter becomes a loss notice', async (t) => {
    const a = addon!;
    const key = uniqueKey();
    let extra = 0;
    const src = new AuditSource({ ruleKey: key }, {
      readStatus: () => {
        const s = a.auditStatus();
        return { ...s, lost: s.lost + extra };
      },
      statusIntervalMs: 50,
    });
    const c = collector();
    t.teardown(async () => {
      await src.stop();
      removeRulesWithKey(a, key);
    });
    await src.start(c.onBatch, c.onNotice);
    extra = 7;
    const n = await c.waitForNotice((n) => n.kind === 'loss' && n.where === 'kernel');
    t.match(n, { kind: 'loss', where: 'kernel', count: 7 });
    t.equal(src.stats().lostKernel, 7);
  });

  t.test('when JavaScript falls behind, the bounded queue drops and says so', async (t) => {
    const { src, c, key } = await startSource(t, { maxQueue: 8 });
    const sh = runShell(`for i in $(seq 1 100); do ${nwTrue} lag-${key}-$i; done`);
    // Block the event loop while the execs happen: nothing is delivered meanwhile.
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // busy
    }
    await sh.done;
    const n = await c.waitForNotice((n) => n.kind === 'loss' && n.where === 'agent');
    t.ok(n.kind === 'loss' && n.count > 0);
    // Execs after the event loop was free again come in later batches (up to 50 ms each, longer
    // on a busy machine): wait for them to be accounted for.
    const delivered = () => c.events.filter((e) => e.argv[1]?.startsWith(`lag-${key}-`)).length;
    for (const until = Date.now() + 5_000; delivered() + src.stats().lostAgent < 100 && Date.now() < until;) await sleep(50);
    const s = src.stats();
    t.ok(s.lostAgent > 0, `lostAgent ${s.lostAgent}`);
    const seen = delivered();
    t.equal(seen + s.lostAgent >= 100, true, `${seen} delivered + ${s.lostAgent} dropped account for all 100`);
    await sleep(10);
  });

  t.test('stats count what was received and delivered', async (t) => {
    const { src, c, key } = await startSource(t);
    await runShell(`${nwTrue} stats-${key}`).done;
    await c.waitForEvent(byArg(`stats-${key}`));
    const s = src.stats();
    t.ok(s.received >= 1);
    t.equal(s.delivered, c.events.length);
    t.equal(s.lostSocket, 0);
    t.equal(s.rulesRestored, 0);
  });

  t.test('watch rules: who changed a watched file (chmod, a file created), restored when removed, removed at stop', async (t) => {
    const { src, key } = await startSource(t);
    const watchKeys = () => addon!.auditListRules().filter((r) => r.key?.startsWith(`${key}-w:`));
    t.teardown(() => {
      for (const r of watchKeys()) addon!.auditDelRule(r.raw);
    });
    const root = tempDir('nw-watch-');
    const file = path.join(root, 'etc', 'kubelet.conf');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'x', { mode: 0o600 });
    const changes: FileChangeEvent[] = [];
    src.fileWatch.onChange((c) => changes.push(c));
    src.fileWatch.watch([
      { hostPath: '/etc/kubelet.conf', path: file },
      { hostPath: '/etc/not-yet.conf', path: path.join(root, 'etc', 'not-yet.conf') },
      { hostPath: '/nowhere/x.conf', path: path.join(root, 'nowhere', 'x.conf') },
    ]);
    t.same(watchKeys().map((r) => r.key).sort(), [`${key}-w:/etc/kubelet.conf`, `${key}-w:/etc/not-yet.conf`], 'a watch per file whose folder exists');
    t.same(src.fileWatch.status().unwatchable, ['/nowhere/x.conf'], 'a file whose folder does not exist cannot be watched yet');

    const sh = runShell(`chmod 644 ${file}`);
    await sh.done;
    const waitFor = async (pred: (c: FileChangeEvent) => boolean): Promise<FileChangeEvent | undefined> => {
      for (const until = Date.now() + 5000; Date.now() < until; await sleep(20)) {
        const c = changes.find(pred);
        if (c) return c;
      }
      return undefined;
    };
    const chmod = await waitFor((c) => c.comm === 'chmod');
    t.ok(chmod, 'the chmod was seen');
    t.match(chmod, { hostPath: '/etc/kubelet.conf', syscall: /^(chmod|fchmodat|fchmodat2)$/, success: true, exe: /chmod$/, uid: 0 });
    t.equal(chmod!.ppid, sh.pid, 'by the child of our shell');
    // Created by a child: the kernel gives a process an audit context at fork, and only once
    // auditing has been switched on since boot. On a freshly booted machine this test process
    // may be older than that (its own writes are then never audited); the shell is not.
    const notYet = path.join(root, 'etc', 'not-yet.conf');
    const creator = runShell(`echo new > ${notYet}`);
    await creator.done;
    const created = await waitFor((c) => c.hostPath === '/etc/not-yet.conf' && c.syscall.startsWith('open'));
    t.match(created, { syscall: /^open/, pid: creator.pid }, 'a file created after the watch was set');
    const quiet = changes.length;
    await runShell(`cat ${file} > /dev/null`).done;
    await sleep(300);
    t.equal(changes.length, quiet, 'reading is not a change');

    // Someone removes our watch: it is back within the rules check (2 s).
    for (const r of watchKeys()) if (r.key === `${key}-w:/etc/kubelet.conf`) addon!.auditDelRule(r.raw);
    let back = false;
    for (const until = Date.now() + 6000; !back && Date.now() < until; await sleep(100)) back = watchKeys().some((r) => r.key === `${key}-w:/etc/kubelet.conf`);
    t.ok(back, 'the removed watch rule was restored');

    // A smaller set removes the watches no longer wanted.
    src.fileWatch.watch([{ hostPath: '/etc/kubelet.conf', path: file }]);
    t.same(watchKeys().map((r) => r.key), [`${key}-w:/etc/kubelet.conf`]);
    await src.stop();
    t.same(watchKeys(), [], 'stop removes our watch rules');
  });
});
