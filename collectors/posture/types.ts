// The vocabulary of the posture engine: what one check reports (CheckResult), what one full
// evaluation of a node returns (Evaluation) and what discovery found (Discovery). Plain data
// only, so results can be rendered, serialised and turned into findings by the collector.

import type { FileInfo, Severity } from '../../core/finding.js';
import type { ControlPlaneDiscovery } from './components.js';

/** The CIS Kubernetes Benchmark versions nodewarden carries (kube-bench's names). */
export type Benchmark = 'cis-1.10' | 'cis-1.12';
export const BENCHMARKS: readonly Benchmark[] = ['cis-1.10', 'cis-1.12'];

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'na' | 'error';
export type Component = 'kubelet' | 'kube-proxy' | 'control-plane' | 'etcd' | 'node' | 'runtime';

/**
 * What one check measured about one subject. The requirement (`expected`) is the check's; whether
 * a result is a finding, and how severe, is the posture rule pack's (rules/packs/posture.yaml).
 */
export interface CheckResult {
  /** CIS id (kube-bench cis-1.10 numbering, e.g. '4.1.1') or an 'nw-' id for nodewarden's own checks. */
  id: string;
  /** The requirement, as the benchmark states it. */
  title: string;
  status: CheckStatus;
  /** A finer reason where the status alone does not say (certificates: 'expired', 'not-yet-valid', 'expiring'; a Manual check not met: 'manual'). */
  reason?: string;
  /** The benchmark marks the check Manual: not met is `warn`, never `fail`. */
  manual?: boolean;
  /** What was found, as a sentence or a short fact such as 'mode 644, owner root:root'. */
  evidence: string;
  expected: string;
  component: Component;
  /** The object the check is about (a host path, or 'kubelet'): stable across runs, used in fingerprints. */
  subject: string;
  file?: FileInfo;
  /** For reports (`nodewarden check`): filled from the rule that judges the check. */
  severity?: Severity;
  remediation?: string;
  mitre?: string[];
}

/**
 * Where a path or a set of flags came from: the running process's command line, the systemd
 * unit (when the process is absent), the component's own config file, or a well-known default.
 */
export type PathSource = 'cmdline' | 'unit' | 'config' | 'default';

export interface DiscoveredPath {
  /** The path as the component names it. */
  path: string;
  /**
   * Where the agent reads it, as a host path: the same as `path` for a component running on the
   * host, `/proc/<pid>/root/<path>` for one running in a container (kube-proxy on kubeadm).
   */
  hostPath: string;
  source: PathSource;
}

export interface ProcessRef {
  pid: number;
  argv: string[];
}

export interface KubeletDiscovery {
  process?: ProcessRef;
  /** The kubelet's arguments (without argv[0]) and where they came from; 'none' when neither process nor unit gave any. */
  args: string[];
  argsSource: 'cmdline' | 'unit' | 'none';
  configFile?: DiscoveredPath;
  configDir?: DiscoveredPath;
  kubeconfig?: DiscoveredPath;
  /** The client CA bundle (clientCAFile / --client-ca-file, else kubeadm's /etc/kubernetes/pki/ca.crt). */
  clientCAFile?: DiscoveredPath;
  /** Systemd unit file and drop-ins that define the kubelet service, in the order systemd reads them. */
  unitFiles: string[];
  /** EnvironmentFile= files the unit names (read only when the process is absent). */
  envFiles: string[];
}

export interface KubeProxyDiscovery {
  process?: ProcessRef;
  args: string[];
  argsSource: 'cmdline' | 'none';
  /** Host path of the root the process sees (`/proc/<pid>/root`), or '/' when it was not found. */
  root: string;
  configFile?: DiscoveredPath;
  kubeconfig?: DiscoveredPath;
}

export interface EtcdDiscovery {
  process?: ProcessRef;
  dataDir?: DiscoveredPath;
}

export interface Discovery {
  kubelet: KubeletDiscovery;
  kubeProxy: KubeProxyDiscovery;
  etcd: EtcdDiscovery;
  /** The API server, controller manager, scheduler and etcd: running process and static pod manifest. */
  components: ControlPlaneDiscovery;
  /** Directory of static pod manifests (the kubelet's staticPodPath, else kubeadm's default). */
  manifestDir: DiscoveredPath;
  /** Whether this node runs the control plane: a control-plane static pod manifest or admin.conf exists. */
  controlPlane: boolean;
  /** Whether the /proc that was scanned is a real procfs (false for a fixture tree). */
  procfs: boolean;
  /** Problems met during discovery that did not stop it (an unreadable unit file, …). */
  notes: string[];
}

export interface Evaluation {
  /** Every check, in catalogue order, including those that do not apply ('na'). */
  results: CheckResult[];
  /** Host paths (files and their directories) whose change should trigger a new evaluation. */
  watch: string[];
  discovery: Discovery;
  /** The benchmark version the checks followed, and why that one. */
  benchmark: { id: Benchmark; reason: string };
  durationMs: number;
}
