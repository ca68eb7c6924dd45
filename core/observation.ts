// What collectors observe, as typed data that rules read. Collectors build observations and
// hand them on; rules (rules/) decide which of them are findings. Neither side imports the other:
// both read these types. Every field is always present (an empty string, 0 or false when not
// known or not applicable), so a rule's condition never fails on a missing key; `inContainer`
// and `kubernetes.namespace != ''` say whether the container and pod parts mean anything.
//
// The schema is documented field by field in docs/observations.md; rule conditions (CEL) are
// type-checked against it when rules load (rules/schema.ts), so a change here is a change to a
// public contract.

import path from 'node:path';
import type { Finding } from './finding.js';

/** An id the kernel or /proc did not give (audit's unset and unknown): never a real uid. */
export const UNKNOWN_ID = 4294967295;

export interface ProcessObservation {
  pid: number;
  /** 0 when it could not be learnt. */
  ppid: number;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  /** The login uid (who logged in, through su and sudo); UNKNOWN_ID when unset. */
  auid: number;
  /** Absolute path of the executable file. */
  exe: string;
  /** Basename of exe. */
  exeName: string;
  /** What the program acts as: basename of argv[0] (busybox applets), else comm, else exeName. */
  name: string;
  comm: string;
  argv: string[];
  /** argv[1..] joined with spaces (at most 4,096 characters): for matching arguments as text. */
  args: string;
  argvTruncated: boolean;
  /** The exec source could not read the command line (the process was already gone). */
  argvMissing: boolean;
  cwd: string;
  /** Target of fd 0 and fd 1 ("socket:[123]", "pipe:[9]", "/dev/pts/0"); '' when not read. */
  stdin: string;
  stdout: string;
  /** stdin or stdout is a terminal (/dev/pts/N, /dev/ttyN, /dev/console). */
  tty: boolean;
  /** Runs from no file on disk: a memfd (memfd_create) or a deleted executable. */
  fileless: boolean;
  /**
   * In a container, with a parent outside it: put into the container from the host (the runtime
   * starting it or exec'ing into it: runc init, an exec probe, kubectl exec), not started by the
   * workload. A process in a container cannot forge it.
   */
  enteredFromHost: boolean;
  /** The exec source that saw it: bpf, audit, connector or poller. */
  capture: string;
}

export interface AncestorObservation {
  pid: number;
  /** Real and effective user id (UNKNOWN_ID when unknown). */
  uid: number;
  euid: number;
  exe: string;
  /** Basename of argv[0], else comm, else of exe. */
  name: string;
  comm: string;
  argv: string[];
}

export interface ContainerObservation {
  /** The runtime's container id; '' on the host. */
  id: string;
  name: string;
  image: string;
  imageDigest: string;
  /** 'cri' (the kubelet's), 'outside-cri' (ctr run, nerdctl…), or 'unknown' (a container the inventory does not know). */
  origin: string;
  privileged: boolean;
  /** The process is the container's entrypoint (pid 1 of its pid namespace). */
  init: boolean;
  /** The executable file changed after the container started: it is not part of the image. */
  drift: boolean;
}

export interface KubernetesObservation {
  /** '' when the process runs in no pod the runtime knows. */
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
}

/** One exec on the node, attributed to its container and pod. */
export interface ExecObservation {
  kind: 'exec';
  /** When it happened (ns since the epoch). Not visible to rules. */
  timeUnixNano: bigint;
  process: ProcessObservation;
  /** The parent (an empty ancestor when unknown). */
  parent: AncestorObservation;
  /** The parent chain, parent first, at most 5. */
  ancestors: AncestorObservation[];
  /** True when the process runs in a container (by its cgroup), known to the runtime or not. */
  inContainer: boolean;
  container: ContainerObservation;
  kubernetes: KubernetesObservation;
  /** The node's name. */
  node: string;
  /** The workload's process baseline: filled in by the rule engine (collectors leave it out). */
  baseline?: { state: string; known: boolean; workload: string };
}

/** The container runtime itself, as the runtime collector sees it on each refresh. */
export interface RuntimeFacts {
  /** The runtime's name (containerd, cri-o); '' before it first answered. */
  name: string;
  version: string;
  /** Host path of the CRI socket the agent talks to; '' when none was found. */
  socket: string;
  /** The runtime answered the last refresh. */
  reachable: boolean;
  /** Why it did not, when it did not. */
  error: string;
  /** The CRI Status conditions RuntimeReady and NetworkReady (false when absent). */
  runtimeReady: boolean;
  networkReady: boolean;
  /** Reason and message of a condition that is not ready ('' otherwise; "absent" when missing). */
  runtimeReadyDetail: string;
  networkReadyDetail: string;
  /** The socket file was found and could be stat'ed. */
  socketFound: boolean;
  /** Its permission bits (0 to 0o7777), owner and group. */
  socketMode: number;
  socketUid: number;
  socketGid: number;
  /** The host kernel enforces AppArmor. */
  apparmorEnforced: boolean;
}

