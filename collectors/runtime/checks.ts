// The runtime checks, as pure functions: a container record (or runtime status, or socket stat)
// in, findings out. No I/O, so every check is tested on plain data. The lifecycle (open/resolve)
// is applied by the collector; here a finding exists exactly while the problem does.
//
// Fingerprints name the workload, not the container id: `runtime:<check>:<ns>/<pod>/<container>`.
// A restarted container gets a new id but is the same problem, so its finding stays open instead
// of resolving and re-opening on every crash loop. Containers outside the CRI have no names and
// are keyed `outside-cri/<containerd namespace>/<id>` (ctr ids are chosen by whoever ran them).

import path from 'node:path';
import type { Finding, Severity } from '../../core/finding.js';
import { type ContainerRecord, containerInfo, kubernetesInfo } from './inventory.js';

export interface CheckConfig {
  node: string;
  runtimeName: string;
  /** Host path of the runtime socket the agent talks to. */
  socketPath: string;
  /** `namespace`, `namespace/pod-glob` or `namespace/pod-glob/container-glob` expected to be privileged. */
  privilegedNamespaces: string[];
  /** Capabilities a container may hold without a finding (names without CAP_). */
  safeCapabilities: string[];
  /** Host paths whose mounting into a container is reported. */
  sensitiveHostPaths: string[];
  /** Report unset/unconfined AppArmor only where the host kernel enforces AppArmor. */
  apparmorEnabled: boolean;
}

/** Kubernetes Pod Security Standards "baseline" allowed set: the capabilities that cannot reach the host. */
export const DEFAULT_SAFE_CAPABILITIES = [
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
];

/** Capabilities that lead to the host or to other containers: any of them makes the finding high. */
const DANGEROUS_CAPABILITIES = new Set([
  'SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_BOOT', 'SYS_TIME', 'DAC_READ_SEARCH',
  'NET_ADMIN', 'BPF', 'PERFMON', 'MAC_ADMIN', 'MAC_OVERRIDE', 'LINUX_IMMUTABLE', 'SYSLOG', 'SYS_RESOURCE',
]);

export const DEFAULT_SENSITIVE_HOST_PATHS = ['/', '/etc', '/proc', '/var/run', '/run', '/var/lib/kubelet', '/etc/kubernetes', '/sys', '/dev', '/root', '/home', '/var/lib/containerd'];

/**
 * Workloads whose privileges are expected: node networking (kube-proxy, CNI agents), CSI node
 * plugins and static control-plane pods. Their risk is reported once, as info, never as an alarm.
 * Anything else in kube-system that is privileged is an alarm: that is where attackers hide.
 */
export const DEFAULT_PRIVILEGED_NAMESPACES = [
  'kube-system/kube-proxy*',
  'kube-system/calico-node*',
  'calico-system/calico-node*',
  'kube-system/cilium*',
  'kube-system/kube-flannel*',
  'kube-flannel/kube-flannel*',
  'kube-system/aws-node*',
  'kube-system/weave-net*',
  'kube-system/kube-router*',
  'kube-system/antrea-agent*',
  'kube-system/ebs-csi-node*',
  'kube-system/etcd-*',
  'kube-system/kube-apiserver-*',
  'kube-system/kube-controller-manager-*',
  'kube-system/kube-scheduler-*',
  'nodewarden/*',
];

const PSS = 'https://kubernetes.io/docs/concepts/security/pod-security-standards/';

/** Compiled globs; patterns come from config, so the cache stays as small as the allow-list. */
const globCache = new Map<string, RegExp>();

function glob(pattern: string, s: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    let src = '^';
    for (const ch of pattern) src += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
    re = new RegExp(src + '$');
    if (globCache.size < 4096) globCache.set(pattern, re);
  }
  return re.test(s);
}

/** Whether a pod's container is on the allow-list of expected privilege. */
export function isExpectedPrivileged(patterns: string[], namespace: string, pod: string, container: string): boolean {
  return patterns.some((p) => {
    const [ns, podGlob = '*', containerGlob = '*'] = p.split('/');
    return ns !== undefined && glob(ns, namespace) && glob(podGlob, pod) && glob(containerGlob, container);
  });
}

/** The object part of a fingerprint. */
export function workloadKey(c: ContainerRecord): string {
  return c.origin === 'cri' ? `${c.namespace}/${c.pod}/${c.name}` : `outside-cri/${c.runtimeNamespace ?? ''}/${c.id}`;
}

