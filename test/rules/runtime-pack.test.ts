// The built-in runtime pack (rules/packs/runtime.yaml) judging the runtime collector's
// observations (collectors/runtime/observe.ts): what each rule fires on, what it must not, the
// findings' fingerprints and context, and the older collector settings as list overrides.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import type { Finding } from '../../core/finding.js';
import type { ContainerRecord } from '../../collectors/runtime/inventory.js';
import { type ContainerSecurity, parseVerboseInfo } from '../../collectors/runtime/oci-spec.js';
import { type RuntimeCondition, type SocketStat, containerObservation, runtimeFacts, runtimeObservation } from '../../collectors/runtime/observe.js';
import { RuleEngine } from '../../rules/engine.js';
import { runtimeListOverrides, type RuntimeLegacy } from '../../rules/legacy.js';
import { formatProblem } from '../../rules/pack.js';
import { loadRuleset } from '../../rules/ruleset.js';
import { fixturesDir } from '../helpers/paths.js';

const SOCKET = '/run/containerd/containerd.sock';
const READY: RuntimeCondition[] = [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }];

function engineWith(legacy: RuntimeLegacy = {}): RuleEngine {
  const loaded = loadRuleset({ dirs: [], listOverrides: runtimeListOverrides(legacy) });
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  return new RuleEngine(loaded.ruleset, { sink: { emit: async () => undefined }, logger: pino({ level: 'silent' }), registry: new Registry(), stateDir: null, repeatWindowMs: 0 });
}
const standard = engineWith();

function facts(o: { apparmor?: boolean; conditions?: RuntimeCondition[]; socketStat?: SocketStat | null; error?: string } = {}) {
  return runtimeFacts({ name: 'containerd', version: '1.7', socket: SOCKET, conditions: o.conditions ?? READY, socketStat: o.socketStat ?? { mode: 0o140660, uid: 0, gid: 0 }, apparmorEnforced: o.apparmor ?? false, error: o.error });
}

/** The findings the built-in pack opens for one container. */
function containerFindings(c: ContainerRecord, o: { apparmor?: boolean; engine?: RuleEngine } = {}): Finding[] {
  return (o.engine ?? standard).judgeState(containerObservation(c, 'node-1', facts({ apparmor: o.apparmor })));
}

function runtimeFindings(o: Parameters<typeof facts>[0]): Finding[] {
  return standard.judgeState(runtimeObservation('node-1', facts(o)));
}

const hardened: ContainerSecurity = {
  privileged: false,
  privilegedFrom: 'cri-config',
  hostPid: false,
  hostIpc: false,
  hostNetwork: false,
  capabilities: [],
  uid: 65534,
  gid: 65534,
  readonlyRootfs: true,
  noNewPrivileges: true,
  seccomp: 'confined',
  seccompDefaultAction: 'SCMP_ACT_ERRNO',
  apparmor: 'confined',
  apparmorProfile: 'cri-containerd.apparmor.d',
  mounts: [],
};

function record(security: Partial<ContainerSecurity> | undefined, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: 'a'.repeat(64),
    sandboxId: 'b'.repeat(64),
    name: 'app',
    namespace: 'kube-system',
    pod: 'app-7d9f',
    podUid: 'uid-1',
    image: 'example/app:1',
    imageDigest: 'sha256:' + 'c'.repeat(64),
    state: 'running',
    createdAtNs: 1n,
    startedAtNs: 2n,
    pid: 1234,
    cgroupPath: '/kubepods/x',
    labels: { 'io.kubernetes.pod.name': 'app-7d9f', 'io.kubernetes.container.name': 'app' },
    origin: 'cri',
    kubeLabelled: true,
    security: security === undefined ? undefined : { ...hardened, ...security },
    ...over,
  };
}

const ids = (fs: { ruleId: string }[]): string[] => fs.map((f) => f.ruleId).sort();

t.test('a hardened container raises nothing', async (t) => {
  t.same(containerFindings(record({}), { apparmor: true }), []);
});

