// What an exec detection sees and returns. Detectors are pure and synchronous: the collector
// gathers the facts (container, parent, stdio, binary drift) once and every detector reads them.
// Until the rule engine owns detections, they are code behind this one interface.

import type { ExecEvent } from '../sources/exec-source.js';
import type { ContainerRecord } from '../../runtime/inventory.js';
import type { ProcessRecord } from '../process-table.js';
import type { Severity } from '../../finding.js';

export interface ExecSubject {
  exec: ExecEvent;
  /** Basename of argv[0] (what a multi-call binary like busybox acts as), else of exe. */
  name: string;
  /** Basename of the executable file. */
  exeName: string;
  containerId: string | null;
  container: ContainerRecord | null;
  /** True when the process runs inside a container (by cgroup), known to the inventory or not. */
  inContainer: boolean;
  /** The container's own first process (its entrypoint), which is expected by definition. */
  isContainerInit: boolean;
  parent: ProcessRecord | undefined;
  /** Whether the executable was written after the container started (null: unknown). */
  binaryDrift: () => boolean | null;
}

export interface Detection {
  ruleId: string;
  title: string;
  severity: Severity;
  mitre: string[];
  /** A sentence that says what happened and why it matters. */
  message: string;
  evidence: string;
  remediation: string;
}

export interface Detector {
  readonly id: string;
  detect(s: ExecSubject): Detection | null;
}

export const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'fish', 'tcsh', 'csh']);

export function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

export function commandLine(e: ExecEvent, max = 300): string {
  const s = e.argv.join(' ');
  return s.length > max ? s.slice(0, max) + '…' : s;
}
