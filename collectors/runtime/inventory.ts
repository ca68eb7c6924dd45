// The live inventory of pod sandboxes and containers on this node, as the runtime reports them,
// plus containers found running outside the CRI. Other collectors look containers up by id (full
// or 12-character prefix, as /proc/PID/cgroup and `crictl ps` show them) and listen for changes.
// The runtime collector is the only writer: it hands in complete snapshots via replace().

import { EventEmitter } from 'node:events';
import type { ContainerInfo, KubernetesInfo } from '../../core/finding.js';
import type { ContainerSecurity } from './oci-spec.js';

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface SandboxRecord {
  id: string;
  namespace: string;
  name: string;
  uid: string;
  state: 'ready' | 'notready';
  createdAtNs: bigint;
  labels: Record<string, string>;
}

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  /** Container name (CRI metadata), or the id for a container made outside the CRI. */
  name: string;
  /** Pod namespace/name/uid from the sandbox's CRI metadata; empty outside the CRI. */
  namespace: string;
  pod: string;
  podUid: string;
  image: string;
  /** The image's digest reference (CRI image_ref). */
  imageDigest: string;
  state: ContainerState;
  createdAtNs: bigint;
  startedAtNs: bigint;
  /** Host pid of the container's first process; 0 when not running or not known yet. */
  pid: number;
  cgroupPath: string;
  labels: Record<string, string>;
  /** 'cri': listed by the CRI; 'outside-cri': a runtime task the CRI does not know (ctr run...). */
  origin: 'cri' | 'outside-cri';
  /** The kubelet labels every container it creates with io.kubernetes.*; absent means someone else did. */
  kubeLabelled: boolean;
  /** containerd namespace, for containers found outside the CRI. */
  runtimeNamespace?: string;
  /** Security facts from the verbose status; undefined until fetched (or when it failed). */
  security?: ContainerSecurity;
  /** Why security facts are missing, when they are. */
  detailError?: string;
}

export interface InventoryChange {
  type: 'added' | 'updated' | 'removed';
  container: ContainerRecord;
  previous?: ContainerRecord;
}

interface InventoryEvents {
  change: [InventoryChange];
}

const PREFIX = 12;

export class Inventory extends EventEmitter<InventoryEvents> {
  private byId = new Map<string, ContainerRecord>();
  private byPrefix = new Map<string, ContainerRecord[]>();
  private sandboxById = new Map<string, SandboxRecord>();
  private listed = 0;

  /**
   * When the runtime was asked for the snapshot in use (ms since the epoch; 0 before the first):
   * a container started before then and absent from it is not the runtime's (or already gone).
   */
  get listedAt(): number {
    return this.listed;
  }

  /**
   * Replace the whole inventory with a fresh snapshot, listed from the runtime at `listedAt`
   * (when its listing began); emits one change per difference.
   */
  replace(containers: ContainerRecord[], sandboxes: SandboxRecord[], listedAt = Date.now()): InventoryChange[] {
    const next = new Map(containers.map((c) => [c.id, c]));
    const changes: InventoryChange[] = [];
    for (const [id, c] of next) {
      const prev = this.byId.get(id);
      if (!prev) changes.push({ type: 'added', container: c });
      else if (prev.state !== c.state || prev.pid !== c.pid || (prev.security === undefined) !== (c.security === undefined)) {
        changes.push({ type: 'updated', container: c, previous: prev });
      }
    }
    for (const [id, prev] of this.byId) if (!next.has(id)) changes.push({ type: 'removed', container: prev });
    this.byId = next;
    this.byPrefix = new Map();
    for (const c of containers) {
      const k = c.id.slice(0, PREFIX);
      const bucket = this.byPrefix.get(k);
      if (bucket) bucket.push(c);
      else this.byPrefix.set(k, [c]);
    }
    this.sandboxById = new Map(sandboxes.map((s) => [s.id, s]));
    this.listed = Math.max(this.listed, listedAt);
    for (const ch of changes) this.emit('change', ch);
    return changes;
  }

  /**
   * A container by its full id, or by a unique prefix of at least 12 characters. Ambiguous or
   * shorter prefixes give undefined rather than a guess.
   */
  lookup(id: string): ContainerRecord | undefined {
    const exact = this.byId.get(id);
    if (exact) return exact;
    if (id.length < PREFIX) return undefined;
    const hits = (this.byPrefix.get(id.slice(0, PREFIX)) ?? []).filter((c) => c.id.startsWith(id));
    return hits.length === 1 ? hits[0] : undefined;
  }

  /** A container by the pid of its first process (not its children: use the cgroup for those). */
  lookupByPid(pid: number): ContainerRecord | undefined {
    if (pid <= 0) return undefined;
    for (const c of this.byId.values()) if (c.pid === pid && c.state === 'running') return c;
    return undefined;
  }

  sandbox(id: string): SandboxRecord | undefined {
    return this.sandboxById.get(id);
  }

  containers(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  sandboxes(): SandboxRecord[] {
    return [...this.sandboxById.values()];
  }

  get size(): number {
    return this.byId.size;
  }
}

/** The Finding.container block for a record. */
export function containerInfo(c: ContainerRecord, runtimeName: string): Partial<ContainerInfo> {
  return {
    id: c.id,
    name: c.name,
    image: c.image,
    imageDigest: c.imageDigest,
    runtime: runtimeName,
    state: c.state,
    pid: c.pid,
    privileged: c.security?.privileged ?? false,
    sandboxId: c.sandboxId,
  };
}

/** The Finding.kubernetes block; undefined for a container outside the CRI. */
export function kubernetesInfo(c: ContainerRecord): Partial<KubernetesInfo> | undefined {
  if (c.origin !== 'cri') return undefined;
  return { namespace: c.namespace, pod: c.pod, podUid: c.podUid, container: c.name };
}