t.test('each check fires on the property built to trigger it', async (t) => {
  const cases: Array<[Partial<ContainerSecurity>, string]> = [
    [{ privileged: true }, 'runtime.privileged-container'],
    [{ hostPid: true }, 'runtime.host-pid'],
    [{ hostIpc: true }, 'runtime.host-ipc'],
    [{ hostNetwork: true }, 'runtime.host-network'],
    [{ capabilities: ['SYS_ADMIN'] }, 'runtime.dangerous-capabilities'],
    [{ capabilities: ['NET_RAW'] }, 'runtime.added-capabilities'],
    [{ mounts: [{ source: '/etc/kubernetes', destination: '/k', readonly: true }] }, 'runtime.credentials-host-mount'],
    [{ mounts: [{ source: '/proc', destination: '/p', readonly: false }] }, 'runtime.sensitive-host-mount'],
    [{ mounts: [{ source: '/proc', destination: '/p', readonly: true }] }, 'runtime.sensitive-host-mount-readonly'],
    [{ mounts: [{ source: '/', destination: '/host', readonly: true }] }, 'runtime.host-root-mount'],
    [{ mounts: [{ source: '/run/containerd', destination: '/c', readonly: true }] }, 'runtime.runtime-socket-mount'],
    [{ uid: 0 }, 'runtime.run-as-root'],
    [{ readonlyRootfs: false }, 'runtime.writable-rootfs'],
    [{ seccomp: 'unconfined' }, 'runtime.seccomp-unconfined'],
    [{ apparmor: 'unconfined' }, 'runtime.apparmor-unconfined'],
  ];
  for (const [sec, rule] of cases) {
    const fs = containerFindings(record(sec, { namespace: 'default', pod: 'web' }), { apparmor: true });
    t.same(ids(fs), [rule], rule);
    t.ok(fs[0]!.evidence && fs[0]!.remediation && fs[0]!.expected, `${rule} has evidence, expected and remediation`);
    t.not(fs[0]!.severity, 'info');
  }
});

t.test('privileged implies the rest: no separate capability or seccomp findings', async (t) => {
  const fs = containerFindings(record({ privileged: true, capabilities: ['SYS_ADMIN', 'NET_ADMIN'], seccomp: 'unconfined' }, { namespace: 'default' }));
  t.same(ids(fs), ['runtime.privileged-container']);
});

t.test('capability severity follows what the capability reaches', async (t) => {
  const low = containerFindings(record({ capabilities: ['NET_RAW', 'CHOWN'] }, { namespace: 'default' }));
  t.same(ids(low), ['runtime.added-capabilities']);
  t.equal(low[0]!.severity, 'low');
  const high = containerFindings(record({ capabilities: ['SYS_PTRACE', 'CHOWN'] }, { namespace: 'default' }));
  t.same(ids(high), ['runtime.dangerous-capabilities']);
  t.equal(high[0]!.severity, 'high');
  t.equal(high[0]!.attributes?.['capabilities'], 'SYS_PTRACE,CHOWN', 'the capabilities judged go with the finding');
  t.same(ids(containerFindings(record({ capabilities: ['SYS_PTRACE', 'NET_RAW'] }, { namespace: 'default' }))), ['runtime.added-capabilities', 'runtime.dangerous-capabilities'], 'both kinds: both findings');
  t.same(containerFindings(record({ capabilities: ['NET_RAW'] }), { engine: engineWith({ safeCapabilities: ['CAP_NET_RAW', 'CHOWN'] }) }), [], 'the older safeCapabilities setting, with or without CAP_');
});

t.test('AppArmor is only reported where the node enforces it', async (t) => {
  t.same(containerFindings(record({ apparmor: 'unset' })), []);
  t.same(ids(containerFindings(record({ apparmor: 'unset' }), { apparmor: true })), ['runtime.apparmor-unconfined']);
});

