// The posture engine's public surface: evaluate a node's CIS worker-node (and control-plane
// file) checks from its host root, rediscover its components cheaply, and render the results.
// The long-running collector (collector.ts) and the `check` command build on these.

export { evaluateNode, DEFAULT_EXPIRY_WARN_DAYS, CHECKS, type EvaluateOptions } from './evaluate.js';
export { discoverNode, discoveryKey, KUBEADM_DEFAULTS, type DiscoverOptions } from './discovery.js';
export { renderTable, renderJson, renderJunit, summarise } from './report.js';
export { CATALOG, definition, type CheckDefinition } from './catalog.js';
export type {
  CheckStatus,
  CheckResult,
  Component,
  Discovery,
  DiscoveredPath,
  Evaluation,
  KubeletDiscovery,
  KubeProxyDiscovery,
  EtcdDiscovery,
  PathSource,
  ProcessRef,
} from './types.js';
