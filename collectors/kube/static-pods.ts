// Static pod manifests: the files in the kubelet's staticPodPath, which the kubelet runs as pods
// by itself (the API server only mirrors them, admission control never sees them). Each file's
// sha256 is compared with the version the agent accepted: the manifests found at the agent's
// first start, and afterwards each change once it has been there for acceptAfterMs. A change is
// "added", "changed" or "removed" until then (the finding stays open that long: a kubeadm upgrade
// is seen, then accepted by itself), or until the file is back as accepted. The accepted set is
// kept in <stateDir>/kube/static-pods.json, so a change made while the agent was down is seen.
// The kubelet reads every file of the folder that is not hidden and not a folder; so does this.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { HostFs } from '../host/host-fs.js';
import { describeError } from '../../core/errors.js';
import { writeFileDurably } from '../../core/durable-file.js';
import type { KubeManifestObservation } from '../../core/observation.js';

/** The kubelet refuses nothing by size; a manifest is a few KiB. Larger is reported unreadable. */
const MAX_MANIFEST_BYTES = 1024 * 1024;
const MAX_FILES = 1000;

interface Stored {
  version: 1;
  dir: string;
  accepted: Record<string, string>;
  pending: Record<string, { sha256: string; since: number }>;
}

export class StaticPodManifests {
  private state: Stored | null = null;

  constructor(private readonly fs: HostFs, private readonly file: string | null, private readonly acceptAfterMs: number) {}

  private load(dir: string): Stored | null {
    if (this.state) return this.state;
    if (!this.file) return null;
    try {
      const s = JSON.parse(readFileSync(this.file, 'utf8')) as Stored;
      if (s.version === 1 && typeof s.accepted === 'object' && typeof s.pending === 'object' && s.dir === dir) return (this.state = s);
    } catch {
      // first start, or a state file from another layout: start from what is there now
    }
    return null;
  }

  /** The manifests now, as observations of what changed against the accepted set. */
  async scan(dir: string, now = Date.now()): Promise<KubeManifestObservation[]> {
    const current = new Map<string, { sha256: string } | { error: string }>();
    let names: string[] = [];
    try {
      names = (await this.fs.list(dir)).filter((n) => !n.startsWith('.')).slice(0, MAX_FILES);
    } catch (err) {
      // An unlistable folder: nothing is known to have changed; say why on the folder itself.
      return [{ path: dir, change: '', sha256: '', acceptedSha256: '', changedAt: '', dir, error: describeError(err) }];
    }
    for (const n of names) {
      const p = path.posix.join(dir, n);
      try {
        const st = await this.fs.stat(p);
        if (!st || st.isDirectory()) continue;
        const body = await this.fs.readFile(p, MAX_MANIFEST_BYTES);
        current.set(p, { sha256: createHash('sha256').update(body).digest('hex') });
      } catch (err) {
        current.set(p, { error: describeError(err) });
      }
    }

    let state = this.load(dir);
    let dirty = false;
    if (!state) {
      // First sight: what is there is what the node was built with.
      state = { version: 1, dir, accepted: {}, pending: {} };
      for (const [p, c] of current) if ('sha256' in c) state.accepted[p] = c.sha256;
      this.state = state;
      dirty = true;
    }
    const out: KubeManifestObservation[] = [];
    const paths = new Set([...Object.keys(state.accepted), ...current.keys()]);
    for (const p of [...paths].sort()) {
      const c = current.get(p);
      const acc = state.accepted[p];
      if (c && 'error' in c) {
        // Unreadable: its change cannot be judged; the accepted version stays.
        out.push({ path: p, change: '', sha256: '', acceptedSha256: acc ?? '', changedAt: '', dir, error: c.error });
        continue;
      }
      const sha = c?.sha256;
      if (sha === acc) {
        if (state.pending[p]) {
          delete state.pending[p];
          dirty = true;
        }
        out.push({ path: p, change: '', sha256: sha ?? '', acceptedSha256: acc ?? '', changedAt: '', dir, error: '' });
        continue;
      }
      let pend = state.pending[p];
      if (!pend || pend.sha256 !== (sha ?? '')) {
        pend = state.pending[p] = { sha256: sha ?? '', since: now };
        dirty = true;
      }
      if (now - pend.since >= this.acceptAfterMs) {
        // Long enough: this is the node's manifest now.
        if (sha === undefined) delete state.accepted[p];
        else state.accepted[p] = sha;
        delete state.pending[p];
        dirty = true;
        if (sha !== undefined) out.push({ path: p, change: '', sha256: sha, acceptedSha256: sha, changedAt: '', dir, error: '' });
        continue;
      }
      const change = acc === undefined ? 'added' : sha === undefined ? 'removed' : 'changed';
      out.push({ path: p, change, sha256: sha ?? '', acceptedSha256: acc ?? '', changedAt: new Date(pend.since).toISOString(), dir, error: '' });
    }
    if (dirty && this.file) writeFileDurably(this.file, `${JSON.stringify(state)}\n`, 0o600);
    return out;
  }
}