t.test('fingerprints name the workload, so a restarted container keeps its finding', async (t) => {
  const a = containerFindings(record({ uid: 0 }, { id: '1'.repeat(64), namespace: 'default' }))[0]!;
  const b = containerFindings(record({ uid: 0 }, { id: '2'.repeat(64), namespace: 'default' }))[0]!;
  t.equal(a.fingerprint, 'runtime:run-as-root:default/app-7d9f/app');
  t.equal(a.fingerprint, b.fingerprint);
  const m = containerFindings(record({ mounts: [{ source: '/etc/ssl', destination: '/e', readonly: false }, { source: '/proc', destination: '/p', readonly: false }] }));
  t.same(m.map((f) => f.fingerprint).sort(), ['runtime:sensitive-host-mount:kube-system/app-7d9f/app:/etc/ssl', 'runtime:sensitive-host-mount:kube-system/app-7d9f/app:/proc'], 'one per mount');
  t.same(m.map((f) => f.attributes?.['hostPath']).sort(), ['/etc/ssl', '/proc']);
});

t.test('findings carry the container and Kubernetes context', async (t) => {
  const f = containerFindings(record({ uid: 0 }))[0]!;
  t.equal(f.source, 'runtime');
  t.same(f.kubernetes, { namespace: 'kube-system', pod: 'app-7d9f', podUid: 'uid-1', container: 'app' });
  t.equal(f.container?.id, 'a'.repeat(64));
  t.equal(f.container?.image, 'example/app:1');
  t.equal(f.container?.runtime, 'containerd');
  t.equal(f.attributes?.['node'], 'node-1');
});

t.test('only running containers have findings', async (t) => {
  for (const state of ['created', 'exited', 'unknown'] as const) t.same(containerFindings(record({ privileged: true }, { state })), [], state);
});

t.test('expected privilege is one info finding, not an alarm', async (t) => {
  const kp = containerFindings(record({ privileged: true, hostNetwork: true }, { pod: 'kube-proxy-x7k2p', name: 'kube-proxy' }));
  t.same(ids(kp), ['runtime.expected-privileged-workload']);
  t.equal(kp[0]!.severity, 'info');
  t.ok(kp[0]!.tags?.includes('expected'));
  const miner = containerFindings(record({ privileged: true }, { pod: 'kube-proxy2-miner', name: 'x', namespace: 'default' }));
  t.same(ids(miner), ['runtime.privileged-container'], 'same name pattern in another namespace is an alarm');
  t.equal(miner[0]!.severity, 'high');
  const other = containerFindings(record({ privileged: true }, { pod: 'metrics-agent' }));
  t.same(ids(other), ['runtime.privileged-container'], 'a privileged kube-system pod not on the list is an alarm');
  t.same(containerFindings(record({}, { pod: 'kube-proxy-x7k2p', name: 'kube-proxy' })), [], 'an expected workload without privileges: nothing');
});

t.test('the older privilegedNamespaces setting sets the list (namespace, pod glob, container glob)', async (t) => {
  const e = (p: string[]) => engineWith({ privilegedNamespaces: p });
  const priv = (pattern: string[], ns: string, pod: string, name: string) =>
    ids(containerFindings(record({ privileged: true }, { namespace: ns, pod, name }), { engine: e(pattern) }));
  t.same(priv(['kube-system'], 'kube-system', 'anything', 'c'), ['runtime.expected-privileged-workload'], 'a namespace alone: all of it');
  t.same(priv(['kube-system/kube-proxy*'], 'kube-system', 'kube-proxy-abcde', 'kube-proxy'), ['runtime.expected-privileged-workload']);
  t.same(priv(['kube-system/kube-proxy*'], 'kube-system', 'coredns-1', 'coredns'), ['runtime.privileged-container']);
  t.same(priv(['kube-system/cilium-*/cilium-agent'], 'kube-system', 'cilium-x1', 'cilium-agent'), ['runtime.expected-privileged-workload']);
  t.same(priv(['kube-system/cilium-*/cilium-agent'], 'kube-system', 'cilium-x1', 'sidecar'), ['runtime.privileged-container']);
  t.same(priv(['kube-system/a.b'], 'kube-system', 'aXb', 'c'), ['runtime.privileged-container'], 'dots are literal');
  t.same(priv(['kube-system/kube-proxy*'], 'kube-system', 'kube-proxy-1', 'x'), ['runtime.expected-privileged-workload']);
  t.same(priv(['other'], 'kube-system', 'kube-proxy-1', 'kube-proxy'), ['runtime.privileged-container'], 'it replaces the built-in list');
});

