// What the agent keeps of a pod from the API server, and what it derives: the owner workload
// (a Deployment through its ReplicaSet's name, a DaemonSet, StatefulSet, Job, a static pod through
// its mirror), the service account, labels, and each container's image as the spec asks for it
// and as the status reports it. Decoded defensively (the API's answers are outside input): a
// value of the wrong type is left empty, strings and maps are bounded.

export interface ContainerImages {
  /** spec.containers[].image (and init and ephemeral containers). */
  spec: string;
  /** status.containerStatuses[].image: what the kubelet started. */
  statusImage: string;
  /** status.containerStatuses[].imageID. */
  imageId: string;
  /** The runtime's id from status.containerStatuses[].containerID ("containerd://ID"), without the scheme. */
  containerId: string;
}

export interface PodInfo {
  uid: string;
  namespace: string;
  name: string;
  resourceVersion: string;
  nodeName: string;
  phase: string;
  deleting: boolean;
  serviceAccount: string;
  labels: Record<string, string>;
  workloadKind: string;
  workloadName: string;
  /** The static pod's hash (kubernetes.io/config.mirror): the uid the kubelet gives the pod on the node. */
  mirrorOf: string;
  containers: Map<string, ContainerImages>;
}

export interface NodeInfo {
  uid: string;
  name: string;
  resourceVersion: string;
  kubeletVersion: string;
}

const MAX_STRING = 1024;
const MAX_LABELS = 64;
const MAX_CONTAINERS = 256;
const MIRROR = 'kubernetes.io/config.mirror';

const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, MAX_STRING) : '');
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v.slice(0, MAX_CONTAINERS) : []);

/** A pod object of the API as PodInfo, or null without the identity every object has. */
export function decodePod(o: Record<string, unknown>): PodInfo | null {
  const meta = rec(o['metadata']);
  const uid = str(meta['uid']);
  const name = str(meta['name']);
  const namespace = str(meta['namespace']);
  if (!uid || !name || !namespace) return null;
  const spec = rec(o['spec']);
  const status = rec(o['status']);
  const annotations = rec(meta['annotations']);
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec(meta['labels'])).slice(0, MAX_LABELS)) if (typeof v === 'string') labels[k.slice(0, 317)] = v.slice(0, 63 * 4);
  const mirrorOf = str(annotations[MIRROR]);
  const nodeName = str(spec['nodeName']);
  const owner = ownerOf(meta['ownerReferences'], labels, mirrorOf !== '', name, nodeName);

  const containers = new Map<string, ContainerImages>();
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    for (const c of arr(spec[list])) {
      const n = str(rec(c)['name']);
      if (n) containers.set(n, { spec: str(rec(c)['image']), statusImage: '', imageId: '', containerId: '' });
    }
  }
  for (const list of ['initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses']) {
    for (const s of arr(status[list])) {
      const r = rec(s);
      const n = str(r['name']);
      const c = containers.get(n);
      if (!c) continue;
      c.statusImage = str(r['image']);
      c.imageId = str(r['imageID']);
      const cid = str(r['containerID']);
      c.containerId = cid.includes('://') ? cid.slice(cid.indexOf('://') + 3) : cid;
    }
  }
  return {
    uid, namespace, name, resourceVersion: str(meta['resourceVersion']), nodeName,
    phase: str(status['phase']), deleting: typeof meta['deletionTimestamp'] === 'string',
    serviceAccount: str(spec['serviceAccountName']) || str(spec['serviceAccount']),
    labels, workloadKind: owner.kind, workloadName: owner.name, mirrorOf, containers,
  };
}

/**
 * The workload that owns a pod: the controller owner reference, with a ReplicaSet that a
 * Deployment made (its name is the Deployment's plus "-" and the pod-template-hash label) named
 * after the Deployment; a mirror pod (owned by its Node) is a StaticPod, named as its manifest
 * (the pod name without "-<node>"). A Job's CronJob is not named: the pod does not say it.
 */
export function ownerOf(refs: unknown, labels: Record<string, string>, mirror: boolean, podName: string, nodeName: string): { kind: string; name: string } {
  if (mirror) {
    const suffix = `-${nodeName}`;
    return { kind: 'StaticPod', name: nodeName && podName.endsWith(suffix) ? podName.slice(0, -suffix.length) : podName };
  }
  const list = arr(refs).map(rec);
  const ref = list.find((r) => r['controller'] === true) ?? list[0];
  if (!ref) return { kind: '', name: '' };
  const kind = str(ref['kind']);
  const name = str(ref['name']);
  if (kind === 'ReplicaSet') {
    const hash = labels['pod-template-hash'];
    if (hash && name.endsWith(`-${hash}`)) return { kind: 'Deployment', name: name.slice(0, -(hash.length + 1)) };
  }
  if (kind === 'Node') return { kind: 'StaticPod', name: podName };
  return { kind, name };
}

/** A Node object as NodeInfo, or null without a name and uid. */
export function decodeNode(o: Record<string, unknown>): NodeInfo | null {
  const meta = rec(o['metadata']);
  const uid = str(meta['uid']);
  const name = str(meta['name']);
  if (!uid || !name) return null;
  return { uid, name, resourceVersion: str(meta['resourceVersion']), kubeletVersion: str(rec(rec(o['status'])['nodeInfo'])['kubeletVersion']) };
}

/** The digest of an image reference or id ("repo@sha256:…", "sha256:…", "docker-pullable://repo@sha256:…"), or ''. */
export function digestOf(ref: string): string {
  const m = /(?:^|@)(sha256:[0-9a-f]{64})$/.exec(ref.replace(/^[a-z-]+:\/\//, ''));
  return m ? m[1]! : '';
}

/** MAJOR.MINOR.PATCH of a version string ("v1.30.4+k3s1", "v1.29.2-eks-a5df82a"), or null. */
export function parseVersion(v: string): [number, number, number] | null {
  const m = /^v?(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** a < b, for parsed versions. */
export function olderThan(a: [number, number, number], b: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
