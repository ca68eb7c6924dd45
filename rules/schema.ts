// The observation schema as data: every field a rule may read, with its type and meaning. Rule
// conditions are type-checked against it when they load, exception fields and output templates
// are checked against it, and docs/observations.md is written from it (a test keeps the two
// equal). It mirrors core/observation.ts; a test checks that a built observation has exactly
// these fields.

import { UNKNOWN_ID } from '../core/observation.js';

export type FieldType = 'string' | 'int' | 'bool' | 'list<string>' | { object: Record<string, Field> } | { list: Record<string, Field> };

export interface Field {
  type: FieldType;
  doc: string;
  /** The value that means "not known", when it is not the type's empty value (ids: 4294967295). */
  unknown?: number;
}


const ancestor: Record<string, Field> = {
  pid: { type: 'int', doc: 'Process id (0 when unknown).' },
  uid: { type: 'int', doc: 'Real user id (4294967295 when unknown).', unknown: UNKNOWN_ID },
  euid: { type: 'int', doc: 'Effective user id (4294967295 when unknown).', unknown: UNKNOWN_ID },
  exe: { type: 'string', doc: 'Executable path (\'\' when unknown).' },
  name: { type: 'string', doc: 'Basename of argv[0], else comm, else of exe.' },
  comm: { type: 'string', doc: 'The kernel\'s command name (15 characters at most).' },
  argv: { type: 'list<string>', doc: 'Command line (bounded: 24 arguments of 256 characters).' },
};

const kubernetes: Field = {
  doc: 'The pod (empty strings when the process runs in no pod the runtime knows).',
  type: {
    object: {
      namespace: { type: 'string', doc: 'Pod namespace.' },
      pod: { type: 'string', doc: 'Pod name.' },
      podUid: { type: 'string', doc: 'Pod uid.' },
      container: { type: 'string', doc: 'Container name in the pod spec.' },
    },
  },
};