t.test('containers outside the CRI or without kubelet labels are alarms, expected or not', async (t) => {
  const hidden = containerFindings(record({}, { origin: 'outside-cri', runtimeNamespace: 'k8s.io', id: 'hidden-1', name: 'hidden-1', namespace: '', pod: '', kubeLabelled: false }));
  t.same(ids(hidden), ['runtime.unmanaged-container']);
  t.equal(hidden[0]!.fingerprint, 'runtime:unmanaged-container:outside-cri/k8s.io/hidden-1');
  t.equal(hidden[0]!.kubernetes, undefined);
  t.match(hidden[0]!.message, /hidden-1 \(containerd namespace k8s\.io, outside the CRI\)/);
  const crictl = containerFindings(record({}, { kubeLabelled: false, pod: 'kube-proxy-1', labels: {} }));
  t.same(ids(crictl), ['runtime.unmanaged-container']);
  t.equal(crictl[0]!.severity, 'high', 'not excused by the expected list');
  t.same(ids(containerFindings(record(undefined, { origin: 'outside-cri', runtimeNamespace: 'default', kubeLabelled: false }))), ['runtime.unmanaged-container'], 'reported even before its spec is read');
});

t.test('host paths: which rule a mount meets', async (t) => {
  const rule = (source: string, readonly = true, legacy?: RuntimeLegacy) =>
    ids(containerFindings(record({ mounts: [{ source, destination: '/m', readonly }] }, { namespace: 'default' }), legacy ? { engine: engineWith(legacy) } : {})).filter((r) => r !== 'runtime.run-as-root');
  t.same(rule('/run/containerd/containerd.sock'), ['runtime.runtime-socket-mount']);
  t.same(rule('/var/run/containerd/containerd.sock'), ['runtime.runtime-socket-mount'], '/var/run is /run');
  t.same(rule('/run/containerd'), ['runtime.runtime-socket-mount'], 'a folder holding the socket');
  t.same(rule('/run'), ['runtime.runtime-socket-mount']);
  t.same(rule('/'), ['runtime.host-root-mount']);
  t.same(rule('/etc/kubernetes/pki'), ['runtime.credentials-host-mount']);
  t.same(rule('/etc'), ['runtime.credentials-host-mount'], '/etc holds /etc/kubernetes');
  t.same(rule('/var/lib/kubelet'), ['runtime.credentials-host-mount']);
  t.same(rule('/var'), ['runtime.credentials-host-mount'], '/var holds /var/lib/kubelet');
  t.same(rule('/proc'), ['runtime.sensitive-host-mount-readonly']);
  t.same(rule('/proc', false), ['runtime.sensitive-host-mount']);
  t.same(rule('/etc/ssl/certs'), ['runtime.sensitive-host-mount-readonly']);
  t.same(rule('/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~projected/token'), [], "the pod's own kubelet folders");
  t.same(rule('/var/lib/kubelet/pods'), ['runtime.credentials-host-mount'], 'but not every pod at once');
  t.same(rule('/lib/modules'), []);
  t.same(rule('/data/app'), []);
  t.same(rule('relative/path'), []);
  t.same(rule('/etc/../etc/kubernetes'), ['runtime.credentials-host-mount'], 'normalised');
  t.same(rule('/data/app', true, { sensitiveHostPaths: ['/data/'] }), ['runtime.sensitive-host-mount-readonly'], 'the older sensitiveHostPaths setting sets the list');
  t.same(rule('/proc', true, { sensitiveHostPaths: ['/data'] }), [], 'and replaces it');
});

