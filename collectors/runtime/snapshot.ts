// Reads one consistent picture of the runtime: sandboxes and containers through the CRI, the
// security facts of each container (verbose ContainerStatus, fetched once per container start and
// then reused), and containerd tasks that the CRI does not know (started with `ctr run` or any
// other client behind the kubelet's back). A steady-state refresh costs two list calls.

import path from 'node:path';
import type { HostFs } from '../host/host-fs.js';
import { describeError } from '../../core/errors.js';
import { type CriClient, int64ToBigInt, isCriError, runtime } from './cri-client.js';
import type { ContainerRecord, ContainerState, Inventory, SandboxRecord } from './inventory.js';
import { parseOciConfig, parseVerboseInfo } from './oci-spec.js';
import type { ContainerdTask, ContainerdTasksClient } from './containerd-tasks.js';

import v1 = runtime.v1;

const KUBE_CONTAINER_LABEL = 'io.kubernetes.container.name';
const KUBE_POD_LABEL = 'io.kubernetes.pod.name';
/** Parallel ContainerStatus calls on a cold start: enough to hide latency, not enough to load the runtime. */
const DETAIL_CONCURRENCY = 8;
const MAX_BUNDLE_CONFIG_BYTES = 4 * 1024 * 1024;
/** containerd's runc v2 shim keeps one bundle folder per task under <state>/<this>/<namespace>/<id>. */
export const CONTAINERD_TASK_DIR = 'io.containerd.runtime.v2.task';

export interface Snapshot {
  containers: ContainerRecord[];
  sandboxes: SandboxRecord[];
  /** Verbose status calls made this round (0 in the steady state). */
  detailCalls: number;
  /** Containers whose details could not be read; their checks wait for the next round. */
  detailErrors: number;
}

export interface SnapshotOptions {
  hostFs: HostFs;
  /** containerd's state folder as the host sees it (/run/containerd); null to skip the task scan. */
  containerdStateDir: string | null;
  /**
   * containerd's own API on the same socket: every namespace's tasks, on any layout. When it
   * answers, the task-folder scan is not needed; when it fails, the scan is the fallback.
   */
  containerd?: ContainerdTasksClient | null;
  /** Told when containerd's API failed and the folder scan was used instead. */
  onContainerdApiError?: (err: unknown) => void;
}

function containerState(s: v1.ContainerState | null | undefined): ContainerState {
  switch (s) {
    case v1.ContainerState.CONTAINER_CREATED:
      return 'created';
    case v1.ContainerState.CONTAINER_RUNNING:
      return 'running';
    case v1.ContainerState.CONTAINER_EXITED:
      return 'exited';
    default:
      return 'unknown';
  }
}

export async function takeSnapshot(cri: CriClient, previous: Inventory, opts: SnapshotOptions): Promise<Snapshot> {
  // Tasks are listed before the CRI: a task that exists now was already in the CRI's store (it
  // records a container before starting its task), so a CRI container can never look "outside".
  let apiTasks: ContainerdTask[] | null = null;
  if (opts.containerd) {
    try {
      apiTasks = await opts.containerd.listTasks();
    } catch (err) {
      opts.onContainerdApiError?.(err);
    }
  }
  const tasks = apiTasks === null && opts.containerdStateDir ? await listTasks(opts.hostFs, opts.containerdStateDir) : [];
  const [podSandboxes, criContainers] = await Promise.all([cri.listPodSandbox(), cri.listContainers()]);

  const sandboxes: SandboxRecord[] = podSandboxes.map((s) => ({
    id: s.id,
    namespace: s.metadata?.namespace ?? '',
    name: s.metadata?.name ?? '',
    uid: s.metadata?.uid ?? '',
    state: s.state === v1.PodSandboxState.SANDBOX_READY ? 'ready' : 'notready',
    createdAtNs: int64ToBigInt(s.createdAt),
    labels: { ...(s.labels ?? {}) },
  }));
  const sandboxById = new Map(sandboxes.map((s) => [s.id, s]));

  const containers: ContainerRecord[] = [];
  const needDetail: ContainerRecord[] = [];
  for (const c of criContainers) {
    const sb = sandboxById.get(c.podSandboxId);
    const labels = { ...(c.labels ?? {}) };
    const state = containerState(c.state);
    const prev = previous.lookup(c.id);
    const rec: ContainerRecord = {
      id: c.id,
      sandboxId: c.podSandboxId,
      name: c.metadata?.name ?? '',
      namespace: sb?.namespace ?? labels['io.kubernetes.pod.namespace'] ?? '',
      pod: sb?.name ?? labels[KUBE_POD_LABEL] ?? '',
      podUid: sb?.uid ?? labels['io.kubernetes.pod.uid'] ?? '',
      image: c.image?.image ?? '',
      imageDigest: c.imageRef ?? '',
      state,
      createdAtNs: int64ToBigInt(c.createdAt),
      startedAtNs: 0n,
      pid: 0,
      cgroupPath: '',
      labels,
      origin: 'cri',
      kubeLabelled: KUBE_CONTAINER_LABEL in labels && KUBE_POD_LABEL in labels,
    };
    // Details are per start: reuse them while the state is unchanged, fetch on any transition.
    if (prev && prev.origin === 'cri' && prev.state === state && prev.security) {
      rec.security = prev.security;
      rec.pid = prev.pid;
      rec.cgroupPath = prev.cgroupPath;
      rec.startedAtNs = prev.startedAtNs;
    } else if (state === 'running' || state === 'created') {
      needDetail.push(rec);
    }
    containers.push(rec);
  }

  let detailErrors = 0;
  await forEachLimited(needDetail, DETAIL_CONCURRENCY, async (rec) => {
    try {
      const res = await cri.containerStatus(rec.id, true);
      rec.startedAtNs = int64ToBigInt(res.status?.startedAt);
      if (res.status?.imageRef) rec.imageDigest = res.status.imageRef;
      const parsed = parseVerboseInfo(res.info);
      if (parsed.ok) {
        rec.pid = parsed.value.pid;
        rec.cgroupPath = parsed.value.cgroupPath;
        rec.security = parsed.value.security;
      } else {
        rec.detailError = parsed.error;
        detailErrors++;
      }
    } catch (err) {
      // Gone between list and status: it will be absent from the next list.
      if (!isCriError(err, 'not-found')) detailErrors++;
      rec.detailError = describeError(err);
    }
  });

  const known = new Set<string>([...sandboxById.keys(), ...containers.map((c) => c.id)]);
  for (const t of tasks) {
    if (known.has(t.id)) continue;
    // Re-check the bundle still exists: a CRI container stopped and removed between the task scan
    // and the list calls would otherwise look like one made outside the CRI.
    if (!(await opts.hostFs.exists(t.dir))) continue;
    const prev = previous.lookup(t.id);
    if (prev && prev.origin === 'outside-cri' && prev.runtimeNamespace === t.namespace && prev.security) {
      containers.push(prev);
      continue;
    }
    containers.push(await readTask(opts.hostFs, t));
  }

  const describe: ContainerdTask[] = [];
  for (const t of apiTasks ?? []) {
    if (known.has(t.id)) continue;
    known.add(t.id);
    const prev = previous.lookup(t.id);
    if (prev && prev.origin === 'outside-cri' && prev.runtimeNamespace === t.namespace && prev.security && prev.pid === t.pid && prev.state === t.state) {
      containers.push(prev);
      continue;
    }
    describe.push(t);
  }
  if (describe.length > 0 && opts.containerd) {
    let described = true;
    try {
      await opts.containerd.describe(describe);
    } catch (err) {
      // Listed but not described: still reported, with why its settings are unknown.
      described = false;
      opts.onContainerdApiError?.(err);
    }
    // A task whose container record is gone was a CRI container removed between the task list
    // and the CRI's lists: not one made outside the CRI.
    for (const t of describe) if (t.described || !described) containers.push(apiTaskRecord(t));
  }

  return { containers, sandboxes, detailCalls: needDetail.length, detailErrors };
}

