// The one module that converts a collector's Finding into the wire Event
// (proto/nodewarden/v1/event.proto). The event's codec and JSON mapping live in core/event.ts.

import Long from 'long';
import { nodewarden } from '../gen/nodewarden.js';
import type { Finding, FindingSource, Severity } from '../core/finding.js';

const pb = nodewarden.v1;
import type { WireEvent } from '../core/event.js';
export { encodeEvent } from '../core/event.js';

export interface Envelope {
  agentId: string;
  node: string;
  cluster: string;
  agentVersion: string;
}

const SEVERITY: Record<Severity, number> = {
  info: pb.Severity.SEVERITY_INFO,
  low: pb.Severity.SEVERITY_LOW,
  medium: pb.Severity.SEVERITY_MEDIUM,
  high: pb.Severity.SEVERITY_HIGH,
  critical: pb.Severity.SEVERITY_CRITICAL,
};
const SOURCE: Record<FindingSource, number> = {
  posture: pb.Source.SOURCE_POSTURE,
  runtime: pb.Source.SOURCE_RUNTIME,
  process: pb.Source.SOURCE_PROCESS,
  agent: pb.Source.SOURCE_AGENT,
  kube: pb.Source.SOURCE_KUBE,
};

export function toLong(v: bigint | number): Long {
  return typeof v === 'number' ? Long.fromNumber(v, false) : Long.fromString(v.toString(), false);
}

export function nowUnixNano(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Build the wire event for a finding, numbered `seq` by the spool. */
export function toWireEvent(f: Finding, env: Envelope, seq: number): WireEvent {
  const ev = new pb.Event({
    id: `${env.agentId}/${seq}`,
    agentId: env.agentId,
    sequence: Long.fromNumber(seq, true),
    node: env.node,
    timeUnixNano: toLong(f.timeUnixNano ?? nowUnixNano()),
    source: SOURCE[f.source],
    ruleId: f.ruleId,
    ruleIds: f.ruleIds ?? [],
    severity: SEVERITY[f.severity],
    title: f.title,
    message: f.message,
    fingerprint: f.fingerprint,
    state: f.state === 'open' ? pb.FindingState.FINDING_STATE_OPEN : f.state === 'resolved' ? pb.FindingState.FINDING_STATE_RESOLVED : 0,
    tags: f.tags ?? [],
    mitreTechniques: f.mitre ?? [],
    cisId: f.cisId ?? '',
    evidence: f.evidence ?? '',
    expected: f.expected ?? '',
    remediation: f.remediation ?? '',
    count: f.count ?? 1,
    attributes: f.attributes ?? {},
    cluster: env.cluster,
    agentVersion: env.agentVersion,
  });
  if (f.file) ev.file = new pb.FileContext({ ...f.file, kind: f.file.kind ?? '' });
  if (f.process) {
    const p = f.process;
    ev.process = new pb.ProcessContext({
      pid: p.pid, ppid: p.ppid, uid: p.uid >>> 0, euid: p.euid >>> 0, gid: p.gid >>> 0, egid: p.egid >>> 0, auid: p.auid >>> 0,
      exe: p.exe, comm: p.comm, argv: p.argv, argvTruncated: p.argvTruncated, cwd: p.cwd,
      startTimeUnixNano: p.startTimeUnixNano !== undefined ? toLong(p.startTimeUnixNano) : undefined,
      ancestors: p.ancestors.map((a) => new pb.ProcessAncestor(a)),
      capture: p.capture,
    });
  }
  if (f.container) ev.container = new pb.ContainerContext(f.container);
  if (f.kubernetes) ev.kubernetes = new pb.KubernetesContext(f.kubernetes);
  return ev;
}

export const severityValue = (s: Severity): number => SEVERITY[s];
export const sourceValue = (s: FindingSource): number => SOURCE[s];