t.test('mount severity: the socket is critical even read-only', async (t) => {
  const sev = (source: string, readonly: boolean) =>
    containerFindings(record({ mounts: [{ source, destination: '/m', readonly }] }, { namespace: 'default' })).find((f) => f.tags?.includes('mount'))!.severity;
  t.equal(sev('/run/containerd/containerd.sock', true), 'critical');
  t.equal(sev('/', false), 'critical');
  t.equal(sev('/', true), 'critical', 'read-only / still reaches the socket');
  t.equal(sev('/proc', false), 'high');
  t.equal(sev('/proc', true), 'medium');
  t.equal(sev('/etc/kubernetes', true), 'high');
});

t.test('from a captured spec: the kube-proxy-like pod in kube-system is expected', async (t) => {
  const parsed = parseVerboseInfo({ info: readFileSync(path.join(fixturesDir, 'cri', 'verbose-kube-proxy-privileged.json'), 'utf8') });
  if (!parsed.ok) throw new Error(parsed.error);
  const c = record(parsed.value.security, { pod: 'kube-proxy-x7k2p', name: 'kube-proxy' });
  t.same(ids(containerFindings(c)), ['runtime.expected-privileged-workload']);
  const elsewhere = containerFindings({ ...c, namespace: 'default' });
  t.same(ids(elsewhere), ['runtime.host-network', 'runtime.privileged-container', 'runtime.run-as-root', 'runtime.sensitive-host-mount', 'runtime.writable-rootfs'], 'the same spec elsewhere: every problem');
});

t.test('runtime conditions', async (t) => {
  t.same(runtimeFindings({}), []);
  const fs = runtimeFindings({ conditions: [READY[0]!, { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'cni plugin not initialized' }] });
  t.same(ids(fs), ['runtime.network-not-ready']);
  t.equal(fs[0]!.fingerprint, 'runtime:network-not-ready:node-1');
  t.match(fs[0]!.message, /cni plugin not initialized/);
  t.same(ids(runtimeFindings({ conditions: [] })), ['runtime.network-not-ready', 'runtime.runtime-not-ready'], 'missing conditions are not ready');
});

t.test('runtime socket permissions', async (t) => {
  t.same(runtimeFindings({ socketStat: { mode: 0o140660, uid: 0, gid: 0 } }), []);
  t.same(runtimeFindings({ socketStat: { mode: 0o140600, uid: 0, gid: 0 } }), []);
  t.same(runtimeFindings({ socketStat: null }), []);
  const wide = runtimeFindings({ socketStat: { mode: 0o140666, uid: 0, gid: 0 } });
  t.same(ids(wide), ['runtime.socket-open-to-all']);
  t.equal(wide[0]!.severity, 'critical');
  t.match(wide[0]!.evidence, /mode 0666/);
  t.equal(wide[0]!.file?.kind, 'socket');
  t.equal(wide[0]!.file?.mode, 0o666);
  const group = runtimeFindings({ socketStat: { mode: 0o140670, uid: 0, gid: 0 } });
  t.same(ids(group), ['runtime.socket-permissions'], 'group-executable: wider, not world-open');
  t.equal(group[0]!.severity, 'high');
  const owner = runtimeFindings({ socketStat: { mode: 0o140660, uid: 1000, gid: 0 } });
  t.same(ids(owner), ['runtime.socket-not-root-owned']);
  t.match(owner[0]!.message, /uid 1000, not root/);
});

t.test('an unreachable runtime is one finding naming the socket and the error', async (t) => {
  const f = runtimeFindings({ error: 'connect ENOENT' });
  t.same(ids(f), ['runtime.unavailable'], 'and no readiness findings while it is away');
  t.equal(f[0]!.fingerprint, 'runtime:unavailable:node-1');
  t.match(f[0]!.message, /containerd\.sock: connect ENOENT/);
});

t.test('a running container whose settings could not be read is a finding, not silence', async (t) => {
  const c = record(undefined, { detailError: 'verbose info is not a JSON object' });
  const fs = containerFindings(c);
  t.same(ids(fs), ['runtime.container-uninspectable']);
  t.equal(fs[0]!.evidence, 'verbose info is not a JSON object');
  t.same(ids(containerFindings(record(undefined))), [], 'not yet inspected (no error) is not a finding');
});

