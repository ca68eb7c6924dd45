import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  type CheckConfig,
  DEFAULT_PRIVILEGED_NAMESPACES,
  DEFAULT_SAFE_CAPABILITIES,
  DEFAULT_SENSITIVE_HOST_PATHS,
  containerFindings,
  isExpectedPrivileged,
  runtimeStatusFindings,
  sensitiveMount,
  socketFindings,
  unavailableFinding,
} from '../../../collectors/runtime/checks.js';
import type { ContainerRecord } from '../../../collectors/runtime/inventory.js';
import { type ContainerSecurity, parseVerboseInfo } from '../../../collectors/runtime/oci-spec.js';
import { fixturesDir } from '../../helpers/paths.js';

const cfg: CheckConfig = {
  node: 'node-1',
  runtimeName: 'containerd',
  socketPath: '/run/containerd/containerd.sock',
  privilegedNamespaces: DEFAULT_PRIVILEGED_NAMESPACES,
  safeCapabilities: DEFAULT_SAFE_CAPABILITIES,
  sensitiveHostPaths: DEFAULT_SENSITIVE_HOST_PATHS,
  apparmorEnabled: false,
};

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
  t.same(containerFindings(record({}), { ...cfg, apparmorEnabled: true }), []);
});

t.test('each check fires on the property built to trigger it', async (t) => {
  const cases: Array<[Partial<ContainerSecurity>, string]> = [
    [{ privileged: true }, 'runtime.privileged-container'],
    [{ hostPid: true }, 'runtime.host-pid'],
    [{ hostIpc: true }, 'runtime.host-ipc'],
    [{ hostNetwork: true }, 'runtime.host-network'],
    [{ capabilities: ['SYS_ADMIN'] }, 'runtime.added-capabilities'],
    [{ mounts: [{ source: '/etc/kubernetes', destination: '/k', readonly: true }] }, 'runtime.sensitive-host-mount'],
    [{ uid: 0 }, 'runtime.run-as-root'],
    [{ readonlyRootfs: false }, 'runtime.writable-rootfs'],
    [{ seccomp: 'unconfined' }, 'runtime.seccomp-unconfined'],
    [{ apparmor: 'unconfined' }, 'runtime.apparmor-unconfined'],
  ];
  for (const [sec, rule] of cases) {
    const fs = containerFindings(record(sec, { namespace: 'default', pod: 'web' }), { ...cfg, apparmorEnabled: true });
    t.same(ids(fs), [rule], rule);
    t.ok(fs[0]!.evidence && fs[0]!.remediation && fs[0]!.expected, `${rule} has evidence, expected and remediation`);
    t.not(fs[0]!.severity, 'info');
  }
});

t.test('privileged implies the rest: no separate capability or seccomp findings', async (t) => {
  const fs = containerFindings(record({ privileged: true, capabilities: ['SYS_ADMIN', 'NET_ADMIN'], seccomp: 'unconfined' }, { namespace: 'default' }), cfg);
  t.same(ids(fs), ['runtime.privileged-container']);
});

t.test('capability severity follows what the capability reaches', async (t) => {
  const low = containerFindings(record({ capabilities: ['NET_RAW', 'CHOWN'] }, { namespace: 'default' }), cfg);
  t.equal(low[0]!.severity, 'low');
  t.equal(low[0]!.cisId, '5.2.8');
  const high = containerFindings(record({ capabilities: ['SYS_PTRACE', 'CHOWN'] }, { namespace: 'default' }), cfg);
  t.equal(high[0]!.severity, 'high');
  t.equal(high[0]!.attributes?.['capabilities'], 'SYS_PTRACE');
  t.same(containerFindings(record({ capabilities: ['NET_RAW'] }), { ...cfg, safeCapabilities: ['CAP_NET_RAW'] }), [], 'configurable safe set, with or without CAP_');
});

t.test('AppArmor is only reported where the node enforces it', async (t) => {
  t.same(containerFindings(record({ apparmor: 'unset' }), cfg), []);
  t.same(ids(containerFindings(record({ apparmor: 'unset' }), { ...cfg, apparmorEnabled: true })), ['runtime.apparmor-unconfined']);
});