/** The fields of an exec observation (source `process`). */
export const EXEC_FIELDS: Record<string, Field> = {
  process: {
    doc: 'The process that called execve.',
    type: {
      object: {
        pid: { type: 'int', doc: 'Process id on the host.' },
        ppid: { type: 'int', doc: 'Parent process id (0 when it could not be learnt).' },
        uid: { type: 'int', doc: 'Real user id (4294967295 when unknown).', unknown: UNKNOWN_ID },
        euid: { type: 'int', doc: 'Effective user id (4294967295 when unknown).', unknown: UNKNOWN_ID },
        gid: { type: 'int', doc: 'Real group id.' },
        egid: { type: 'int', doc: 'Effective group id.' },
        auid: { type: 'int', doc: 'Login user id: who logged in, kept through su and sudo (4294967295 when unset).', unknown: UNKNOWN_ID },
        exe: { type: 'string', doc: 'Absolute path of the executable file.' },
        exeName: { type: 'string', doc: 'Basename of exe.' },
        name: { type: 'string', doc: 'What the program acts as: basename of argv[0] (busybox applets), else comm, else exeName.' },
        comm: { type: 'string', doc: 'The kernel\'s command name (15 characters at most).' },
        argv: { type: 'list<string>', doc: 'The command line (at most 128 arguments of 4,096 bytes, 32 KiB in all).' },
        args: { type: 'string', doc: 'argv[1..] joined with spaces, at most 4,096 characters: for matching arguments as text.' },
        argvTruncated: { type: 'bool', doc: 'The command line was longer than what is kept.' },
        argvMissing: { type: 'bool', doc: 'The exec source could not read the command line (the process was already gone).' },
        cwd: { type: 'string', doc: 'Working directory (\'\' when unknown).' },
        stdin: { type: 'string', doc: 'Target of fd 0: "socket:[N]", "pipe:[N]", "/dev/pts/N", a path; \'\' when not read.' },
        stdout: { type: 'string', doc: 'Target of fd 1, as stdin.' },
        tty: { type: 'bool', doc: 'stdin or stdout is a terminal (/dev/pts/N, /dev/ttyN, /dev/console).' },
        fileless: { type: 'bool', doc: 'Runs from no file on disk: a memfd (memfd_create) or a deleted executable.' },
        enteredFromHost: { type: 'bool', doc: 'In a container, with its parent outside it: put into the container from the host (the runtime starting it or exec\'ing into it: runc init, an exec probe, kubectl exec), not started by the workload. Nothing in the container can forge it; false when the parent is unknown.' },
        capture: { type: 'string', doc: 'The exec source that saw it: bpf, audit, connector or poller.' },
      },
    },
  },
  parent: { doc: 'The parent process: its pid always (0 when it could not be learnt); the rest empty, and the ids 4294967295, when the agent never saw it.', type: { object: ancestor } },
  ancestors: { doc: 'The parent chain, parent first, at most 5 entries.', type: { list: ancestor } },
  inContainer: { type: 'bool', doc: 'The process runs in a container (by its cgroup), whether or not the runtime knows the container.' },
  container: {
    doc: 'The container the process runs in (empty strings and false on the host).',
    type: {
      object: {
        id: { type: 'string', doc: 'The runtime\'s container id.' },
        name: { type: 'string', doc: 'Container name (the pod spec\'s), or the id outside the CRI.' },
        image: { type: 'string', doc: 'Image reference as the pod asked for it.' },
        imageDigest: { type: 'string', doc: 'The image\'s digest reference.' },
        origin: { type: 'string', doc: '"cri" (started by the kubelet), "outside-cri" (ctr run, nerdctl…), "unknown" (not in the runtime\'s inventory), \'\' on the host.' },
        privileged: { type: 'bool', doc: 'The container is privileged.' },
        init: { type: 'bool', doc: 'The process is the container\'s entrypoint (pid 1 of its pid namespace).' },
        drift: { type: 'bool', doc: 'The executable file changed after the container started: it is not part of the image.' },
      },
    },
  },
  kubernetes,
  node: { type: 'string', doc: 'The node\'s name.' },
  baseline: {
    doc: 'The workload\'s process baseline, as the agent learnt it (filled in by the rule engine, not the collector).',
    type: {
      object: {
        state: { type: 'string', doc: '"learning" (the executables seen are being learnt), "active" (learnt: others are anomalies), or \'\' (no baseline: not in a pod, or baselines are off).' },
        known: { type: 'bool', doc: 'The executable is in the baseline (always true while learning).' },
        workload: { type: 'string', doc: 'The baseline\'s key: namespace/workload/container, the workload from the pod name.' },
      },
    },
  },
};

const mount: Record<string, Field> = {
  source: { type: 'string', doc: 'The host path as the OCI spec gives it.' },
  hostPath: { type: 'string', doc: 'The host path normalised: no trailing slash, `.` and `..` resolved, /var/run written /run (a symlink to it everywhere).' },
  destination: { type: 'string', doc: 'Where it is mounted in the container.' },
  readonly: { type: 'bool', doc: 'Mounted read-only.' },
  holdsRuntimeSocket: { type: 'bool', doc: 'The runtime socket the agent talks to is this path or under it (read-only does not stop connect(2)).' },
  podData: { type: 'bool', doc: 'One of the kubelet\'s per-pod folders (/var/lib/kubelet/pods/UID/…: volumes, etc-hosts, logs): the pod\'s own data.' },
};

