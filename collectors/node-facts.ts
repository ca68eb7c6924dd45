// What collectors share about the node, so none has to know another: the runtime collector
// fills the container inventory, the process collector looks containers up in it and announces
// host component execs (a kubelet restarted with new flags) and asks for a refresh when it sees a
// container the inventory does not know yet; the posture and runtime collectors listen. The kube
// collector fills the pod directory from the API server.

import { EventEmitter } from 'node:events';
import { Inventory } from './runtime/inventory.js';
import { PodDirectory } from './kube/pod-directory.js';

export interface ComponentExec {
  /** kubelet, kube-proxy, containerd, crio, dockerd */
  component: string;
  pid: number;
  argv: string[];
}

interface NodeFactEvents {
  'component-exec': [ComponentExec];
  /** A process ran in a container the inventory does not know yet: refresh it soon. */
  'container-unknown': [string];
}

export class NodeFacts extends EventEmitter<NodeFactEvents> {
  /** Containers and sandboxes on this node; empty while the runtime collector is off. */
  readonly inventory = new Inventory();
  /** The pods the API server binds to this node (owner workload, service account, labels); empty while the kube collector is off or has no API access. */
  readonly pods = new PodDirectory();
  /** This node's Node object uid in the API server ('' until the kube collector has read it). */
  nodeUid = '';
  /** The container runtime's name and version ("containerd 1.6.20"), once the runtime collector asked; '' before. */
  runtime = '';
}
