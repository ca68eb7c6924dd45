// What collectors share about the node, so none has to know another: the runtime collector
// fills the container inventory, the process collector looks containers up in it and announces
// host component execs (a kubelet restarted with new flags) and asks for a refresh when it sees a
// container the inventory does not know yet; the posture and runtime collectors listen. The
// posture collector names the files its checks read; the process collector has the audit source
// watch them and says who changed one. The kube collector fills the pod directory from the API
// server.

import { EventEmitter } from 'node:events';
import { Inventory } from './runtime/inventory.js';
import type { FileChangeEvent } from './process/sources/exec-source.js';
import { PodDirectory } from './kube/pod-directory.js';

export interface ComponentExec {
  /** kubelet, kube-proxy, containerd, crio, dockerd */
  component: string;
  pid: number;
  argv: string[];
}

/** A watched file written to or changed, and by whom, with the container and pod the process ran in ('' on the host, or when it was gone before its cgroup was read and no exec of it was seen). */
export type FileChange = Omit<FileChangeEvent, 'cgroup'> & { containerId: string; container: string; namespace: string; pod: string };

interface NodeFactEvents {
  'component-exec': [ComponentExec];
  /** A process ran in a container the inventory does not know yet: refresh it soon. */
  'container-unknown': [string];
  /** The host paths whose changes should be attributed (the posture checks' files); replaces the last set. */
  'watch-files': [string[]];
  'file-change': [FileChange];
}

export class NodeFacts extends EventEmitter<NodeFactEvents> {
  /** Containers and sandboxes on this node; empty while the runtime collector is off. */
  readonly inventory = new Inventory();
  /**
   * Whether anything will fill the inventory (the runtime collector is configured): when not,
   * an exec in a container goes out at once rather than waiting for a listing that never comes.
   */
  inventoryExpected = true;
  /** The pods the API server binds to this node (owner workload, service account, labels); empty while the kube collector is off or has no API access. */
  readonly pods = new PodDirectory();
  /** This node's Node object uid in the API server ('' until the kube collector has read it). */
  nodeUid = '';
  /** The container runtime's name and version ("containerd 1.6.20"), once the runtime collector asked; '' before. */
  runtime = '';
  /** The last set of files asked to be watched ('watch-files'), for a collector that starts later. */
  watchFiles: string[] = [];
  /** Whether changes to those files are attributed: 'active', or why not ('' while nobody has said). */
  fileWatch = '';
}