/** The fields of a runtime observation (source `runtime`): the runtime itself, or one of its containers. */
export const RUNTIME_FIELDS: Record<string, Field> = {
  subject: { type: 'string', doc: '"runtime" (the observation is about the container runtime: its conditions and socket) or "container" (one container, with the runtime\'s facts too).' },
  node: { type: 'string', doc: 'The node\'s name.' },
  runtime: {
    doc: 'The container runtime, as the last refresh found it.',
    type: {
      object: {
        name: { type: 'string', doc: 'The runtime\'s name (containerd, cri-o); \'\' before it first answered.' },
        version: { type: 'string', doc: 'Its version.' },
        socket: { type: 'string', doc: 'Host path of the CRI socket the agent talks to (\'\' when none was found).' },
        reachable: { type: 'bool', doc: 'The runtime answered the last refresh.' },
        error: { type: 'string', doc: 'Why it did not answer (\'\' when it did).' },
        runtimeReady: { type: 'bool', doc: 'The CRI Status condition RuntimeReady is true.' },
        networkReady: { type: 'bool', doc: 'The CRI Status condition NetworkReady is true (the CNI plugin is ready).' },
        runtimeReadyDetail: { type: 'string', doc: 'Reason and message of RuntimeReady when it is not true ("absent" when missing).' },
        networkReadyDetail: { type: 'string', doc: 'Reason and message of NetworkReady when it is not true ("absent" when missing).' },
        socketFound: { type: 'bool', doc: 'The socket file was found and could be stat\'ed.' },
        socketMode: { type: 'int', doc: 'Its permission bits (compare with modeWithin(runtime.socketMode, \'0660\')).' },
        socketUid: { type: 'int', doc: 'Its owner\'s uid.' },
        socketGid: { type: 'int', doc: 'Its group\'s gid.' },
        apparmorEnforced: { type: 'bool', doc: 'The host kernel enforces AppArmor.' },
      },
    },
  },
  container: {
    doc: 'The container (subject "container"; empty strings otherwise).',
    type: {
      object: {
        id: { type: 'string', doc: 'The runtime\'s container id.' },
        name: { type: 'string', doc: 'Container name (the pod spec\'s), or the id outside the CRI.' },
        image: { type: 'string', doc: 'Image reference as the pod asked for it.' },
        imageDigest: { type: 'string', doc: 'The image\'s digest reference.' },
        sandboxId: { type: 'string', doc: 'The pod sandbox\'s id (\'\' outside the CRI).' },
        origin: { type: 'string', doc: '"cri" (listed by the CRI) or "outside-cri" (a containerd task the CRI does not know: ctr run, nerdctl…).' },
        runtimeNamespace: { type: 'string', doc: 'containerd namespace of a container outside the CRI.' },
        state: { type: 'string', doc: '"created", "running", "exited" or "unknown".' },
        pid: { type: 'int', doc: 'Host pid of its first process (0 when not running or not known).' },
        kubeLabelled: { type: 'bool', doc: 'It carries the io.kubernetes.* labels the kubelet puts on every container it creates.' },
        labels: { type: 'string', doc: 'Its labels as JSON (at most 2,048 characters).' },
        inspected: { type: 'bool', doc: 'Its verbose status (the OCI spec) was read: `security` and `mounts` are known.' },
        inspectError: { type: 'string', doc: 'Why the verbose status could not be read (\'\' when it was, or was not tried yet).' },
      },
    },
  },
  kubernetes,
  security: {
    doc: 'The container\'s security settings, from its OCI spec (all false, empty or unknown until `container.inspected`).',
    type: {
      object: {
        privileged: { type: 'bool', doc: 'Privileged: every capability, no seccomp or AppArmor, every host device.' },
        privilegedFrom: { type: 'string', doc: 'How that was learnt: "the CRI security context" or "the OCI spec: CAP_SYS_ADMIN and no masked paths".' },
        hostPid: { type: 'bool', doc: 'Runs in the host\'s PID namespace.' },
        hostIpc: { type: 'bool', doc: 'Runs in the host\'s IPC namespace.' },
        hostNetwork: { type: 'bool', doc: 'Runs in the host\'s network namespace.' },
        capabilities: { type: 'list<string>', doc: 'Effective capabilities, without the CAP_ prefix (SYS_ADMIN, NET_RAW…).' },
        uid: { type: 'int', doc: 'The process\'s uid (4294967295 when the spec does not say).', unknown: UNKNOWN_ID },
        gid: { type: 'int', doc: 'The process\'s gid (4294967295 when the spec does not say).', unknown: UNKNOWN_ID },
        readonlyRootfs: { type: 'bool', doc: 'The root filesystem is read-only.' },
        noNewPrivileges: { type: 'bool', doc: 'no_new_privs is set (allowPrivilegeEscalation: false).' },
        seccomp: { type: 'string', doc: '"confined" (a filter that denies something) or "unconfined" (no filter, or one that allows everything).' },
        seccompDefaultAction: { type: 'string', doc: 'The filter\'s default action (SCMP_ACT_…), \'\' without a filter.' },
        apparmor: { type: 'string', doc: '"confined", "unconfined" or "unset".' },
        apparmorProfile: { type: 'string', doc: 'The AppArmor profile named by the spec.' },
      },
    },
  },
  mounts: { doc: 'Its bind mounts from the host.', type: { list: mount } },
  mount: { doc: 'In a rule with `each: mounts`, the mount being judged (the rule is evaluated once per mount, and each match is a finding of its own). Not available elsewhere.', type: { object: mount } },
};

