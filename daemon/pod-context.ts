// Findings about a pod carry what the API server knows of it: the owner workload, the service
// account and the labels, looked up in the kube collector's pod directory by pod uid (or by
// namespace and name) as the findings leave the rule engine, so every source (exec, runtime,
// kube) gets them in one place. A pod the directory does not know (no API access, a pod just
// scheduled) is sent as the collector named it.

import type { Finding, FindingSink } from '../core/finding.js';
import type { PodDirectory } from '../collectors/kube/pod-directory.js';

export function withPodContext(sink: FindingSink, pods: PodDirectory): FindingSink {
  return {
    emit: (findings) => {
      if (pods.size > 0) for (const f of findings) addPodContext(f, pods);
      return sink.emit(findings);
    },
  };
}

export function addPodContext(f: Finding, pods: PodDirectory): void {
  const k = f.kubernetes;
  if (!k || k.workloadKind !== undefined) return;
  const p = (k.podUid ? pods.byPodUid(k.podUid) : undefined) ?? (k.namespace && k.pod ? pods.byNamespacedName(k.namespace, k.pod) : undefined);
  if (!p) return;
  f.kubernetes = { ...k, workloadKind: p.workloadKind, workloadName: p.workloadName, serviceAccount: p.serviceAccount, labels: { ...p.labels } };
}
