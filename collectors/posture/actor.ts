// Who changed it: the audit source's watch rules on the files the posture checks read report
// every write and attribute change with the process that made it (NodeFacts 'file-change'). The
// collector keeps the recent ones here; when a check's verdict changes, the latest change to one
// of the files behind that check since the previous evaluation is its actor. A verdict that
// changed with no such record (the agent was not running, file watching is off) says so.

import type { PostureObservation } from '../../core/observation.js';
import type { FileChange } from '../node-facts.js';
import type { CheckResult, Discovery } from './types.js';

/** How many changes are kept, and for how long: enough for the time between two evaluations. */
const MAX_CHANGES = 512;
const MAX_AGE_NS = 3600n * 1_000_000_000n;

/** Who changed a verdict, or why that is unknown: the posture observation's `change`. */
export type ChangeAttribution = PostureObservation['change'];

export const NO_CHANGE: ChangeAttribution = {
  known: false, note: '', syscall: '', pid: 0, exe: '', comm: '', uid: -1, auid: -1, container: '', namespace: '', pod: '', path: '', time: '',
};

export class ChangeLedger {
  private changes: FileChange[] = [];

  add(c: FileChange): void {
    this.changes.push(c);
    if (this.changes.length > MAX_CHANGES) this.changes.splice(0, this.changes.length - MAX_CHANGES);
  }

  /** The latest successful change at or after `sinceNs` to one of `paths` (or a file under one of them). */
  latest(paths: readonly string[], sinceNs: bigint): FileChange | undefined {
    const cutoff = this.changes.length > 0 ? this.changes[this.changes.length - 1]!.timeUnixNano - MAX_AGE_NS : 0n;
    if (this.changes.length > 0 && this.changes[0]!.timeUnixNano < cutoff) this.changes = this.changes.filter((c) => c.timeUnixNano >= cutoff);
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i]!;
      if (c.timeUnixNano < sinceNs) break;
      if (!c.success) continue;
      if (paths.some((p) => c.hostPath === p || c.hostPath.startsWith(`${p}/`))) return c;
    }
    return undefined;
  }

  get size(): number {
    return this.changes.length;
  }
}

/** The host files behind a check's verdict: the file it judged, and the configuration its setting comes from. */
export function checkPaths(r: CheckResult, d: Discovery): string[] {
  const out = new Set<string>();
  const add = (p: string | undefined): void => {
    if (p && p.startsWith('/') && !p.startsWith('/proc/')) out.add(p);
  };
  add(r.file?.path);
  add(r.subject);
  const id = r.id;
  if (id.startsWith('4.2.')) {
    add(d.kubelet.configFile?.hostPath);
    for (const f of d.kubelet.unitFiles) add(f);
    for (const f of d.kubelet.envFiles) add(f);
  } else if (id.startsWith('4.3.')) {
    add(d.kubeProxy.configFile?.hostPath);
  } else if (id.startsWith('1.2.') || id === '3.2.1') {
    add(d.components['kube-apiserver'].manifest.hostPath);
  } else if (id.startsWith('1.3.')) {
    add(d.components['kube-controller-manager'].manifest.hostPath);
  } else if (id.startsWith('1.4.')) {
    add(d.components['kube-scheduler'].manifest.hostPath);
  } else if (/^2\.\d+$/.test(id)) {
    add(d.components.etcd.manifest.hostPath);
  } else if (id === 'nw-manifest-drift') {
    const c = (d.components as Record<string, { manifest: { hostPath: string } } | undefined>)[r.subject];
    add(c?.manifest.hostPath);
  }
  return [...out];
}

/** The files worth watching for an evaluation: every host path it read, not under /proc. */
export function watchable(paths: readonly string[], max = 256): string[] {
  return [...new Set(paths.filter((p) => p.startsWith('/') && p !== '/' && !p.startsWith('/proc/') && !p.endsWith('/')))].sort().slice(0, max);
}

export function attribute(c: FileChange): ChangeAttribution {
  const time = new Date(Number(c.timeUnixNano / 1_000_000n)).toISOString();
  const ids = `uid ${c.uid}${c.auid >= 0 ? `, login uid ${c.auid}` : ''}`;
  const where = c.pod ? ` in pod ${c.namespace}/${c.pod}, container ${c.container}` : c.containerId ? ` in container ${c.containerId.slice(0, 12)}` : ' on the host';
  return {
    known: true,
    note: ` Changed by ${c.syscall} on ${c.hostPath} from pid ${c.pid} (${c.exe || c.comm}, ${ids})${where} at ${time}.`,
    syscall: c.syscall, pid: c.pid, exe: c.exe, comm: c.comm, uid: c.uid, auid: c.auid,
    container: c.container || c.containerId, namespace: c.namespace, pod: c.pod, path: c.hostPath, time,
  };
}

export function unattributed(why: string): ChangeAttribution {
  return { ...NO_CHANGE, note: ` No actor: ${why}.` };
}