/** The fields of a posture observation (source `posture`): one check's result about one subject. */
export const POSTURE_FIELDS: Record<string, Field> = {
  node: { type: 'string', doc: 'The node\'s name.' },
  check: {
    doc: 'The check and what it measured.',
    type: {
      object: {
        id: { type: 'string', doc: 'CIS id (kube-bench cis-1.10 numbering, e.g. "4.1.1"), or nodewarden\'s own ("nw-cert-expiry").' },
        title: { type: 'string', doc: 'The requirement, as the benchmark states it.' },
        status: { type: 'string', doc: '"pass", "fail", "warn" (the benchmark asks for a review), "na" (does not apply on this node) or "error" (could not be evaluated: a file that cannot be read, a path leaving the host root).' },
        reason: { type: 'string', doc: 'A finer reason where the status alone does not say: certificates "expired", "not-yet-valid", "expiring" (\'\' otherwise).' },
        component: { type: 'string', doc: '"kubelet", "kube-proxy", "control-plane", "etcd" or "node".' },
        subject: { type: 'string', doc: 'What the result is about: a host path, or the component (fingerprints use it).' },
        evidence: { type: 'string', doc: 'What was found ("mode 644, owner root:root", "--anonymous-auth=true (command line)").' },
        expected: { type: 'string', doc: 'What the check requires.' },
        config: { type: 'string', doc: 'The kubelet\'s config file as a host path (\'\' when it has none): for remediation texts.' },
      },
    },
  },
  file: {
    doc: 'The file the check read (empty when it is about no single file).',
    type: {
      object: {
        path: { type: 'string', doc: 'Host path.' },
        exists: { type: 'bool', doc: 'The file exists.' },
        mode: { type: 'int', doc: 'Permission bits (compare with modeWithin(file.mode, \'0600\')).' },
        uid: { type: 'int', doc: 'Owner uid (4294967295 when unknown).', unknown: UNKNOWN_ID },
        gid: { type: 'int', doc: 'Group gid (4294967295 when unknown).', unknown: UNKNOWN_ID },
        kind: { type: 'string', doc: '"file", "directory", "symlink", "socket" or "other".' },
      },
    },
  },
  change: {
    doc: "Who changed the verdict, when it changed since the last evaluation: the audit record of the change to one of the check's files (the agent's watch rules), else why no actor is known. Empty for a verdict that did not change.",
    type: {
      object: {
        known: { type: 'bool', doc: 'An audit record names who made the change.' },
        note: { type: 'string', doc: "A sentence for messages (\" Changed by chmod on /etc/kubernetes/kubelet.conf from pid 4242 (/usr/bin/chmod, uid 0, login uid 1000) on the host at …\" or \" No actor: …\"), starting with a space so that a template can end with it; '' when the verdict did not change." },
        syscall: { type: 'string', doc: 'chmod, fchmodat, chown, rename, openat (for writing), unlink, … (\'\' when unknown).' },
        pid: { type: 'int', doc: 'The process that made the change (0 when unknown).' },
        exe: { type: 'string', doc: 'Its executable.' },
        comm: { type: 'string', doc: 'Its command name.' },
        uid: { type: 'int', doc: 'Its uid (-1 when unknown).' },
        auid: { type: 'int', doc: 'Its login uid: the user who logged in, whatever sudo or su did since (-1 when unset).' },
        container: { type: 'string', doc: "The container it ran in ('' on the host)." },
        namespace: { type: 'string', doc: "The pod's namespace ('' on the host)." },
        pod: { type: 'string', doc: "The pod ('' on the host)." },
        path: { type: 'string', doc: 'The changed file (host path).' },
        time: { type: 'string', doc: 'When (RFC 3339).' },
      },
    },
  },
};

