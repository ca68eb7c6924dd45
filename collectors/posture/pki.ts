// The control plane's PKI directory (/etc/kubernetes/pki and its etcd/ subdirectory), walked once
// per evaluation with a bound on depth and entries so that a hostile tree cannot stall a scan.

import path from 'node:path';
import type { HostView } from './host-view.js';

export const PKI_DIR = '/etc/kubernetes/pki';
const MAX_DEPTH = 3;
const MAX_ENTRIES = 2000;

export interface PkiTree {
  exists: boolean;
  /** Directories, the PKI directory itself first. */
  dirs: string[];
  /** Every non-directory entry, sorted. */
  files: string[];
  truncated: boolean;
}

export function walkPki(view: HostView): Promise<PkiTree> {
  return view.cached('pki', async () => {
    const root = await view.stat(PKI_DIR);
    view.watch(PKI_DIR);
    if (root.kind !== 'ok' || !root.stats.isDirectory()) return { exists: false, dirs: [], files: [], truncated: false };
    const tree: PkiTree = { exists: true, dirs: [PKI_DIR], files: [], truncated: false };
    let count = 0;
    const walk = async (dir: string, depth: number): Promise<void> => {
      for (const name of await view.list(dir)) {
        if (++count > MAX_ENTRIES) {
          tree.truncated = true;
          return;
        }
        const p = path.posix.join(dir, name);
        const st = await view.stat(p);
        if (st.kind === 'ok' && st.stats.isDirectory()) {
          if (depth < MAX_DEPTH) {
            tree.dirs.push(p);
            view.watch(p);
            await walk(p, depth + 1);
          }
        } else tree.files.push(p);
      }
    };
    await walk(PKI_DIR, 1);
    tree.files.sort();
    return tree;
  });
}
