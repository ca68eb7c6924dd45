// Reading the host's files through the agent's host root (/host in the DaemonSet, / by default,
// a temporary tree in tests). Paths are resolved as if the host root were chrooted: an absolute
// symlink target is re-rooted and `..` never climbs above the root, so no symlink on the host can
// lead a read out of it. Every read is bounded; procfs files (size 0 in stat) are bounded too.

import { constants, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { NwError } from '../../core/errors.js';

const MAX_SYMLINK_HOPS = 40;
/** Default cap for configuration-like files: far above any real kubelet config or certificate. */
export const DEFAULT_MAX_READ_BYTES = 4 * 1024 * 1024;

export class HostFs {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /**
   * Resolve a host path (as the host sees it, e.g. /etc/kubernetes/kubelet.conf) to a real path
   * under the root, following symlinks inside the root only. The last component is left
   * unresolved when `followLast` is false (to lstat a symlink itself).
   */
  async resolve(hostPath: string, followLast = true): Promise<string> {
    const pending = splitPath(hostPath);
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '.' || part === '') continue;
      if (part === '..') {
        done.pop();
        continue;
      }
      const candidate = path.join(this.root, ...done, part);
      const isLast = pending.length === 0;
      let st: Stats;
      try {
        st = await this.lstatPath(candidate);
      } catch {
        // A missing component. The rest is still walked one part at a time: a later `..` may
        // climb back to existing directories whose symlinks must be followed inside the root.
        done.push(part);
        continue;
      }
      if (st.isSymbolicLink() && (followLast || !isLast)) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new NwError('NW_ERR_HOST_PATH_ESCAPE', `too many symlinks resolving ${hostPath}`);
        }
        const target = await this.readlinkPath(candidate);
        if (path.isAbsolute(target)) done.length = 0;
        pending.unshift(...splitPath(target));
        continue;
      }
      done.push(part);
    }
    return path.join(this.root, ...done);
  }

  /** The lstat and readlink resolution uses; a subclass may cache them (see EvaluationFs). */
  protected lstatPath(realPath: string): Promise<Stats> {
    return fsp.lstat(realPath);
  }

  protected readlinkPath(realPath: string): Promise<string> {
    return fsp.readlink(realPath);
  }

  /** Host path for display, from a path under the root. */
  toHostPath(realPath: string): string {
    const rel = path.relative(this.root, realPath);
    return '/' + rel.split(path.sep).join('/');
  }

  /** stat through the root; null when the file does not exist. */
  async stat(hostPath: string): Promise<Stats | null> {
    const real = await this.resolve(hostPath);
    try {
      return await fsp.stat(real);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new NwError('NW_ERR_HOST_FILE_UNREADABLE', `cannot stat ${hostPath}: ${(err as Error).message}`, { cause: err });
    }
  }

  async exists(hostPath: string): Promise<boolean> {
    return (await this.stat(hostPath)) !== null;
  }

  /**
   * Read a regular file through the root, refusing anything larger than maxBytes. The final
   * open uses O_NOFOLLOW so a symlink swapped in after resolution is refused, not followed.
   */
  async readFile(hostPath: string, maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> {
    const real = await this.resolve(hostPath);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw new NwError('NW_ERR_HOST_FILE_UNREADABLE', `cannot open ${hostPath}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        throw new NwError('NW_ERR_HOST_FILE_NOT_REGULAR', `${hostPath} is not a regular file`);
      }
      if (st.size > maxBytes) {
        throw new NwError('NW_ERR_HOST_FILE_TOO_LARGE', `${hostPath} is ${st.size} bytes, above the ${maxBytes}-byte limit`);
      }
      // stat size can lie (procfs says 0, a file may grow): keep reading until a short read of a
      // sized file (one read for an ordinary file: size + 1 bytes) or an empty read, and never
      // past maxBytes + 1.
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const want = Math.min(st.size > 0 && total === 0 ? st.size + 1 : 64 * 1024, maxBytes + 1 - total);
        const buf = Buffer.allocUnsafe(want);
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        chunks.push(buf.subarray(0, bytesRead));
        total += bytesRead;
        if (total > maxBytes) {
          throw new NwError('NW_ERR_HOST_FILE_TOO_LARGE', `${hostPath} is larger than the ${maxBytes}-byte limit`);
        }
        if (st.size > 0 && bytesRead < buf.length) break;
      }
      return Buffer.concat(chunks, total);
    } finally {
      await fh.close();
    }
  }

  async readText(hostPath: string, maxBytes = DEFAULT_MAX_READ_BYTES): Promise<string> {
    return (await this.readFile(hostPath, maxBytes)).toString('utf8');
  }

  /** Names in a host directory; empty when it does not exist. */
  async list(hostPath: string): Promise<string[]> {
    const real = await this.resolve(hostPath);
    try {
      return (await fsp.readdir(real)).sort();
    } catch (err) {
      if (isNotFound(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw new NwError('NW_ERR_HOST_FILE_UNREADABLE', `cannot list ${hostPath}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}

export function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