/** The fields of a Kubernetes API observation (source `kube`): the API, the Node object, a container compared with the pods, a static pod manifest. */
export const KUBE_FIELDS: Record<string, Field> = {
  subject: { type: 'string', doc: '"api" (the API server itself), "node" (this node\'s Node object), "container" (one container the runtime runs, compared with the pods the API binds to this node) or "static-pod" (one manifest in the kubelet\'s staticPodPath).' },
  node: { type: 'string', doc: 'The node\'s name.' },
  api: {
    doc: 'The API server, as the last list or watch found it.',
    type: {
      object: {
        reachable: { type: 'bool', doc: 'The last list or watch got an answer.' },
        error: { type: 'string', doc: 'Why not (\'\' when it did).' },
        server: { type: 'string', doc: 'The API server\'s URL.' },
      },
    },
  },
  kubelet: {
    doc: 'The kubelet, from the Node object\'s status.nodeInfo (subject "node").',
    type: {
      object: {
        version: { type: 'string', doc: 'status.nodeInfo.kubeletVersion ("v1.30.4", "v1.29.2-eks-a5df82a").' },
        minimumVersion: { type: 'string', doc: 'The oldest version accepted (agent.collectors.kube.minKubeletVersion).' },
        belowMinimum: { type: 'bool', doc: 'The version is older than minimumVersion (false when either cannot be read as MAJOR.MINOR.PATCH).' },
      },
    },
  },
  container: {
    doc: 'The container (subject "container"; empty otherwise), from the runtime\'s inventory.',
    type: {
      object: {
        id: { type: 'string', doc: 'The runtime\'s container id.' },
        name: { type: 'string', doc: 'Container name (the pod spec\'s), or the id outside the CRI.' },
        image: { type: 'string', doc: 'Image reference as the runtime reports it.' },
        imageDigest: { type: 'string', doc: 'The CRI\'s image_ref (a repository digest reference or an image id).' },
        origin: { type: 'string', doc: '"cri" (listed by the CRI) or "outside-cri" (a containerd task the CRI does not know).' },
        runtimeNamespace: { type: 'string', doc: 'containerd namespace of a container outside the CRI.' },
        state: { type: 'string', doc: '"created", "running", "exited" or "unknown".' },
        ageSeconds: { type: 'int', doc: 'Seconds since the runtime created it.' },
      },
    },
  },
  kubernetes,
  pod: {
    doc: 'The pod the API server binds to this node for the container (subject "container").',
    type: {
      object: {
        status: { type: 'string', doc: '"known" (a pod bound to this node has the container\'s pod uid, or is its static pod\'s mirror), "unknown" (none has, for longer than the grace period), "settling" (none has, within the grace period after the container started or its pod left the API), \'\' when not compared.' },
        phase: { type: 'string', doc: 'The pod\'s phase (Pending, Running…), \'\' when unknown.' },
        workloadKind: { type: 'string', doc: 'The owner workload: Deployment (through its ReplicaSet), DaemonSet, StatefulSet, Job, CronJob (through its Job), ReplicaSet, StaticPod, or the owner\'s kind; \'\' for a bare pod.' },
        workloadName: { type: 'string', doc: 'The owner workload\'s name.' },
        serviceAccount: { type: 'string', doc: 'spec.serviceAccountName.' },
        static: { type: 'bool', doc: 'A static pod: its mirror carries the kubernetes.io/config.mirror annotation.' },
      },
    },
  },
  image: {
    doc: 'The container\'s image as the pod spec, the API\'s status and the runtime give it (subject "container", for pods the API knows).',
    type: {
      object: {
        spec: { type: 'string', doc: 'The image the pod spec asks for.' },
        specDigest: { type: 'string', doc: 'The digest the spec pins ("sha256:…" after "@"), \'\' for a tag.' },
        statusImage: { type: 'string', doc: 'The image the kubelet says it started the container from (status.containerStatuses[].image).' },
        apiImageId: { type: 'string', doc: 'status.containerStatuses[].imageID, as the API holds it.' },
        apiDigest: { type: 'string', doc: 'Its digest ("sha256:…"), \'\'.' },
        runtimeDigest: { type: 'string', doc: 'The digest of what the runtime says the container runs (the CRI\'s image_ref), \'\'.' },
      },
    },
  },
  manifest: {
    doc: 'A static pod manifest (subject "static-pod").',
    type: {
      object: {
        path: { type: 'string', doc: 'Host path of the manifest.' },
        change: { type: 'string', doc: '"added", "changed" or "removed" against the manifests the agent accepted (those at its first start, and each change once agent.collectors.kube.acceptManifestAfterMs has passed); \'\' when as accepted.' },
        sha256: { type: 'string', doc: 'sha256 of the file now (\'\' when removed or unreadable).' },
        acceptedSha256: { type: 'string', doc: 'sha256 of the accepted version (\'\' when it was added).' },
        changedAt: { type: 'string', doc: 'When the change was first seen (RFC 3339), \'\'.' },
        dir: { type: 'string', doc: 'The manifest directory (the kubelet\'s staticPodPath, else kubeadm\'s /etc/kubernetes/manifests).' },
        error: { type: 'string', doc: 'Why the file could not be read (\'\' when it could).' },
      },
    },
  },
};