t.test('fingerprints name the workload, so a restarted container keeps its finding', async (t) => {
  const a = containerFindings(record({ uid: 0 }, { id: '1'.repeat(64) }), cfg)[0]!;
  const b = containerFindings(record({ uid: 0 }, { id: '2'.repeat(64) }), cfg)[0]!;
  t.equal(a.fingerprint, 'runtime:run-as-root:kube-system/app-7d9f/app');
  t.equal(a.fingerprint, b.fingerprint);
  const m = containerFindings(record({ mounts: [{ source: '/etc', destination: '/e', readonly: false }, { source: '/proc', destination: '/p', readonly: true }] }), cfg);
  t.same(m.map((f) => f.fingerprint), ['runtime:sensitive-host-mount:kube-system/app-7d9f/app:/etc', 'runtime:sensitive-host-mount:kube-system/app-7d9f/app:/proc'], 'one per mount');
});

t.test('findings carry the container and Kubernetes context', async (t) => {
  const f = containerFindings(record({ uid: 0 }), cfg)[0]!;
  t.equal(f.source, 'runtime');
  t.same(f.kubernetes, { namespace: 'kube-system', pod: 'app-7d9f', podUid: 'uid-1', container: 'app' });
  t.equal(f.container?.id, 'a'.repeat(64));
  t.equal(f.container?.image, 'example/app:1');
  t.equal(f.container?.runtime, 'containerd');
  t.equal(f.attributes?.['node'], 'node-1');
});

t.test('only running containers have findings', async (t) => {
  for (const state of ['created', 'exited', 'unknown'] as const) t.same(containerFindings(record({ privileged: true }, { state }), cfg), [], state);
});

t.test('expected privilege (allow-list) is info, not an alarm', async (t) => {
  const kp = containerFindings(record({ privileged: true, hostNetwork: true }, { pod: 'kube-proxy-x7k2p', name: 'kube-proxy' }), cfg);
  t.same(kp.map((f) => f.severity), ['info', 'info']);
  t.ok(kp.every((f) => f.tags?.includes('expected')));
  const miner = containerFindings(record({ privileged: true }, { pod: 'kube-proxy2-miner', name: 'x', namespace: 'default' }), cfg);
  t.equal(miner[0]!.severity, 'high', 'same name pattern in another namespace is an alarm');
  const other = containerFindings(record({ privileged: true }, { pod: 'metrics-agent' }), cfg);
  t.equal(other[0]!.severity, 'high', 'a privileged kube-system pod not on the list is an alarm');
});

t.test('allow-list patterns', async (t) => {
  t.ok(isExpectedPrivileged(['kube-system'], 'kube-system', 'anything', 'c'));
  t.ok(isExpectedPrivileged(['kube-system/kube-proxy*'], 'kube-system', 'kube-proxy-abcde', 'kube-proxy'));
  t.notOk(isExpectedPrivileged(['kube-system/kube-proxy*'], 'kube-system', 'coredns-1', 'coredns'));
  t.ok(isExpectedPrivileged(['kube-system/cilium-*/cilium-agent'], 'kube-system', 'cilium-x1', 'cilium-agent'));
  t.notOk(isExpectedPrivileged(['kube-system/cilium-*/cilium-agent'], 'kube-system', 'cilium-x1', 'sidecar'));
  t.notOk(isExpectedPrivileged(['kube-system/a.b'], 'kube-system', 'aXb', 'c'), 'dots are literal');
});

t.test('containers outside the CRI or without kubelet labels are alarms, allow-list or not', async (t) => {
  const hidden = containerFindings(record({}, { origin: 'outside-cri', runtimeNamespace: 'k8s.io', id: 'hidden-1', name: 'hidden-1', namespace: '', pod: '', kubeLabelled: false }), cfg);
  t.same(ids(hidden), ['runtime.unmanaged-container']);
  t.equal(hidden[0]!.fingerprint, 'runtime:unmanaged-container:outside-cri/k8s.io/hidden-1');
  t.equal(hidden[0]!.kubernetes, undefined);
  const crictl = containerFindings(record({}, { kubeLabelled: false, pod: 'kube-proxy-1', labels: {} }), cfg);
  t.same(ids(crictl), ['runtime.unmanaged-container']);
  t.equal(crictl[0]!.severity, 'high', 'not downgraded by the allow-list');
  t.same(ids(containerFindings(record(undefined, { origin: 'outside-cri', runtimeNamespace: 'default', kubeLabelled: false }), cfg)), ['runtime.unmanaged-container'], 'reported even before its spec is read');
});

