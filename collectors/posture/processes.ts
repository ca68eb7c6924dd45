// Finding the node's Kubernetes components among running processes: every numeric entry of
// /proc (under the proc root) is identified by its command line. On a real procfs only the
// first 4 KiB of each cmdline is read, and a full (bounded) read is done for matches alone.

import { open } from 'node:fs/promises';
import path from 'node:path';
import type { HostView } from './host-view.js';
import type { ProcessRef } from './types.js';

/** A kubelet's command line is a few KiB; anything past this bound is ignored. */
const MAX_CMDLINE_BYTES = 256 * 1024;
/** Enough to hold argv[0] and argv[1] of any process we look for. */
const PROBE_BYTES = 4096;

export type ComponentName = 'kubelet' | 'kube-proxy' | ControlPlaneName;
/** The components CIS sections 1.2–1.4 and 2 judge, each a static pod on a kubeadm node. */
export type ControlPlaneName = 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'etcd';
export const CONTROL_PLANE_NAMES: readonly ControlPlaneName[] = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'];

export type ComponentProcesses = Partial<Record<ComponentName, ProcessRef>>;

/**
 * Which component a command line belongs to, if any: by the executable's base name, including
 * the old all-in-one `hyperkube kubelet` / `hyperkube proxy` form.
 */
export function identify(argv: readonly string[]): ComponentName | undefined {
  const exe = path.posix.basename(argv[0] ?? '');
  if (exe === 'kubelet') return 'kubelet';
  if (exe === 'kube-proxy') return 'kube-proxy';
  if (exe === 'etcd') return 'etcd';
  if (exe === 'kube-apiserver' || exe === 'kube-controller-manager' || exe === 'kube-scheduler') return exe;
  if (exe === 'hyperkube') {
    const sub = argv[1];
    if (sub === 'kubelet') return 'kubelet';
    if (sub === 'proxy' || sub === 'kube-proxy') return 'kube-proxy';
    if (sub === 'apiserver' || sub === 'kube-apiserver') return 'kube-apiserver';
    if (sub === 'controller-manager' || sub === 'kube-controller-manager') return 'kube-controller-manager';
    if (sub === 'scheduler' || sub === 'kube-scheduler') return 'kube-scheduler';
  }
  return undefined;
}

/** NUL-separated /proc/<pid>/cmdline into argv (a trailing NUL ends the last argument). */
export function splitCmdline(raw: string): string[] {
  const parts = raw.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/**
 * Scan the proc root for the kubelet, kube-proxy and the control plane's components. When several processes match one
 * component (unusual), the lowest pid wins, so the choice is stable between scans.
 */
export async function findComponentProcesses(view: HostView): Promise<ComponentProcesses> {
  const names = (await view.list('/proc')).filter((n) => /^\d+$/.test(n));
  const real = await view.procfs();
  const procDir = path.join(view.procFs.root, 'proc');
  const found = await Promise.all(
    names.map(async (name): Promise<[ComponentName, ProcessRef] | undefined> => {
      const pid = Number(name);
      const argv = real ? await readRealCmdline(procDir, name) : await readFixtureCmdline(view, name);
      if (!argv) return undefined;
      const component = identify(argv);
      // A kubelet never runs inside a pod: a process in a pod's cgroup that calls itself
      // `kubelet` (exec -a kubelet …) is an impostor whose flags must not stand for the node's.
      if (component === 'kubelet' && real && (await inPodCgroup(procDir, name))) return undefined;
      return component ? [component, { pid, argv }] : undefined;
    }),
  );
  const out: ComponentProcesses = {};
  for (const entry of found) {
    if (!entry) continue;
    const [component, ref] = entry;
    const current = out[component];
    if (!current || ref.pid < current.pid) out[component] = ref;
  }
  return out;
}

/**
 * On the kernel's procfs the path cannot hold a planted symlink (/proc/<pid> is a directory,
 * cmdline a file), so it is opened directly: two syscalls fewer per process than HostFs.
 */
async function readRealCmdline(procDir: string, name: string): Promise<string[] | undefined> {
  let fh;
  try {
    fh = await open(path.join(procDir, name, 'cmdline'), 'r');
  } catch {
    return undefined; // the process exited between readdir and open
  }
  try {
    const probe = Buffer.allocUnsafe(PROBE_BYTES);
    const { bytesRead } = await fh.read(probe, 0, PROBE_BYTES, 0);
    if (bytesRead === 0) return undefined; // kernel thread or zombie
    const head = splitCmdline(probe.subarray(0, bytesRead).toString('utf8'));
    if (!identify(head)) return undefined;
    if (bytesRead < PROBE_BYTES) return head;
    const full = Buffer.allocUnsafe(MAX_CMDLINE_BYTES);
    const rest = await fh.read(full, 0, MAX_CMDLINE_BYTES, 0);
    return splitCmdline(full.subarray(0, rest.bytesRead).toString('utf8'));
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/** Whether a process runs in a pod's cgroup (its /proc/<pid>/cgroup names kubepods). */
export async function inPodCgroup(procDir: string, name: string): Promise<boolean> {
  try {
    const fh = await open(path.join(procDir, name, 'cgroup'), 'r');
    try {
      const buf = Buffer.allocUnsafe(8192);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return buf.subarray(0, bytesRead).toString('utf8').includes('kubepods');
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

async function readFixtureCmdline(view: HostView, name: string): Promise<string[] | undefined> {
  const out = await view.readText(`/proc/${name}/cmdline`, MAX_CMDLINE_BYTES);
  if (out.kind !== 'ok' || out.text === '') return undefined;
  return splitCmdline(out.text);
}