function describeWorkload(c: ContainerRecord): string {
  return c.origin === 'cri'
    ? `container ${c.name} of pod ${c.namespace}/${c.pod}`
    : `container ${c.id} (containerd namespace ${c.runtimeNamespace ?? '?'}, outside the CRI)`;
}

interface Draft {
  check: string;
  severity: Severity;
  title: string;
  message: string;
  evidence: string;
  expected: string;
  remediation: string;
  mitre?: string[];
  cisId?: string;
  /** Extra fingerprint part, when one container can have several (mounts). */
  suffix?: string;
  attributes?: Record<string, string>;
  /** Checks about hiding from the kubelet are never downgraded by the allow-list. */
  alwaysAlarm?: boolean;
}

/** Findings for one container; only a running container has any. */
export function containerFindings(c: ContainerRecord, cfg: CheckConfig): Finding[] {
  if (c.state !== 'running') return [];
  const drafts: Draft[] = [];
  const who = describeWorkload(c);

  if (c.origin === 'outside-cri') {
    drafts.push({
      check: 'unmanaged-container',
      severity: 'high',
      title: 'Container running outside the CRI',
      message: `A ${who} is running that the kubelet did not create and the CRI does not list.`,
      evidence: `containerd task ${c.runtimeNamespace}/${c.id} pid ${c.pid || 'unknown'} has no CRI record`,
      expected: 'Every container on a Kubernetes node is created by the kubelet through the CRI.',
      remediation: `Find who started it (ctr/nerdctl history, audit logs), then remove it: ctr -n ${c.runtimeNamespace} task kill ${c.id}; ctr -n ${c.runtimeNamespace} container rm ${c.id}. Restrict access to the runtime socket.`,
      mitre: ['T1610', 'T1564'],
      alwaysAlarm: true,
    });
  } else if (!c.kubeLabelled) {
    drafts.push({
      check: 'unmanaged-container',
      severity: 'high',
      title: 'Container without Kubernetes labels',
      message: `The ${who} carries no io.kubernetes.* labels: it was created through the CRI by something other than the kubelet.`,
      evidence: `labels: ${JSON.stringify(c.labels)}`,
      expected: 'The kubelet labels every container it creates with io.kubernetes.pod.name and io.kubernetes.container.name.',
      remediation: 'Find who created it (crictl on the node, a tool holding the runtime socket) and remove it with crictl stop/rm.',
      mitre: ['T1610', 'T1564'],
      alwaysAlarm: true,
    });
  }

  const s = c.security;
  if (!s && c.detailError) {
    // Not checked is not the same as fine: say that this container's settings are unknown.
    drafts.push({
      check: 'container-uninspectable',
      severity: 'medium',
      title: 'Container settings could not be inspected',
      message: `The ${who} is running, but the runtime's verbose status for it could not be read, so its privileges, namespaces, capabilities and mounts are unchecked.`,
      evidence: c.detailError,
      expected: 'ContainerStatus(verbose) returns the OCI spec of every running container.',
      remediation: 'Check the runtime (crictl inspect <id>); the agent retries on every refresh.',
      alwaysAlarm: true,
    });
  }
  if (s) {
    if (s.privileged) {
      drafts.push({
        check: 'privileged-container',
        severity: 'high',
        title: 'Privileged container',
        message: `The ${who} runs privileged: all capabilities, no seccomp or AppArmor, every host device.`,
        evidence: `privileged=true (from the ${s.privilegedFrom === 'cri-config' ? 'CRI security context' : 'OCI spec: CAP_SYS_ADMIN and no masked paths'})`,
        expected: 'privileged: false',
        remediation: 'Set securityContext.privileged: false and grant only the capabilities the workload needs.',
        mitre: ['T1611'],
        cisId: '5.2.2',
      });
    }
    const ns: Array<[boolean, string, string, string]> = [
      [s.hostPid, 'host-pid', 'PID', '5.2.3'],
      [s.hostIpc, 'host-ipc', 'IPC', '5.2.4'],
      [s.hostNetwork, 'host-network', 'network', '5.2.5'],
    ];
    for (const [on, check, kind, cis] of ns) {
      if (!on) continue;
      drafts.push({
        check,
        severity: kind === 'network' ? 'medium' : 'high',
        title: `Container shares the host ${kind} namespace`,
        message: `The ${who} runs in the node's ${kind} namespace.`,
        evidence: `${kind} namespace: host`,
        expected: `host${kind === 'PID' ? 'PID' : kind === 'IPC' ? 'IPC' : 'Network'}: false`,
        remediation: `Remove host${kind === 'PID' ? 'PID' : kind === 'IPC' ? 'IPC' : 'Network'}: true from the pod spec.`,
        mitre: ['T1611'],
        cisId: cis,
      });
    }
    if (!s.privileged) {
      const safe = new Set(cfg.safeCapabilities.map((x) => x.toUpperCase().replace(/^CAP_/, '')));
      const extra = s.capabilities.filter((x) => !safe.has(x));
      if (extra.length > 0) {
        const dangerous = extra.filter((x) => DANGEROUS_CAPABILITIES.has(x));
        drafts.push({
          check: 'added-capabilities',
          severity: dangerous.length > 0 ? 'high' : 'low',
          title: 'Container holds capabilities beyond the safe set',
          message: `The ${who} holds ${extra.map((x) => 'CAP_' + x).join(', ')}.`,
          evidence: `effective capabilities: ${s.capabilities.join(' ') || '(none)'}`,
          expected: `only ${[...safe].sort().join(' ')}`,
          remediation: `Drop them: securityContext.capabilities.drop: [ALL] and add back only what is needed (see ${PSS}).`,
          mitre: dangerous.length > 0 ? ['T1611', 'T1068'] : undefined,
          cisId: extra.includes('NET_RAW') && extra.length === 1 ? '5.2.8' : '5.2.9',
          attributes: { capabilities: extra.join(',') },
        });
      }
      if (s.seccomp === 'unconfined') {
        drafts.push({
          check: 'seccomp-unconfined',
          severity: 'medium',
          title: 'Container runs without seccomp',
          message: `The ${who} has no seccomp filter: every system call reaches the kernel.`,
          evidence: s.seccompDefaultAction ? `seccomp defaultAction ${s.seccompDefaultAction} with no rules` : 'no seccomp profile in the OCI spec',
          expected: 'seccompProfile: RuntimeDefault',
          remediation: 'Set securityContext.seccompProfile.type: RuntimeDefault (or the kubelet flag --seccomp-default).',
          mitre: ['T1611'],
          cisId: '5.7.2',
        });
      }
      if (cfg.apparmorEnabled && s.apparmor !== 'confined') {
        drafts.push({
          check: 'apparmor-unconfined',
          severity: 'medium',
          title: 'Container runs without AppArmor',
          message: `The ${who} is not confined by AppArmor although the node enforces it.`,
          evidence: s.apparmor === 'unset' ? 'no AppArmor profile in the OCI spec' : `AppArmor profile ${s.apparmorProfile}`,
          expected: 'appArmorProfile: RuntimeDefault',
          remediation: 'Set securityContext.appArmorProfile.type: RuntimeDefault.',
          mitre: ['T1611'],
        });
      }
    }
    for (const m of s.mounts) {
      const hit = sensitiveMount(m.source, cfg);
      if (!hit) continue;
      drafts.push({
        check: 'sensitive-host-mount',
        severity: mountSeverity(hit.kind, m.readonly),
        title: `Sensitive host path mounted ${m.readonly ? 'read-only' : 'writable'}`,
        message: `The ${who} mounts host ${m.source} at ${m.destination}${m.readonly ? ' read-only' : ' writable'}${hit.reason ? ` (${hit.reason})` : ''}.`,
        evidence: `mount ${m.source} -> ${m.destination} ${m.readonly ? 'ro' : 'rw'}`,
        expected: 'no hostPath volume on node system paths',
        remediation: hit.kind === 'socket'
          ? 'Remove the runtime socket mount: whoever reaches it controls every container on the node.'
          : 'Remove the hostPath volume, or mount the narrowest path read-only.',
        mitre: hit.kind === 'socket' ? ['T1611', 'T1610'] : ['T1611'],
        cisId: '5.2.12',
        suffix: m.source,
        attributes: { hostPath: m.source, containerPath: m.destination, readonly: String(m.readonly) },
      });
    }
    if (s.uid === 0) {
      drafts.push({
        check: 'run-as-root',
        severity: 'medium',
        title: 'Container runs as root',
        message: `The ${who} runs as uid 0.`,
        evidence: `process user uid=0 gid=${s.gid ?? '?'}`,
        expected: 'runAsNonRoot: true with a non-zero runAsUser',
        remediation: 'Set securityContext.runAsNonRoot: true and runAsUser to a non-zero uid.',
        cisId: '5.2.7',
      });
    }
    if (!s.readonlyRootfs) {
      drafts.push({
        check: 'writable-rootfs',
        severity: 'low',
        title: 'Container root filesystem is writable',
        message: `The ${who} can write to its root filesystem: dropped tools and modified binaries persist for its lifetime.`,
        evidence: 'OCI spec root.readonly is not true',
        expected: 'readOnlyRootFilesystem: true',
        remediation: 'Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where writes are needed.',
      });
    }
  }

  const expectedRisk = c.origin === 'cri' && isExpectedPrivileged(cfg.privilegedNamespaces, c.namespace, c.pod, c.name);
  const base = workloadKey(c);
  return drafts.map((d) => {
    const downgraded = expectedRisk && !d.alwaysAlarm;
    const f: Finding = {
      source: 'runtime',
      ruleId: `runtime.${d.check}`,
      severity: downgraded ? 'info' : d.severity,
      title: downgraded ? `${d.title} (expected for this workload)` : d.title,
      message: downgraded ? `${d.message} The workload is on the privileged allow-list, so this is expected.` : d.message,
      fingerprint: `runtime:${d.check}:${base}${d.suffix ? ':' + d.suffix : ''}`,
      evidence: d.evidence,
      expected: d.expected,
      remediation: d.remediation,
      tags: downgraded ? ['container', 'expected'] : ['container'],
      container: containerInfo(c, cfg.runtimeName),
      attributes: { ...(d.attributes ?? {}), node: cfg.node, ...(downgraded ? { allowListed: 'true' } : {}) },
    };
    if (d.mitre) f.mitre = d.mitre;
    if (d.cisId) f.cisId = d.cisId;
    const k = kubernetesInfo(c);
    if (k) f.kubernetes = k;
    return f;
  });
}

