// The runtime collector's observations: the runtime itself (conditions, socket) and each running
// container (identity, security settings, mounts), as typed data for the rules in
// rules/packs/runtime.yaml. No judgement here: which settings are risky, and how much, is policy
// and lives in the pack. The facts computed here are those a rule cannot compute for itself:
// a mount's host path normalised, whether it holds the runtime socket, whether it is the pod's own
// kubelet folder.

import { UNKNOWN_ID, normaliseHostPath, type MountObservation, type RuntimeFacts, type RuntimeObservation } from '../../core/observation.js';
import type { ContainerRecord } from './inventory.js';
import type { ContainerSecurity } from './oci-spec.js';

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface SocketStat {
  mode: number;
  uid: number;
  gid: number;
}

const MAX_LABELS_JSON = 2048;

/** The runtime's facts from one refresh (or from a failed one: `error` says why). */
export function runtimeFacts(o: {
  name: string;
  version: string;
  socket: string;
  error?: string;
  conditions?: RuntimeCondition[];
  socketStat?: SocketStat | null;
  apparmorEnforced: boolean;
}): RuntimeFacts {
  const cond = (type: string): { ready: boolean; detail: string } => {
    const c = o.conditions?.find((x) => x.type === type);
    if (!c) return { ready: false, detail: 'absent' };
    return { ready: c.status, detail: c.status ? '' : [c.reason, c.message].filter(Boolean).join(': ') || 'false, no reason given' };
  };
  const rt = cond('RuntimeReady');
  const net = cond('NetworkReady');
  const st = o.socketStat ?? null;
  return {
    name: o.name,
    version: o.version,
    socket: o.socket,
    reachable: o.error === undefined,
    error: o.error ?? '',
    runtimeReady: rt.ready,
    networkReady: net.ready,
    runtimeReadyDetail: rt.detail,
    networkReadyDetail: net.detail,
    socketFound: st !== null,
    socketMode: st ? st.mode & 0o7777 : 0,
    socketUid: st ? st.uid : UNKNOWN_ID,
    socketGid: st ? st.gid : UNKNOWN_ID,
    apparmorEnforced: o.apparmorEnforced,
  };
}

const NO_CONTAINER: RuntimeObservation['container'] = Object.freeze({
  id: '', name: '', image: '', imageDigest: '', sandboxId: '', origin: '', runtimeNamespace: '', state: '', pid: 0,
  kubeLabelled: false, labels: '', inspected: false, inspectError: '',
});
const NO_POD: RuntimeObservation['kubernetes'] = Object.freeze({ namespace: '', pod: '', podUid: '', container: '' });
const NO_SECURITY: RuntimeObservation['security'] = Object.freeze({
  privileged: false, privilegedFrom: '', hostPid: false, hostIpc: false, hostNetwork: false, capabilities: [],
  uid: UNKNOWN_ID, gid: UNKNOWN_ID, readonlyRootfs: false, noNewPrivileges: false, seccomp: '', seccompDefaultAction: '',
  apparmor: '', apparmorProfile: '',
});

/** The observation about the runtime itself. */
export function runtimeObservation(node: string, runtime: RuntimeFacts): RuntimeObservation {
  return { kind: 'runtime', key: node, subject: 'runtime', node, runtime, container: NO_CONTAINER, kubernetes: NO_POD, security: NO_SECURITY, mounts: [] };
}

/** The object part of a container's fingerprints: its names, so a restarted container is the same problem. */
export function workloadKey(c: ContainerRecord): string {
  return c.origin === 'cri' ? `${c.namespace}/${c.pod}/${c.name}` : `outside-cri/${c.runtimeNamespace ?? ''}/${c.id}`;
}

/** The observation about one container. */
export function containerObservation(c: ContainerRecord, node: string, runtime: RuntimeFacts): RuntimeObservation {
  let labels = JSON.stringify(c.labels);
  if (labels.length > MAX_LABELS_JSON) labels = `${labels.slice(0, MAX_LABELS_JSON)}…`;
  const s = c.security;
  return {
    kind: 'runtime',
    key: workloadKey(c),
    subject: 'container',
    node,
    runtime,
    container: {
      id: c.id, name: c.name, image: c.image, imageDigest: c.imageDigest, sandboxId: c.sandboxId, origin: c.origin,
      runtimeNamespace: c.runtimeNamespace ?? '', state: c.state, pid: c.pid, kubeLabelled: c.kubeLabelled, labels,
      inspected: s !== undefined, inspectError: s ? '' : c.detailError ?? '',
    },
    kubernetes: c.origin === 'cri' ? { namespace: c.namespace, pod: c.pod, podUid: c.podUid, container: c.name } : NO_POD,
    security: s ? securityOf(s) : NO_SECURITY,
    mounts: s ? s.mounts.filter((m) => m.source.startsWith('/')).map((m) => mountOf(m, runtime.socket)) : [],
  };
}

function securityOf(s: ContainerSecurity): RuntimeObservation['security'] {
  return {
    privileged: s.privileged,
    privilegedFrom: s.privileged ? (s.privilegedFrom === 'cri-config' ? 'the CRI security context' : 'the OCI spec: CAP_SYS_ADMIN and no masked paths') : '',
    hostPid: s.hostPid, hostIpc: s.hostIpc, hostNetwork: s.hostNetwork,
    capabilities: s.capabilities,
    uid: s.uid ?? UNKNOWN_ID, gid: s.gid ?? UNKNOWN_ID,
    readonlyRootfs: s.readonlyRootfs, noNewPrivileges: s.noNewPrivileges,
    seccomp: s.seccomp, seccompDefaultAction: s.seccompDefaultAction ?? '',
    apparmor: s.apparmor, apparmorProfile: s.apparmorProfile ?? '',
  };
}

const under = (p: string, dir: string): boolean => dir === '/' || p === dir || p.startsWith(`${dir}/`);

function mountOf(m: { source: string; destination: string; readonly: boolean }, socket: string): MountObservation {
  const hostPath = normaliseHostPath(m.source);
  return {
    source: m.source,
    hostPath,
    destination: m.destination,
    readonly: m.readonly,
    holdsRuntimeSocket: socket !== '' && under(normaliseHostPath(socket), hostPath),
    podData: /^\/var\/lib\/kubelet\/pods\/[^/]+\/.+/.test(hostPath),
  };
}
