// Attributing a process that was gone before its cgroup could be read. `kubectl exec` (CRI
// ExecSync) runs `runc exec … <container id>`, whose child joins the container and execs the
// command: at that exec the parent is runc itself, a host process, so the parent's cgroup says
// nothing, but its command line names the container. Short commands run this way (`sh -c …`)
// often exit within a millisecond, before /proc can be read; this keeps them attributed.

import path from 'node:path';

const basename = (p: string): string => path.posix.basename(p);

const RUNTIMES = new Set(['runc', 'crun', 'youki']);
const ID = /^[\w.-]{1,128}$/;

/** The container id a runtime parent (`runc exec … ID`) names, or null. */
export function containerFromRuntimeParent(parent: { exe: string; argv: string[] }): string | null {
  const name = basename(parent.exe) || basename(parent.argv[0] ?? '');
  if (!RUNTIMES.has(name)) return null;
  const i = parent.argv.indexOf('exec');
  if (i < 0) return null;
  const last = parent.argv[parent.argv.length - 1] ?? '';
  return parent.argv.length > i + 1 && ID.test(last) ? last : null;
}
