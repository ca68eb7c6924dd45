// One evaluation's window on the host: every stat, read and listing goes through here, is done
// at most once per evaluation (memoised promises, so concurrent checks share one syscall), never
// throws (failures come back as values), and records the paths the collector should watch.
// Paths under /proc are read through `procFs`; everything else through the host-root `fs`.

import { statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import { HostFs, DEFAULT_MAX_READ_BYTES } from '../host/host-fs.js';
import { EvaluationFs } from './evaluation-fs.js';
import { describeError, isNwError } from '../../core/errors.js';

/** statfs f_type of procfs: only a real procfs gets the kernel's /proc/<pid>/root magic link. */
const PROC_SUPER_MAGIC = 0x9fa0;

export type StatOutcome =
  | { kind: 'ok'; stats: Stats }
  | { kind: 'missing' }
  | { kind: 'error'; message: string };

export type ReadOutcome =
  | { kind: 'ok'; text: string }
  | { kind: 'missing' }
  | { kind: 'error'; message: string; tooLarge: boolean };

export class HostView {
  readonly fs: HostFs;
  readonly procFs: HostFs;
  private procIsReal: boolean | undefined;
  private readonly stats = new Map<string, Promise<StatOutcome>>();
  private readonly reads = new Map<string, Promise<ReadOutcome>>();
  private readonly listings = new Map<string, Promise<string[]>>();
  private readonly containerRoots = new Map<string, HostFs>();
  private readonly watched = new Set<string>();
  private readonly derived = new Map<string, Promise<unknown>>();

  constructor(fs: HostFs, procFs: HostFs = fs) {
    // Same roots, with resolution memoised for this evaluation only.
    this.fs = new EvaluationFs(fs.root);
    this.procFs = procFs === fs ? this.fs : new EvaluationFs(procFs.root);
  }

  /**
   * Whether procFs's /proc is the kernel's procfs. Then /proc/<pid>/root is the magic link to
   * the process's own root (a container's filesystem), which the kernel follows for us; in a
   * fixture tree it is an ordinary symlink and must be resolved inside the root like any other.
   */
  async procfs(): Promise<boolean> {
    if (this.procIsReal === undefined) {
      try {
        const st = await statfs(path.join(this.procFs.root, 'proc'));
        this.procIsReal = st.type === PROC_SUPER_MAGIC;
      } catch {
        this.procIsReal = false;
      }
    }
    return this.procIsReal;
  }

  /**
   * Remember a host path (and its directory) as worth watching. Files inside a container
   * (/proc/<pid>/root/...) are left out: only the kernel's magic link reaches them, a watcher
   * resolving the path through HostFs would land on the host's own file, and they change
   * with the pid anyway; the collector's periodic evaluation covers them.
   */
  watch(hostPath: string): void {
    if (hostPath === '/proc' || hostPath.startsWith('/proc/')) return;
    this.watched.add(hostPath);
    const dir = path.posix.dirname(hostPath);
    if (dir !== hostPath) this.watched.add(dir);
  }

  watchList(): string[] {
    return [...this.watched].sort();
  }

  stat(hostPath: string): Promise<StatOutcome> {
    let p = this.stats.get(hostPath);
    if (!p) {
      p = this.doStat(hostPath);
      this.stats.set(hostPath, p);
    }
    return p;
  }

  readText(hostPath: string, maxBytes = DEFAULT_MAX_READ_BYTES): Promise<ReadOutcome> {
    const key = `${maxBytes}\0${hostPath}`;
    let p = this.reads.get(key);
    if (!p) {
      p = this.doRead(hostPath, maxBytes);
      this.reads.set(key, p);
    }
    return p;
  }

  /** Memoise anything derived from host files (a parsed YAML file, a certificate) under a key. */
  cached<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.derived.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.derived.set(key, p);
    }
    return p;
  }

  /** Names in a directory, sorted; empty when it is absent or unreadable. */
  list(hostPath: string): Promise<string[]> {
    let p = this.listings.get(hostPath);
    if (!p) {
      p = this.route(hostPath).then(async ({ fs, rel }) => {
        try {
          return await fs.list(rel);
        } catch {
          return [];
        }
      });
      this.listings.set(hostPath, p);
    }
    return p;
  }

  private async doStat(hostPath: string): Promise<StatOutcome> {
    try {
      const { fs, rel } = await this.route(hostPath);
      const stats = await fs.stat(rel);
      return stats ? { kind: 'ok', stats } : { kind: 'missing' };
    } catch (err) {
      return { kind: 'error', message: describeError(err) };
    }
  }

  private async doRead(hostPath: string, maxBytes: number): Promise<ReadOutcome> {
    const st = await this.stat(hostPath);
    if (st.kind === 'missing') return { kind: 'missing' };
    if (st.kind === 'error') return { kind: 'error', message: st.message, tooLarge: false };
    try {
      const { fs, rel } = await this.route(hostPath);
      return { kind: 'ok', text: await fs.readText(rel, maxBytes) };
    } catch (err) {
      return {
        kind: 'error',
        message: describeError(err).replace(rel0(hostPath), hostPath),
        tooLarge: isNwError(err, 'NW_ERR_HOST_FILE_TOO_LARGE'),
      };
    }
  }

  /**
   * Which HostFs reads a host path, and the path to give it. On a real procfs,
   * /proc/<pid>/root/<rest> is read as <rest> under a HostFs rooted at the magic link, so the
   * kernel enters the container's root and its symlinks stay inside that root.
   */
  private async route(hostPath: string): Promise<{ fs: HostFs; rel: string }> {
    if (hostPath !== '/proc' && !hostPath.startsWith('/proc/')) return { fs: this.fs, rel: hostPath };
    const m = /^\/proc\/(\d+)\/root(\/.*)?$/.exec(hostPath);
    if (m && (await this.procfs())) {
      const pid = m[1]!;
      let fs = this.containerRoots.get(pid);
      if (!fs) {
        fs = new EvaluationFs(path.join(this.procFs.root, 'proc', pid, 'root'));
        this.containerRoots.set(pid, fs);
      }
      return { fs, rel: m[2] ?? '/' };
    }
    return { fs: this.procFs, rel: hostPath };
  }
}

/** Error messages from a container-rooted HostFs name the inner path; callers want the host path. */
function rel0(hostPath: string): string {
  const m = /^\/proc\/\d+\/root(\/.*)$/.exec(hostPath);
  return m ? m[1]! : hostPath;
}