t.test('sensitive host paths', async (t) => {
  const s = (p: string) => sensitiveMount(p, cfg);
  t.equal(s('/run/containerd/containerd.sock')?.kind, 'socket');
  t.equal(s('/var/run/containerd/containerd.sock')?.kind, 'socket', '/var/run is /run');
  t.equal(s('/run/containerd')?.kind, 'socket', 'a folder holding the socket');
  t.equal(s('/run')?.kind, 'socket');
  t.equal(s('/')?.kind, 'root');
  t.equal(s('/etc/kubernetes/pki')?.kind, 'credentials');
  t.equal(s('/etc')?.kind, 'credentials', '/etc holds /etc/kubernetes');
  t.equal(s('/var/lib/kubelet')?.kind, 'credentials');
  t.equal(s('/var')?.reason, 'contains /var/lib/kubelet');
  t.equal(s('/proc')?.kind, 'system');
  t.equal(s('/etc/ssl/certs')?.kind, 'system');
  t.equal(s('/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~projected/token'), null, "the pod's own kubelet folders");
  t.equal(s('/var/lib/kubelet/pods')?.kind, 'credentials', 'but not every pod at once');
  t.equal(s('/lib/modules'), null);
  t.equal(s('/data/app'), null);
  t.equal(s('relative/path'), null);
  t.equal(s('/etc/../etc/kubernetes')?.kind, 'credentials', 'normalised');
});

t.test('mount severity: the socket is critical even read-only', async (t) => {
  const sev = (source: string, readonly: boolean) =>
    containerFindings(record({ mounts: [{ source, destination: '/m', readonly }] }, { namespace: 'default' }), cfg)[0]!.severity;
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
  const fs = containerFindings(record(parsed.value.security, { pod: 'kube-proxy-x7k2p', name: 'kube-proxy' }), cfg);
  t.same(ids(fs), ['runtime.host-network', 'runtime.privileged-container', 'runtime.run-as-root', 'runtime.sensitive-host-mount', 'runtime.writable-rootfs']);
  t.ok(fs.every((f) => f.severity === 'info'));
});

t.test('runtime conditions', async (t) => {
  t.same(runtimeStatusFindings([{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: true, reason: '', message: '' }], cfg), []);
  const fs = runtimeStatusFindings([{ type: 'RuntimeReady', status: true, reason: '', message: '' }, { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'cni plugin not initialized' }], cfg);
  t.same(ids(fs), ['runtime.network-not-ready']);
  t.equal(fs[0]!.fingerprint, 'runtime:network-not-ready:node-1');
  t.match(fs[0]!.message, /cni plugin not initialized/);
  t.same(ids(runtimeStatusFindings([], cfg)), ['runtime.network-not-ready', 'runtime.runtime-not-ready'], 'missing conditions are not ready');
});

t.test('runtime socket permissions', async (t) => {
  t.same(socketFindings({ mode: 0o140660, uid: 0, gid: 0 }, cfg), []);
  t.same(socketFindings({ mode: 0o140600, uid: 0, gid: 0 }, cfg), []);
  t.same(socketFindings(null, cfg), []);
  const wide = socketFindings({ mode: 0o140666, uid: 0, gid: 0 }, cfg);
  t.equal(wide[0]!.severity, 'critical');
  t.match(wide[0]!.evidence, /mode 0666/);
  t.equal(wide[0]!.file?.kind, 'socket');
  t.equal(socketFindings({ mode: 0o140670, uid: 0, gid: 0 }, cfg)[0]!.severity, 'high', 'group-executable: wider, not world-open');
  t.match(socketFindings({ mode: 0o140660, uid: 1000, gid: 0 }, cfg)[0]!.message, /owner uid 1000 is not root/);
});

t.test('the unavailable finding names the socket', async (t) => {
  const f = unavailableFinding(cfg, 'connect ENOENT');
  t.equal(f.fingerprint, 'runtime:unavailable:node-1');
  t.match(f.message, /containerd\.sock/);
});

t.test('a running container whose settings could not be read is a finding, not silence', async (t) => {
  const c = record(undefined, { detailError: 'verbose info is not a JSON object' });
  const fs = containerFindings(c, cfg);
  t.same(ids(fs), ['runtime.container-uninspectable']);
  t.equal(fs[0]!.evidence, 'verbose info is not a JSON object');
  t.same(ids(containerFindings(record(undefined), cfg)), [], 'not yet inspected (no error) is not a finding');
});