t.test('a user pack overrides a runtime rule and its lists like any other', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-runtime-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'mine.yaml'), [
    'lists:',
    '  expected_privileged_workloads: [monitoring/node-exporter*]',
    'rules:',
    '  - { id: runtime.writable-rootfs, enabled: false }',
    '  - { id: runtime.run-as-root, severity: high }',
  ].join('\n'));
  const loaded = loadRuleset({ dirs: [dir] });
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  const e = new RuleEngine(loaded.ruleset, { sink: { emit: async () => undefined }, logger: pino({ level: 'silent' }), registry: new Registry(), stateDir: null, repeatWindowMs: 0 });
  const fs = containerFindings(record({ uid: 0, readonlyRootfs: false, hostPid: true }, { namespace: 'monitoring', pod: 'node-exporter-x', name: 'ne' }), { engine: e });
  t.same(ids(fs), ['runtime.expected-privileged-workload']);
  const other = containerFindings(record({ uid: 0, readonlyRootfs: false }, { namespace: 'default' }), { engine: e });
  t.same(ids(other), ['runtime.run-as-root']);
  t.equal(other[0]!.severity, 'high');
});

t.test('a built observation has exactly the schema\'s fields (mount only in each-rules)', async (t) => {
  const { RUNTIME_FIELDS } = await import('../../rules/schema.js');
  const shape = (fields: Record<string, { type: unknown }>): unknown => Object.fromEntries(Object.entries(fields).map(([k, f]) => {
    const ty = f.type as { object?: Record<string, { type: unknown }>; list?: unknown } | string;
    return [k, typeof ty === 'object' && ty.object ? shape(ty.object) : null];
  }));
  const strip = (o: Record<string, unknown>): unknown => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v && typeof v === 'object' && !Array.isArray(v) ? strip(v as Record<string, unknown>) : null]));
  const { kind: _k, key: _key, ...obs } = containerObservation(record({ mounts: [{ source: '/etc', destination: '/e', readonly: true }] }), 'n', facts());
  const { mount: _m, ...fields } = RUNTIME_FIELDS;
  t.same(strip(obs as unknown as Record<string, unknown>), shape(fields));
  const { kind: _k2, key: _key2, ...rt } = runtimeObservation('n', facts());
  t.same(strip(rt as unknown as Record<string, unknown>), shape(fields));
});

t.test('a rules change judges the last offered state again at once: findings open and resolve without a refresh', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const os = await import('node:os');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-runtime-swap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const emitted: Finding[] = [];
  const base = loadRuleset({ dirs: [] });
  if (!base.ok) throw new Error('built-in rules');
  const e = new RuleEngine(base.ruleset, { sink: { emit: async (fs) => void emitted.push(...fs) }, logger: pino({ level: 'silent' }), registry: new Registry(), stateDir: null, repeatWindowMs: 0 });
  const sink = e.sinkFor('runtime');
  await sink.state([{ scope: 'runtime:containers', observations: [containerObservation(record({ uid: 0 }, { namespace: 'default' }), 'node-1', facts())] }]);
  t.same(emitted.map((f) => [f.ruleId, f.state]), [['runtime.run-as-root', 'open']]);

  writeFileSync(path.join(dir, 'mine.yaml'), 'rules:\n  - { id: runtime.run-as-root, enabled: false }\n  - { id: runtime.writable-rootfs, condition: "judged_container && security.uid == 0" }\n');
  const next = loadRuleset({ dirs: [dir] });
  if (!next.ok) throw new Error(next.problems.map(formatProblem).join('\n'));
  await e.swap(next.ruleset);
  t.same(emitted.slice(1).map((f) => [f.ruleId, f.state]).sort(), [['runtime.run-as-root', 'resolved'], ['runtime.writable-rootfs', 'open']]);
  await e.swap(next.ruleset);
  t.equal(emitted.length, 3, 'the same rules again: nothing new');
});