/** Fields that only rules iterating a list (`each: LIST`) may read: the element, by list. */
export const EACH_FIELDS: Record<string, Record<string, string>> = { runtime: { mounts: 'mount' } };

/** Fields the collector reads only when a condition reads them (a /proc read, a stat, a table walk). */
export const LAZY_FIELDS: ReadonlySet<string> = new Set(['container.init', 'container.drift', 'ancestors']);

/** What one observation of each source is, for the documentation. */
export const SOURCE_DOCS: Record<string, string> = {
  process: 'one exec',
  runtime: 'the container runtime, or one of its containers',
  posture: 'one posture check\'s result about one subject',
  kube: 'the API server, this node\'s Node object, a container compared with the API\'s pods, or a static pod manifest',
};

/** Fields by source. */
export const FIELDS_BY_SOURCE: Record<string, Record<string, Field>> = { process: EXEC_FIELDS, runtime: RUNTIME_FIELDS, posture: POSTURE_FIELDS, kube: KUBE_FIELDS };

/** The type of a dotted field path (e.g. `kubernetes.namespace`), or undefined when there is none. */
export function fieldType(fields: Record<string, Field>, path: string): FieldType | undefined {
  let scope: Record<string, Field> | undefined = fields;
  let type: FieldType | undefined;
  for (const part of path.split('.')) {
    if (!scope || !Object.hasOwn(scope, part)) return undefined;
    const f: Field = scope[part]!;
    type = f.type;
    scope = typeof type === 'object' && 'object' in type ? type.object : undefined;
  }
  return type;
}

/** Read a dotted path from an observation (no checks: paths are checked when rules load). */
export function readPath(obs: unknown, path: readonly string[]): unknown {
  let v: unknown = obs;
  for (const p of path) v = (v as Record<string, unknown>)[p];
  return v;
}
