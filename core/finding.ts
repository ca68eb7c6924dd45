// A finding about the node, independent of transport: what the rules make of observations (and
// what the agent reports about itself). The daemon numbers it and converts it to the wire Event
// (daemon/wire-event.ts); neither collectors nor rules see the wire format. Fields mirror
// proto/nodewarden/v1/event.proto.

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export type FindingState = 'open' | 'resolved';
export type FindingSource = 'posture' | 'runtime' | 'process' | 'agent' | 'kube';

export interface FileInfo {
  /** Path on the host, without the agent's host-root prefix. */
  path: string;
  exists: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  kind?: 'file' | 'directory' | 'symlink' | 'socket' | 'other';
}

export interface ProcessAncestorInfo {
  pid: number;
  exe: string;
  comm: string;
  argv: string[];
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  exe: string;
  comm: string;
  argv: string[];
  argvTruncated: boolean;
  cwd: string;
  startTimeUnixNano?: bigint;
  ancestors: ProcessAncestorInfo[];
  /** The exec source that saw it: bpf, audit, connector or poller. */
  capture: string;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  imageDigest: string;
  runtime: string;
  state: string;
  pid: number;
  privileged: boolean;
  sandboxId: string;
}

export interface KubernetesInfo {
  namespace: string;
  pod: string;
  podUid: string;
  container: string;
  /** From the API server (the kube collector's pod directory), when known. */
  workloadKind?: string;
  workloadName?: string;
  serviceAccount?: string;
  labels?: Record<string, string>;
}

export interface Finding {
  source: FindingSource;
  ruleId: string;
  /** Every rule that matched the observation, ruleId (the most severe) first; absent when only one did. */
  ruleIds?: string[];
  severity: Severity;
  title: string;
  message: string;
  /** Same problem on the same object gives the same fingerprint, across restarts. */
  fingerprint: string;
  /** Posture-like findings have a lifecycle; one-off detections leave it unset. */
  state?: FindingState;
  tags?: string[];
  mitre?: string[];
  cisId?: string;
  evidence?: string;
  expected?: string;
  remediation?: string;
  /** Identical detections folded into this one. */
  count?: number;
  attributes?: Record<string, string>;
  file?: FileInfo;
  process?: ProcessInfo;
  container?: Partial<ContainerInfo>;
  kubernetes?: Partial<KubernetesInfo>;
  /** When it was observed; the daemon stamps the time of emission when absent. */
  timeUnixNano?: bigint;
}

export interface FindingSink {
  /** Hand findings on. Returns once they are durably accepted (written to the spool). */
  emit(findings: Finding[]): Promise<void>;
}
