// Pods, nodes and an API client for the kube collector's tests: objects shaped as the API server
// returns them (the fields the agent reads, and a few it does not).
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiClient, kubeConfigCredentials } from '../../../collectors/kube/api-client.js';
import type { KubeListWatchServer } from '../../helpers/kube-list-watch-server.js';

export const NODE = 'worker-1';

export function clientFor(server: KubeListWatchServer, o: ConstructorParameters<typeof KubeApiClient>[2] = {}): KubeApiClient {
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig());
  return new KubeApiClient(kubeConfigCredentials(kc), server.url, o);
}

export interface PodSpec {
  namespace?: string;
  name: string;
  uid?: string;
  node?: string;
  image?: string;
  containerName?: string;
  containerId?: string;
  imageId?: string;
  owner?: { kind: string; name: string };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  serviceAccount?: string;
}

export function pod(p: PodSpec): Record<string, unknown> {
  const c = p.containerName ?? 'main';
  return {
    metadata: {
      namespace: p.namespace ?? 'default', name: p.name, ...(p.uid ? { uid: p.uid } : {}),
      labels: p.labels ?? { app: p.name }, annotations: p.annotations ?? {},
      ...(p.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'owner-uid', controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      nodeName: p.node ?? NODE, serviceAccountName: p.serviceAccount ?? 'default', restartPolicy: 'Always',
      containers: [{ name: c, image: p.image ?? 'registry.example/app:1', resources: {} }],
    },
    status: {
      phase: 'Running', podIP: '10.0.0.5',
      containerStatuses: p.containerId ? [{ name: c, image: p.image ?? 'registry.example/app:1', imageID: p.imageId ?? '', containerID: `containerd://${p.containerId}`, ready: true, restartCount: 0, state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] : [],
    },
  };
}

export function node(name = NODE, kubeletVersion = 'v1.31.2'): Record<string, unknown> {
  return { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: {}, status: { nodeInfo: { kubeletVersion, containerRuntimeVersion: 'containerd://1.7.0' } } };
}
