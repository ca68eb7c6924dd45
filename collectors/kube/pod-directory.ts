// The pods the API server binds to this node, as the kube collector last saw them, for whoever
// attributes something to a pod: look a pod up by uid (the CRI sandbox's io.kubernetes.pod.uid,
// which for a static pod is the mirror's kubernetes.io/config.mirror hash) or by namespace and
// name. Written only by the kube collector; empty while it is off or has no API access.

import type { PodInfo } from './pod-info.js';

export class PodDirectory {
  private byUid = new Map<string, PodInfo>();
  private byName = new Map<string, PodInfo>();
  /** The API's pod list has been read at least once: an absent pod is absent, not unknown. */
  synced = false;

  replace(pods: Iterable<PodInfo>, synced: boolean): void {
    const uid = new Map<string, PodInfo>();
    const name = new Map<string, PodInfo>();
    for (const p of pods) {
      uid.set(p.uid, p);
      if (p.mirrorOf) uid.set(p.mirrorOf, p);
      name.set(`${p.namespace}/${p.name}`, p);
    }
    this.byUid = uid;
    this.byName = name;
    this.synced = synced;
  }

  /** A pod by its uid, or a static pod by the uid the kubelet gives it on the node. */
  byPodUid(uid: string): PodInfo | undefined {
    return uid ? this.byUid.get(uid) : undefined;
  }

  byNamespacedName(namespace: string, name: string): PodInfo | undefined {
    return this.byName.get(`${namespace}/${name}`);
  }

  get size(): number {
    return this.byName.size;
  }
}
