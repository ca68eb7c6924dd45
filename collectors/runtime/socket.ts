// Finding the container runtime's CRI socket on the host: the configured path (--cri-socket), or
// the first of the well-known sockets that exists, in the order runtimes are most common. Paths
// are host paths resolved under the agent's host root, so /host/run/containerd/containerd.sock is
// what a DaemonSet pod dials.

import type { Stats } from 'node:fs';
import type { HostFs } from '../host/host-fs.js';

export interface KnownSocket {
  /** Host path. */
  path: string;
  runtime: 'containerd' | 'cri-o' | 'cri-dockerd';
}

/** Tried in order; the first that exists and is a socket wins. */
export const KNOWN_SOCKETS: readonly KnownSocket[] = [
  { path: '/run/containerd/containerd.sock', runtime: 'containerd' },
  { path: '/var/run/containerd/containerd.sock', runtime: 'containerd' },
  // k3s and RKE2 run their own containerd under /run/k3s; microk8s under its snap.
  { path: '/run/k3s/containerd/containerd.sock', runtime: 'containerd' },
  { path: '/var/snap/microk8s/common/run/containerd.sock', runtime: 'containerd' },
  { path: '/var/run/crio/crio.sock', runtime: 'cri-o' },
  { path: '/run/crio/crio.sock', runtime: 'cri-o' },
  { path: '/var/run/cri-dockerd.sock', runtime: 'cri-dockerd' },
];

export interface ResolvedSocket {
  /** As the host sees it (for findings and logs). */
  hostPath: string;
  /** Where the agent dials it (under the host root). */
  realPath: string;
  stat: Stats;
}

export type SocketLookup = { ok: true; socket: ResolvedSocket } | { ok: false; error: string };

/**
 * Resolve the runtime socket. A configured path is used as given (a host path) and must exist;
 * without one, the known sockets are tried in order.
 */
export async function findRuntimeSocket(hostFs: HostFs, configured?: string): Promise<SocketLookup> {
  const candidates = configured ? [configured] : KNOWN_SOCKETS.map((k) => k.path);
  const tried: string[] = [];
  for (const hostPath of candidates) {
    let stat: Stats | null;
    try {
      stat = await hostFs.stat(hostPath);
    } catch (err) {
      tried.push(`${hostPath}: ${(err as Error).message}`);
      continue;
    }
    if (!stat) {
      tried.push(`${hostPath}: absent`);
      continue;
    }
    if (!stat.isSocket()) {
      tried.push(`${hostPath}: not a socket`);
      continue;
    }
    return { ok: true, socket: { hostPath, realPath: await hostFs.resolve(hostPath), stat } };
  }
  const where = hostFs.root === '/' ? '' : ` under host root ${hostFs.root}`;
  return { ok: false, error: `no CRI socket found${where} (${tried.join('; ')})` };
}

/** Stat the socket again (permissions can change while the agent runs); null when it is gone. */
export async function statSocket(hostFs: HostFs, hostPath: string): Promise<Stats | null> {
  try {
    return await hostFs.stat(hostPath);
  } catch {
    return null;
  }
}
