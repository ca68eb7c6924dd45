// From /proc/PID/cgroup to the container a process runs in. Handles cgroup v1 and v2, the
// cgroupfs and systemd drivers, and the id formats of containerd, CRI-O and Docker:
//   /kubepods/besteffort/pod<uid>/<64 hex>                                  (cgroupfs)
//   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<64 hex>.scope
//   /kubepods.slice/.../crio-<64 hex>.scope, /docker/<64 hex>, /system.slice/docker-<64 hex>.scope
// A container started outside the CRI (`ctr run`) may have a non-hex id (e.g. /default/<name>):
// the last path component is returned so the caller can match it against the inventory.

export interface CgroupInfo {
  /** 64-hex container id when the path names one. */
  containerId: string | null;
  /** Pod uid (with dashes) when the path is under kubepods. */
  podUid: string | null;
  /** The cgroup path used (v2 unified line preferred, else the first non-empty v1 path). */
  path: string;
  /** True when the path is under a Kubernetes pod hierarchy. */
  kubepods: boolean;
}

const HEX64 = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/;
const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})/;

export function parseCgroup(content: string): CgroupInfo {
  let unified = '';
  let firstV1 = '';
  let withId = '';
  for (const line of content.split('\n')) {
    if (!line) continue;
    // hierarchy-ID:controller-list:cgroup-path (the path may itself contain ':')
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const p = line.slice(b + 1);
    if (line.slice(0, b) === '0:') unified = p;
    else if (!firstV1 && p !== '/') firstV1 = p;
    if (!withId && HEX64.test(p)) withId = p;
  }
  const path = withId || unified || firstV1 || '/';
  const id = HEX64.exec(path);
  const pod = POD_UID.exec(path);
  return {
    containerId: id ? id[1]! : null,
    podUid: pod ? pod[1]!.replace(/_/g, '-') : null,
    path,
    kubepods: path.includes('kubepods'),
  };
}

/** The last component of a cgroup path without a systemd scope suffix: a non-hex container name. */
export function lastComponent(path: string): string {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last.replace(/\.scope$/, '');
}