/** A task containerd's API reported that the CRI does not know. */
function apiTaskRecord(t: ContainerdTask): ContainerRecord {
  const rec: ContainerRecord = {
    id: t.id, sandboxId: '', name: t.id, namespace: '', pod: '', podUid: '', image: t.image, imageDigest: '',
    state: t.state, createdAtNs: t.createdAtNs, startedAtNs: 0n, pid: t.pid, cgroupPath: '', labels: t.labels,
    origin: 'outside-cri', kubeLabelled: 'io.kubernetes.container.name' in t.labels && 'io.kubernetes.pod.name' in t.labels, runtimeNamespace: t.namespace,
  };
  if (!t.specJson) {
    rec.detailError = 'containerd holds no OCI spec for this container';
    return rec;
  }
  const parsed = parseOciConfig(t.specJson.slice(0, MAX_BUNDLE_CONFIG_BYTES));
  if (parsed.ok) {
    rec.security = parsed.value.security;
    rec.cgroupPath = parsed.value.cgroupPath;
  } else {
    rec.detailError = parsed.error;
  }
  return rec;
}

interface TaskDir {
  namespace: string;
  id: string;
  /** Host path of the bundle folder. */
  dir: string;
}

async function listTasks(hostFs: HostFs, stateDir: string): Promise<TaskDir[]> {
  const base = path.posix.join(stateDir, CONTAINERD_TASK_DIR);
  const out: TaskDir[] = [];
  for (const ns of await hostFs.list(base)) {
    for (const id of await hostFs.list(path.posix.join(base, ns))) {
      out.push({ namespace: ns, id, dir: path.posix.join(base, ns, id) });
    }
  }
  return out;
}

async function readTask(hostFs: HostFs, t: TaskDir): Promise<ContainerRecord> {
  const rec: ContainerRecord = {
    id: t.id,
    sandboxId: '',
    name: t.id,
    namespace: '',
    pod: '',
    podUid: '',
    image: '',
    imageDigest: '',
    state: 'running',
    createdAtNs: 0n,
    startedAtNs: 0n,
    pid: 0,
    cgroupPath: '',
    labels: {},
    origin: 'outside-cri',
    kubeLabelled: false,
    runtimeNamespace: t.namespace,
  };
  try {
    const pidText = await hostFs.readText(path.posix.join(t.dir, 'init.pid'), 64);
    const pid = Number.parseInt(pidText.trim(), 10);
    if (Number.isSafeInteger(pid) && pid > 0) rec.pid = pid;
  } catch {
    // No init.pid yet: the task is being created.
  }
  try {
    const parsed = parseOciConfig(await hostFs.readText(path.posix.join(t.dir, 'config.json'), MAX_BUNDLE_CONFIG_BYTES));
    if (parsed.ok) {
      rec.security = parsed.value.security;
      rec.cgroupPath = parsed.value.cgroupPath;
    } else {
      rec.detailError = parsed.error;
    }
  } catch (err) {
    rec.detailError = describeError(err);
  }
  return rec;
}

async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