/** A host path in the one spelling mount.hostPath uses: normalised, no trailing slash, /var/run as /run (a symlink to it everywhere). */
export function normaliseHostPath(p: string): string {
  let n = path.posix.normalize(p || '/');
  if (n.length > 1 && n.endsWith('/')) n = n.slice(0, -1);
  if (n === '/var/run' || n.startsWith('/var/run/')) n = '/run' + n.slice('/var/run'.length);
  return n;
}

/** One mount of a container, with what the host path means. */
export interface MountObservation {
  /** The host path as the OCI spec gives it. */
  source: string;
  /** The same, normalised: no trailing slash, `.`/`..` resolved, /var/run spelled /run. */
  hostPath: string;
  destination: string;
  readonly: boolean;
  /** The runtime socket is this path or under it. */
  holdsRuntimeSocket: boolean;
  /** One of the kubelet's per-pod folders (volumes, etc-hosts, logs): the pod's own data. */
  podData: boolean;
}

export interface ContainerStateObservation {
  id: string;
  name: string;
  image: string;
  imageDigest: string;
  /** The pod sandbox's id ('' outside the CRI). */
  sandboxId: string;
  /** 'cri' or 'outside-cri'. */
  origin: string;
  /** containerd namespace of a container outside the CRI. */
  runtimeNamespace: string;
  /** created, running, exited or unknown. */
  state: string;
  pid: number;
  /** Carries the kubelet's io.kubernetes.* labels. */
  kubeLabelled: boolean;
  /** Its labels as JSON (at most 2,048 characters). */
  labels: string;
  /** The verbose status (the OCI spec) was read: the security facts are known. */
  inspected: boolean;
  /** Why it could not be read. */
  inspectError: string;
}

export interface SecurityObservation {
  privileged: boolean;
  /** How privileged was learnt: 'CRI security context' or 'OCI spec (CAP_SYS_ADMIN, no masked paths)'. */
  privilegedFrom: string;
  hostPid: boolean;
  hostIpc: boolean;
  hostNetwork: boolean;
  /** Effective capabilities, without CAP_. */
  capabilities: string[];
  /** UNKNOWN_ID when the spec does not say. */
  uid: number;
  gid: number;
  readonlyRootfs: boolean;
  noNewPrivileges: boolean;
  /** 'confined' or 'unconfined' (no filter, or one that allows everything). */
  seccomp: string;
  seccompDefaultAction: string;
  /** 'confined', 'unconfined' or 'unset'. */
  apparmor: string;
  apparmorProfile: string;
}

/**
 * The runtime and its containers (source `runtime`): one observation about the runtime (subject
 * `runtime`) and one per container (subject `container`, carrying the runtime's facts too). A
 * state, offered whole on every refresh: rules decide which problems are open now.
 */
export interface RuntimeObservation {
  kind: 'runtime';
  /** The object's identity in fingerprints (the node, or namespace/pod/container); not visible to rules. */
  key: string;
  subject: 'runtime' | 'container';
  node: string;
  runtime: RuntimeFacts;
  container: ContainerStateObservation;
  kubernetes: KubernetesObservation;
  security: SecurityObservation;
  mounts: MountObservation[];
}

/** One posture check's result about one subject (source `posture`): what was measured, against what. */
export interface PostureObservation {
  kind: 'posture';
  /** The subject (a host path, or the component): the object part of fingerprints. */
  key: string;
  node: string;
  check: {
    /** CIS id ('4.1.1') or nodewarden's own ('nw-cert-expiry'). */
    id: string;
    /** The requirement, as the benchmark states it. */
    title: string;
    /** pass, fail, warn (for review), na (does not apply here) or error (could not be evaluated). */
    status: string;
    /** A finer reason where the status alone does not say (certificates: expired, not-yet-valid, expiring). */
    reason: string;
    /** kubelet, kube-proxy, control-plane, etcd or node. */
    component: string;
    subject: string;
    evidence: string;
    expected: string;
    /** The kubelet's config file as a host path ('' when it has none). */
    config: string;
  };
  /** The file the check read, when it is about one. */
  file: { path: string; exists: boolean; mode: number; uid: number; gid: number; kind: string };
  /**
   * Who changed the verdict, when it changed: from the audit record of the change to one of the
   * check's files (`known`), else why no actor is known; empty for a verdict that did not change.
   */
  change: {
    known: boolean;
    /** A sentence starting with a space, or '' (templates end with it). */
    note: string;
    syscall: string;
    pid: number;
    exe: string;
    comm: string;
    uid: number;
    auid: number;
    container: string;
    namespace: string;
    pod: string;
    path: string;
    time: string;
  };
}

