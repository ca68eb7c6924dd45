// The runtime collector against a real containerd (the node-box): pods made through the CRI as the
// kubelet makes them, a container made with `ctr run` behind its back, and the runtime stopped and
// started under the agent. One box for the file; each test states one behaviour.

import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import type { CollectorContext } from '../../collectors/collector.js';
import type { Finding } from '../../core/finding.js';
import { NodeFacts } from '../../collectors/node-facts.js';
import type { RuntimeCollector } from '../../collectors/runtime/collector.js';
import { runtimeCollectorFactory } from '../../collectors/runtime/factory.js';
import { BUSYBOX_IMAGE, type Pod, nodeBoxForFile } from './node-box.js';
import { ruleSink } from '../helpers/rule-sink.js';

const box = await nodeBoxForFile(t);

// ---- the pods, each built to trigger one family of checks (or none) ----
const pods: Record<string, Pod> = {};
pods['kubeProxy'] = await box.runPod({ name: 'kube-proxy-x7k2p', containerName: 'kube-proxy', privileged: true, mounts: [{ hostPath: '/lib/modules', containerPath: '/lib/modules', readonly: true }] });
pods['rogue'] = await box.runPod({ name: 'metrics-helper', privileged: true });
pods['debugger'] = await box.runPod({ name: 'debugger', hostNetwork: false, hostPid: true, hostIpc: true, capabilities: { add: ['SYS_PTRACE'] }, runAsUser: 1000, readonlyRootfs: true, seccomp: 'runtime-default' });
pods['mounter'] = await box.runPod({
  name: 'node-agent',
  hostNetwork: false,
  runAsUser: 1000,
  readonlyRootfs: true,
  seccomp: 'runtime-default',
  capabilities: { drop: ['ALL'] },
  mounts: [
    { hostPath: box.socket, containerPath: '/run/containerd.sock', readonly: true },
    { hostPath: '/etc', containerPath: '/host/etc', readonly: true },
    { hostPath: '/proc', containerPath: '/host/proc', readonly: false },
  ],
});
pods['plain'] = await box.runPod({ name: 'plain-app', namespace: 'default', hostNetwork: false });
pods['hardened'] = await box.runPod({ name: 'hardened', hostNetwork: false, runAsUser: 65534, readonlyRootfs: true, seccomp: 'runtime-default', capabilities: { drop: ['ALL'] }, noNewPrivs: true });
pods['unlabelled'] = await box.runPod({ name: 'by-hand', kubeLabels: false, hostNetwork: false, runAsUser: 1000, readonlyRootfs: true, seccomp: 'runtime-default', capabilities: { drop: ['ALL'] } });
const hiddenId = await box.ctrRun({ id: `miner-${process.pid}` });

// ---- the collector under test ----
const waiters: Array<() => void> = [];
const recorder = ruleSink({ collector: 'runtime' });
const emitted: Finding[] = recorder.emitted;
const recordingSink = recorder.sink;
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nw-runtime-e2e-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
const ctx: CollectorContext = {
  hostRoot: '/',
  stateDir,
  node: 'box-node',
  sink: {
    ...recordingSink,
    state: async (changes) => {
      const out = await recordingSink.state(changes);
      for (const w of waiters.splice(0)) w();
      return out;
    },
  },
  logger: pino({ level: 'silent' }),
  metrics: new Registry(),
  facts: new NodeFacts(),
};
const validated = runtimeCollectorFactory.validate({ socket: box.socket, containerdStateDir: box.stateDir, pollIntervalMs: 500 });
if (!validated.ok) throw new Error(validated.errors.join('; '));
const collector = runtimeCollectorFactory.create(validated.config, ctx) as RuntimeCollector;
t.teardown(() => collector.stop());
await collector.start();

