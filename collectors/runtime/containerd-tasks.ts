// containerd's own API over the same socket as its CRI: every namespace, and in each the tasks
// (running containers) and their containers (image, labels, creation time, OCI spec). Containers
// made with `ctr run`, nerdctl or any other client behind the kubelet's back are found this way on
// every containerd layout (k3s and RKE2 under /run/k3s/containerd, microk8s, any --state folder),
// which the task-folder scan (snapshot.ts) finds only where the state folder is the configured
// one. CRI-O has no such side door: its containers are all the CRI's, and a container made with
// runc or podman beside it is not seen by either.

import * as grpc from '@grpc/grpc-js';
import { containerd } from '../../gen/containerd.js';
import { CriError, CriErrorReason } from './cri-client.js';

/** Answers are bounded: a namespace with thousands of containers and their specs is a few MiB. */
const MAX_RECEIVE_BYTES = 32 * 1024 * 1024;
const MAX_NAMESPACES = 256;

export interface ContainerdTask {
  namespace: string;
  id: string;
  pid: number;
  state: 'created' | 'running' | 'exited' | 'unknown';
  image: string;
  labels: Record<string, string>;
  createdAtNs: bigint;
  /** The OCI spec as JSON text ('' when the container record has none). */
  specJson: string;
  /** describe() found its container record (false: removed since the task was listed). */
  described: boolean;
}

export class ContainerdTasksClient {
  private readonly client: grpc.Client;
  private closed = false;

  constructor(socketPath: string, private readonly callTimeoutMs = 5_000) {
    this.client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc.default_authority': 'localhost',
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2_000,
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  /**
   * Every task in every namespace: cheap (ids, pids, states). The container records (image,
   * labels, OCI spec: tens of KiB each) are asked for only for the tasks the caller does not know
   * (describe()), so a steady-state refresh does not move every container's spec.
   */
  async listTasks(): Promise<ContainerdTask[]> {
    const ns = await this.call('/containerd.services.namespaces.v1.Namespaces/List', '', containerd.ListNamespacesRequest, containerd.ListNamespacesResponse, {});
    const out: ContainerdTask[] = [];
    for (const n of ns.namespaces.slice(0, MAX_NAMESPACES)) {
      const name = n.name ?? '';
      if (!name) continue;
      const tasks = await this.call('/containerd.services.tasks.v1.Tasks/List', name, containerd.ListTasksRequest, containerd.ListTasksResponse, {});
      for (const t of tasks.tasks) {
        // A task is named by its container: containerd 1.6 fills `id` and leaves container_id empty.
        const id = t.containerId || t.id || '';
        if (!id) continue;
        out.push({ namespace: name, id, pid: t.pid ?? 0, state: stateOf(t.status ?? containerd.TaskStatus.UNKNOWN), image: '', labels: {}, createdAtNs: 0n, specJson: '', described: false });
      }
    }
    return out;
  }

  /** Fill in the container records (image, labels, creation time, OCI spec) of these tasks. */
  async describe(tasks: ContainerdTask[]): Promise<void> {
    const byNs = new Map<string, ContainerdTask[]>();
    for (const t of tasks) byNs.set(t.namespace, [...(byNs.get(t.namespace) ?? []), t]);
    for (const [ns, list] of byNs) {
      const filters = list.map((t) => `id==${t.id}`);
      const res = await this.call('/containerd.services.containers.v1.Containers/List', ns, containerd.ListContainersRequest, containerd.ListContainersResponse, { filters });
      const byId = new Map(res.containers.map((c) => [c.id ?? '', c]));
      for (const t of list) {
        const c = byId.get(t.id);
        if (!c) continue;
        t.described = true;
        const secs = c.createdAt?.seconds;
        t.image = c.image ?? '';
        t.labels = { ...(c.labels ?? {}) };
        t.createdAtNs = secs ? BigInt(secs.toString()) * 1_000_000_000n + BigInt(c.createdAt?.nanos ?? 0) : 0n;
        t.specJson = c.spec?.value && c.spec.value.length > 0 ? Buffer.from(c.spec.value).toString('utf8') : '';
      }
    }
  }

  private call<Req, Res>(path: string, namespace: string, req: { encode(m: Req): { finish(): Uint8Array } }, res: { decode(b: Uint8Array): Res }, message: Req): Promise<Res> {
    const method = path.slice(path.lastIndexOf('.') + 1);
    if (this.closed) return Promise.reject(new CriError(CriErrorReason.Closed, method, 'client closed'));
    const md = new grpc.Metadata();
    if (namespace) md.set('containerd-namespace', namespace);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, (m: Req) => Buffer.from(req.encode(m).finish()), (b: Buffer) => res.decode(b), message, md,
        { deadline: Date.now() + this.callTimeoutMs },
        (err, r) => {
          if (err) {
            const reason = err.code === grpc.status.UNIMPLEMENTED ? CriErrorReason.Unimplemented
              : err.code === grpc.status.UNAVAILABLE ? CriErrorReason.Unavailable
              : err.code === grpc.status.DEADLINE_EXCEEDED ? CriErrorReason.Timeout : CriErrorReason.Failed;
            reject(new CriError(reason, `containerd ${method}`, err.details || err.message, { cause: err, grpcCode: err.code }));
          } else if (r === undefined) reject(new CriError(CriErrorReason.BadResponse, `containerd ${method}`, 'empty response'));
          else resolve(r);
        });
    });
  }
}

function stateOf(s: containerd.TaskStatus): ContainerdTask['state'] {
  switch (s) {
    case containerd.TaskStatus.CREATED:
      return 'created';
    case containerd.TaskStatus.RUNNING:
    case containerd.TaskStatus.PAUSED:
    case containerd.TaskStatus.PAUSING:
      return 'running';
    case containerd.TaskStatus.STOPPED:
      return 'exited';
    default:
      return 'unknown';
  }
}