/** What the Kubernetes API server says about one of this node's containers (source `kube`). */
export interface KubePodObservation {
  /**
   * How the API's pods account for the container: "known" (a pod bound to this node has its pod
   * uid, or is the mirror of its static pod), "unknown" (none has, for longer than the grace
   * period), "settling" (none has, but the container or the pod's disappearance is younger than
   * the grace period: a pod just scheduled or deleted); '' when not compared.
   */
  status: string;
  /** The pod's phase (Pending, Running…), '' when unknown. */
  phase: string;
  /** The owner workload: Deployment, DaemonSet, StatefulSet, Job, CronJob, ReplicaSet, StaticPod, or the owner's kind; '' for a bare pod. */
  workloadKind: string;
  workloadName: string;
  serviceAccount: string;
  /** A static pod (its mirror carries kubernetes.io/config.mirror). */
  static: boolean;
}

export interface KubeImageObservation {
  /** The image the pod spec asks for. */
  spec: string;
  /** The digest the spec pins (`sha256:…` after `@`), '' when it names a tag. */
  specDigest: string;
  /** The image the kubelet reported it started the container from (status.containerStatuses[].image). */
  statusImage: string;
  /** The API's status.containerStatuses[].imageID. */
  apiImageId: string;
  /** Its digest (`sha256:…`), ''. */
  apiDigest: string;
  /** The digest of the image the runtime says the container runs (the CRI's image_ref), ''. */
  runtimeDigest: string;
}

export interface KubeManifestObservation {
  /** Host path of the static pod manifest. */
  path: string;
  /** "added", "changed" or "removed" against the manifests the agent accepted; '' when as accepted. */
  change: string;
  /** sha256 of the file now ('' when removed or unreadable). */
  sha256: string;
  /** sha256 of the accepted version ('' when it was added). */
  acceptedSha256: string;
  /** When the change was first seen (RFC 3339), ''. */
  changedAt: string;
  /** The manifest directory (the kubelet's staticPodPath). */
  dir: string;
  /** Why the file could not be read, ''. */
  error: string;
}

/**
 * The node as the Kubernetes API server sees it, compared with what runs on it (source `kube`):
 * the API itself (subject `api`), the Node object (`node`), each container the runtime runs
 * (`container`), each static pod manifest (`static-pod`). A state, offered whole.
 */
export interface KubeObservation {
  kind: 'kube';
  /** The object's identity in fingerprints; not visible to rules. */
  key: string;
  subject: 'api' | 'node' | 'container' | 'static-pod';
  node: string;
  api: { reachable: boolean; error: string; server: string };
  kubelet: { version: string; minimumVersion: string; belowMinimum: boolean };
  container: { id: string; name: string; image: string; imageDigest: string; origin: string; runtimeNamespace: string; state: string; ageSeconds: number };
  kubernetes: KubernetesObservation;
  pod: KubePodObservation;
  image: KubeImageObservation;
  manifest: KubeManifestObservation;
}

export type Observation = ExecObservation;
/** What a collector offers as a state (sink.state): every observation of a scope, seen now. */
export type StateObservation = RuntimeObservation | PostureObservation | KubeObservation;

/**
 * Where collectors hand what they see. The daemon wires it to the rule engine; collectors never
 * learn what becomes of an observation.
 */
export interface ObservationSink {
  /** Execs (and other one-off observations): rules decide, asynchronously; never throws. */
  observe(observations: Observation[]): void;
  /**
   * The complete state of one scope seen now (the runtime and its containers, posture results):
   * rules turn it into the scope's problems; what is new opens, what is gone resolves. Resolves once the transitions are durably accepted; when it
   * rejects, nothing was recorded and the same state should be offered again. Returns the
   * transitions (opened and resolved findings).
   */
  state(changes: StateChange[]): Promise<Finding[]>;
  /** The agent's own health (exec capture off, events lost): not detections, never filtered. */
  report(findings: Finding[]): Promise<void>;
}

export interface StateChange {
  scope: string;
  /** Every observation of the scope seen now: rules decide which problems they are. */
  observations: StateObservation[];
}