const key = (p: Pod): string => `${p.namespace}/${p.name}/${p.containerName}`;
const openFor = (k: string): Finding[] => {
  // The currently open findings for one workload: the last transition per fingerprint is 'open'.
  const last = new Map<string, Finding>();
  for (const f of emitted) if (f.fingerprint.endsWith(k) || f.fingerprint.includes(`${k}:`)) last.set(f.fingerprint, f);
  return [...last.values()].filter((f) => f.state === 'open');
};
const rules = (fs: Finding[]): string[] => [...new Set(fs.map((f) => f.ruleId))].sort();

/** Wait until the predicate over emitted findings holds, the collector running on its own. */
async function until(what: string, pred: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((r) => {
      waiters.push(r);
      setTimeout(r, 200);
    });
  }
}

t.test('the inventory matches what was created', async (t) => {
  const inv = ctx.facts.inventory;
  for (const [label, p] of Object.entries(pods)) {
    const c = inv.lookup(p.containerId);
    if (!c) {
      t.fail(`${label} missing from the inventory`);
      continue;
    }
    t.equal(c.origin, 'cri', label);
    t.equal(c.namespace, p.namespace, `${label} namespace`);
    t.equal(c.pod, p.name, `${label} pod`);
    t.equal(c.podUid, p.uid, `${label} pod uid`);
    t.equal(c.name, p.containerName, `${label} container`);
    t.equal(c.image, BUSYBOX_IMAGE, `${label} image`);
    t.match(c.imageDigest, /^sha256:[0-9a-f]{64}$/, `${label} image digest`);
    t.equal(c.state, 'running', `${label} state`);
    t.ok(c.startedAtNs > 0n, `${label} start time`);
    t.equal(c.sandboxId, p.sandboxId, `${label} sandbox`);
    t.equal(c.cgroupPath, `/kubepods/besteffort/pod${p.uid}/${p.containerId}`, `${label} cgroup path`);
    t.ok(c.pid > 0, `${label} pid`);
    // The pid and cgroup are the real ones: the process collector will join on them.
    t.match(readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'), c.cgroupPath, `${label} /proc/PID/cgroup shows the cgroup path`);
    t.equal(inv.lookup(p.containerId.slice(0, 12))?.id, p.containerId, `${label} by 12-char prefix`);
    t.equal(inv.sandbox(p.sandboxId)?.uid, p.uid, `${label} sandbox record`);
  }
  const hidden = inv.lookup(hiddenId);
  t.equal(hidden?.origin, 'outside-cri', 'the ctr container is in the inventory too');
  t.equal(hidden?.runtimeNamespace, 'k8s.io');
  t.ok((hidden?.pid ?? 0) > 0, 'with its pid');
  t.equal(inv.lookup(pods['unlabelled']!.containerId)?.kubeLabelled, false);
  t.equal(collector.status().healthy, true, collector.status().detail);
  t.match(await ctx.metrics.metrics(), /nodewarden_runtime_containers\{state="running"\} 8/);
});

t.test('a hardened container raises nothing', async (t) => {
  t.same(openFor(key(pods['hardened']!)), []);
});

t.test('expected privilege (kube-proxy) is reported once, as info', async (t) => {
  const fs = openFor(key(pods['kubeProxy']!));
  t.same(rules(fs), ['runtime.expected-privileged-workload']);
  t.ok(fs.every((f) => f.severity === 'info' && f.tags?.includes('expected')));
  t.match(fs[0]?.evidence, /privileged=true .*hostNetwork=true/);
  const before = emitted.length;
  await collector.refreshNow();
  await collector.refreshNow();
  t.equal(emitted.length, before, 'nothing repeated while nothing changes');
});

t.test('a privileged pod in kube-system that is not on the allow-list is an alarm', async (t) => {
  const fs = openFor(key(pods['rogue']!));
  const priv = fs.find((f) => f.ruleId === 'runtime.privileged-container');
  t.equal(priv?.severity, 'high');
  t.equal(priv?.kubernetes?.namespace, 'kube-system');
  t.equal(priv?.container?.id, pods['rogue']!.containerId);
  t.equal(priv?.mitre?.[0], 'T1611');
});

t.test('host PID and IPC namespaces and a dangerous capability', async (t) => {
  // containerd's default set has NET_RAW: beyond the safe set, so added-capabilities too.
  t.same(rules(openFor(key(pods['debugger']!))), ['runtime.added-capabilities', 'runtime.dangerous-capabilities', 'runtime.host-ipc', 'runtime.host-pid']);
  const cap = openFor(key(pods['debugger']!)).find((f) => f.ruleId === 'runtime.dangerous-capabilities');
  t.match(cap?.message, /SYS_PTRACE/);
  t.equal(cap?.severity, 'high');
});

t.test('sensitive host paths: the runtime socket itself, /etc, /proc', async (t) => {
  const fs = openFor(key(pods['mounter']!)).filter((f) => f.tags?.includes('mount'));
  const bySource = Object.fromEntries(fs.map((f) => [f.attributes?.['hostPath'], f]));
  t.same(Object.keys(bySource).sort(), ['/etc', '/proc', box.socket].sort());
  t.equal(bySource[box.socket]?.ruleId, 'runtime.runtime-socket-mount');
  t.equal(bySource[box.socket]?.severity, 'critical', 'the socket, even read-only');
  t.equal(bySource['/proc']?.ruleId, 'runtime.sensitive-host-mount');
  t.equal(bySource['/proc']?.attributes?.['readonly'], 'false');
  t.equal(bySource['/etc']?.ruleId, 'runtime.credentials-host-mount', '/etc holds /etc/kubernetes');
  t.equal(bySource['/etc']?.attributes?.['readonly'], 'true');
  t.same(rules(openFor(key(pods['mounter']!))), ['runtime.credentials-host-mount', 'runtime.runtime-socket-mount', 'runtime.sensitive-host-mount'], 'and nothing else on an otherwise hardened pod');
});

t.test('a default pod: root, writable root filesystem, no seccomp, NET_RAW', async (t) => {
  const fs = openFor(key(pods['plain']!));
  t.same(rules(fs), ['runtime.added-capabilities', 'runtime.run-as-root', 'runtime.seccomp-unconfined', 'runtime.writable-rootfs']);
  t.equal(fs.find((f) => f.ruleId === 'runtime.added-capabilities')?.severity, 'low');
});

t.test('containers the kubelet did not make: no labels, or outside the CRI', async (t) => {
  t.same(rules(openFor(key(pods['unlabelled']!))), ['runtime.unmanaged-container']);
  const hidden = openFor(`outside-cri/k8s.io/${hiddenId}`);
  t.ok(rules(hidden).includes('runtime.unmanaged-container'));
  t.equal(hidden.find((f) => f.ruleId === 'runtime.unmanaged-container')?.severity, 'high');
});

t.test('the runtime socket with permissions wider than 0660', async (t) => {
  const mode = statSync(box.socket).mode & 0o777;
  t.equal(mode & ~0o660, 0, `containerd made its socket ${mode.toString(8)}`);
  const fp = 'runtime:socket-open-to-all:box-node';
  const state = () => emitted.filter((f) => f.fingerprint === fp).at(-1)?.state;
  t.equal(state(), undefined);
  chmodSync(box.socket, 0o666);
  try {
    await collector.refreshNow();
    t.equal(state(), 'open');
  } finally {
    chmodSync(box.socket, mode);
  }
  await collector.refreshNow();
  t.equal(state(), 'resolved');
});

t.test('a stopped container resolves its findings; a new one opens them', async (t) => {
  const plain = pods['plain']!;
  const before = openFor(key(plain)).map((f) => f.fingerprint).sort();
  await box.cri.stopContainer(plain.containerId, 0);
  await collector.refreshNow();
  t.equal(ctx.facts.inventory.lookup(plain.containerId)?.state, 'exited');
  const resolved = () => emitted.filter((f) => f.state === 'resolved' && before.includes(f.fingerprint)).map((f) => f.fingerprint).sort();
  t.same(resolved(), [], 'kept open for restartGraceMs: it may be restarting');
  await until('the stopped container\'s findings to resolve', () => resolved().length === before.length);
  t.same(resolved(), before, 'every finding of the stopped container resolved once the grace passed');
  await box.stopPod(plain);
  await collector.refreshNow();
  t.equal(ctx.facts.inventory.lookup(plain.containerId), undefined, 'gone from the inventory once removed');

  const again = await box.runPod({ name: 'plain-app', namespace: 'default', hostNetwork: false });
  pods['plain'] = again;
  await collector.refreshNow();
  t.same(openFor(key(again)).map((f) => f.fingerprint).sort(), before, 'the same problems open again');
});

t.test('a restarted container (new id, same workload) keeps its findings open without repeats', async (t) => {
  const rogue = pods['rogue']!;
  const fp = `runtime:privileged-container:${key(rogue)}`;
  const count = () => emitted.filter((f) => f.fingerprint === fp).length;
  const n = count();
  const next = await box.restartContainer(rogue);
  pods['rogue'] = next;
  await collector.refreshNow();
  t.not(next.containerId, rogue.containerId);
  t.equal(ctx.facts.inventory.lookup(next.containerId)?.state, 'running');
  t.equal(count(), n, 'no resolve/re-open for a crash-looping container');
});

t.test('network not ready is reported and resolves', async (t) => {
  const conf = path.join(box.cniConfDir, '10-nodewarden-null.conflist');
  const content = readFileSync(conf);
  const fp = 'runtime:network-not-ready:box-node';
  const state = () => emitted.filter((f) => f.fingerprint === fp).at(-1)?.state;
  rmSync(conf);
  try {
    // containerd notices the CNI folder change by itself (fsnotify); the collector polls.
    await until('network-not-ready to open', () => state() === 'open');
    t.match(emitted.filter((f) => f.fingerprint === fp).at(-1)?.message, /NetworkReady not true/);
  } finally {
    // Written, not renamed back: containerd 1.6 reloads on a write but ignores a file moved in.
    writeFileSync(conf, content);
  }
  await until('network-not-ready to resolve', () => state() === 'resolved');
  t.pass('resolved once the CNI config is back');
});

t.test('the runtime going away is reported, and the agent reconnects when it returns', async (t) => {
  const fp = 'runtime:unavailable:box-node';
  const state = () => emitted.filter((f) => f.fingerprint === fp).at(-1)?.state;
  const containerTransitions = () => emitted.filter((f) => f.fingerprint.startsWith('runtime:') && f.container).length;
  const before = containerTransitions();
  await box.stopContainerd();
  await until('unavailable to open', () => state() === 'open');
  t.equal(collector.status().healthy, false);
  t.match(collector.status().detail, /unreachable/);
  t.ok(ctx.facts.inventory.lookup(pods['hardened']!.containerId), 'the last inventory stays available for lookups');
  await box.startContainerd();
  await until('unavailable to resolve', () => state() === 'resolved');
  t.equal(collector.status().healthy, true, collector.status().detail);
  // The shims kept the containers running: nothing about them changed, nothing was emitted.
  t.equal(containerTransitions(), before, 'no container finding resolved or re-opened across the outage');
  t.equal(ctx.facts.inventory.lookup(pods['hardened']!.containerId)?.state, 'running');
  t.match(await ctx.metrics.metrics(), /nodewarden_runtime_errors_total\{reason="unavailable"\} [1-9]/);
});

t.test('the ctr container going away resolves its finding', async (t) => {
  const fp = `runtime:unmanaged-container:outside-cri/k8s.io/${hiddenId}`;
  await box.ctrRemove(hiddenId);
  await until('the ctr container\'s finding to resolve', () => emitted.filter((f) => f.fingerprint === fp).at(-1)?.state === 'resolved');
  t.equal(ctx.facts.inventory.lookup(hiddenId), undefined);
});

t.test('execSync runs a command in a kube-system pod', async (t) => {
  const r = await box.execSync(pods['hardened']!.containerId, ['id', '-u']);
  t.equal(r.exitCode, 0);
  t.equal(r.stdout.trim(), '65534');
});
