// Configurations written before rule packs: agent.collectors.process.allow entries name the old
// detection ids and match namespace, pod, container and executable. Each becomes an exception of
// the rules that replaced the detection it names, so such a configuration keeps working unchanged.

import { normaliseHostPath } from '../core/observation.js';
import type { ExceptionDef } from './pack.js';

/** The exec detections' ids before rule packs, and the rules that do their work now. */
export const RENAMED_RULES: Readonly<Record<string, readonly string[]>> = {
  'exec-shell-in-container': ['process.shell-in-container', 'process.terminal-shell-in-container'],
  'exec-package-manager-in-container': ['process.package-manager-in-container'],
  'exec-network-tool-in-container': ['process.network-tool-in-container', 'process.downloader-in-container', 'process.network-scanner'],
  'exec-crypto-miner': ['process.crypto-miner'],
  'exec-from-writable-path': ['process.exec-from-writable-path'],
  'exec-binary-not-in-image': ['process.binary-not-in-image'],
  'exec-reverse-shell': ['process.reverse-shell'],
  'exec-container-admin-tool-in-container': ['process.container-admin-tool-in-container'],
  'exec-privilege-escalation': ['process.privilege-escalation'],
};

export interface AllowEntry {
  rule?: string;
  namespace?: string;
  pod?: string;
  container?: string;
  exe?: string;
}

export function allowToExceptions(entries: AllowEntry[]): { rule: string; exception: ExceptionDef }[] {
  const out: { rule: string; exception: ExceptionDef }[] = [];
  entries.forEach((a, i) => {
    const pairs: [string, string][] = [];
    // An empty value meant "any" in the allow-list: such a key is left out of the exception.
    if (a.namespace) pairs.push(['kubernetes.namespace', a.namespace]);
    if (a.pod) pairs.push(['kubernetes.pod', a.pod]);
    if (a.container) pairs.push(['kubernetes.container', a.container]);
    if (a.exe) pairs.push(['process.exe', a.exe]);
    // An entry that names nothing to match quiets the rule everywhere.
    if (pairs.length === 0) pairs.push(['node', '*']);
    const exception: ExceptionDef = { name: `allow_${i}`, fields: pairs.map((p) => p[0]), values: [pairs.map((p) => p[1])] };
    // No rule named: every exec rule (the allow-list was the process collector's).
    const rules = a.rule === undefined ? ['process.*'] : RENAMED_RULES[a.rule] ?? [a.rule];
    for (const rule of rules) out.push({ rule, exception });
  });
  return out;
}

/** The runtime collector's settings from before its checks were rules. */
export interface RuntimeLegacy {
  privilegedNamespaces?: string[];
  safeCapabilities?: string[];
  sensitiveHostPaths?: string[];
}

/**
 * The runtime pack's lists those settings stand for, when given: `namespace[/pod-glob[/container-glob]]`
 * becomes a glob over namespace/pod/container (`?`, which the old dialect had, becomes `*`: one
 * glob dialect, never narrower than before); capabilities lose CAP_; paths are spelt as
 * mount.hostPath is (/var/run is /run).
 */
export function runtimeListOverrides(c: RuntimeLegacy): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (c.privilegedNamespaces) {
    out.set('expected_privileged_workloads', c.privilegedNamespaces.map((p) => {
      const parts = p.replace(/\?/g, '*').split('/');
      while (parts.length < 3) parts.push('*');
      return parts.join('/');
    }));
  }
  if (c.safeCapabilities) out.set('safe_capabilities', c.safeCapabilities.map((x) => x.toUpperCase().replace(/^CAP_/, '')));
  if (c.sensitiveHostPaths) out.set('sensitive_host_paths', c.sensitiveHostPaths.map(normaliseHostPath));
  return out;
}