type SensitiveKind = 'root' | 'socket' | 'credentials' | 'system';

function norm(p: string): string {
  let n = path.posix.normalize(p || '/');
  if (n.length > 1 && n.endsWith('/')) n = n.slice(0, -1);
  // /var/run is a symlink to /run on every current distribution: compare one spelling.
  if (n === '/var/run' || n.startsWith('/var/run/')) n = '/run' + n.slice('/var/run'.length);
  return n;
}

const under = (p: string, dir: string): boolean => dir === '/' || p === dir || p.startsWith(dir + '/');

/** Whether a bind source is sensitive, and why. Exported for tests. */
export function sensitiveMount(source: string, cfg: Pick<CheckConfig, 'sensitiveHostPaths' | 'socketPath'>): { kind: SensitiveKind; reason?: string } | null {
  if (!source.startsWith('/')) return null;
  const src = norm(source);
  const socket = norm(cfg.socketPath);
  // The kubelet's per-pod folders (volumes, etc-hosts, termination logs) belong to the pod itself.
  if (/^\/var\/lib\/kubelet\/pods\/[^/]+\/.+/.test(src)) return null;
  // "/" holds the socket too: read-only or not, it is the whole node.
  if (src === '/') return { kind: 'root', reason: 'the whole host filesystem, runtime socket included' };
  if (under(socket, src)) return { kind: 'socket', reason: src === socket ? 'the container runtime socket' : `contains the runtime socket ${cfg.socketPath}` };
  const paths = cfg.sensitiveHostPaths.map(norm).filter((s) => s !== '/');
  const isCred = (s: string): boolean => s === '/etc/kubernetes' || s === '/var/lib/kubelet';
  // A source that is or holds a credentials folder (/etc, /var, /etc/kubernetes) exposes them.
  for (const s of paths.filter(isCred)) {
    if (under(s, src)) return { kind: 'credentials', reason: src === s ? undefined : `contains ${s}` };
  }
  // A source under a sensitive path: most specific first, so /etc/kubernetes/pki is "credentials".
  for (const s of [...paths].sort((a, b) => b.length - a.length)) {
    if (under(src, s)) return { kind: isCred(s) ? 'credentials' : 'system', reason: src === s ? undefined : `under ${s}` };
  }
  for (const s of paths) {
    if (under(s, src)) return { kind: 'system', reason: `contains ${s}` };
  }
  return null;
}

