// Configurations written before rule packs: agent.collectors.process.allow entries name the old
// detection ids and match namespace, pod, container and executable. Each becomes an exception of
// the rules that replaced the detection it names, so such a configuration keeps working unchanged.

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
    const rules = a.rule === undefined ? ['*'] : RENAMED_RULES[a.rule] ?? [a.rule];
    for (const rule of rules) out.push({ rule, exception });
  });
  return out;
}