function mountSeverity(kind: SensitiveKind, readonly: boolean): Severity {
  if (kind === 'socket') return 'critical'; // read-only does not stop connect(2)
  if (kind === 'root') return 'critical';
  if (kind === 'credentials') return 'high';
  return readonly ? 'medium' : 'high';
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** RuntimeReady and NetworkReady, the two conditions the kubelet requires. */
export function runtimeStatusFindings(conditions: RuntimeCondition[], cfg: Pick<CheckConfig, 'node' | 'runtimeName' | 'socketPath'>): Finding[] {
  const out: Finding[] = [];
  const wanted: Array<[string, string, string]> = [
    ['RuntimeReady', 'runtime-not-ready', 'Container runtime not ready'],
    ['NetworkReady', 'network-not-ready', 'Container runtime network not ready'],
  ];
  for (const [type, check, title] of wanted) {
    const c = conditions.find((x) => x.type === type);
    if (c?.status === true) continue;
    out.push({
      source: 'runtime',
      ruleId: `runtime.${check}`,
      severity: check === 'runtime-not-ready' ? 'high' : 'medium',
      title,
      message: `${cfg.runtimeName} reports ${type}=${c ? 'false' : 'missing'}${c?.reason ? ` (${c.reason})` : ''}: ${c?.message || 'no message'}.`,
      fingerprint: `runtime:${check}:${cfg.node}`,
      evidence: c ? `condition ${type} status=false reason=${c.reason} message=${c.message}` : `condition ${type} absent from Status`,
      expected: `${type}=true`,
      remediation: check === 'network-not-ready'
        ? 'Check the CNI plugin (its DaemonSet pod, /etc/cni/net.d, the runtime log): pods cannot get a network until it is ready.'
        : 'Check the runtime service and its log (journalctl -u containerd or crio).',
      tags: ['runtime'],
      attributes: { node: cfg.node, socket: cfg.socketPath },
    });
  }
  return out;
}

export interface SocketStat {
  mode: number;
  uid: number;
  gid: number;
}

/** The runtime socket must be 0660 or narrower and owned by root: anyone who can connect owns the node. */
export function socketFindings(stat: SocketStat | null, cfg: Pick<CheckConfig, 'node' | 'socketPath'>): Finding[] {
  if (!stat) return [];
  const perm = stat.mode & 0o7777;
  const wide = (perm & ~0o660) !== 0;
  const notRoot = stat.uid !== 0;
  if (!wide && !notRoot) return [];
  const problems = [wide ? `mode ${perm.toString(8).padStart(4, '0')} is wider than 0660` : '', notRoot ? `owner uid ${stat.uid} is not root` : '']
    .filter(Boolean)
    .join(' and ');
  return [
    {
      source: 'runtime',
      ruleId: 'runtime.socket-permissions',
      severity: (perm & 0o006) !== 0 || notRoot ? 'critical' : 'high',
      title: 'Container runtime socket is too open',
      message: `The runtime socket ${cfg.socketPath}: ${problems}. Whoever can connect to it can start a privileged container.`,
      fingerprint: `runtime:socket-permissions:${cfg.node}:${cfg.socketPath}`,
      evidence: `mode ${perm.toString(8).padStart(4, '0')} uid ${stat.uid} gid ${stat.gid}`,
      expected: 'mode 0660 or narrower, owner root',
      remediation: `chown root ${cfg.socketPath} && chmod 0660 ${cfg.socketPath}, and fix whatever widened it (the runtime's [grpc] uid/gid settings).`,
      mitre: ['T1611', 'T1610'],
      tags: ['runtime'],
      file: { path: cfg.socketPath, exists: true, mode: perm, uid: stat.uid, gid: stat.gid, kind: 'socket' },
      attributes: { node: cfg.node },
    },
  ];
}

export function unavailableFinding(cfg: Pick<CheckConfig, 'node' | 'socketPath'>, error: string): Finding {
  return {
    source: 'runtime',
    ruleId: 'runtime.unavailable',
    severity: 'high',
    title: 'Container runtime unreachable',
    message: `The agent cannot reach the container runtime at ${cfg.socketPath || '(no socket found)'}: ${error}. Container state is not being checked.`,
    fingerprint: `runtime:unavailable:${cfg.node}`,
    evidence: error,
    expected: 'the CRI answers on its socket',
    remediation: 'Check the runtime service (systemctl status containerd / crio) and the --cri-socket setting.',
    tags: ['runtime'],
    attributes: { node: cfg.node, socket: cfg.socketPath },
  };
}
