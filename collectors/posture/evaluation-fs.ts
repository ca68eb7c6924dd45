// A HostFs for the span of one evaluation: the same chroot-style resolution as HostFs.resolve
// (absolute symlink targets re-rooted, `..` clamped at the root, a hop limit), with each lstat
// and readlink done once. Paths share prefixes (/etc/kubernetes/…, /var/lib/kubelet/…), so this
// removes most of an evaluation's syscalls. Never reuse one across evaluations: it does not
// notice changes.

import { constants, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { HostFs, DEFAULT_MAX_READ_BYTES, isNotFound } from '../host/host-fs.js';
import { NwError } from '../../daemon/errors.js';

const MAX_SYMLINK_HOPS = 40;
/** Read size for files whose stat size says nothing (procfs). */
const CHUNK = 64 * 1024;

type LstatOutcome = { stats: Stats } | { error: unknown };

export class EvaluationFs extends HostFs {
  private readonly lstats = new Map<string, Promise<LstatOutcome>>();
  private readonly links = new Map<string, Promise<string>>();

  override async resolve(hostPath: string, followLast = true): Promise<string> {
    const pending = split(hostPath);
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
      const out = await this.lstatOnce(candidate);
      const st = 'stats' in out ? out.stats : null;
      if (!st) {
        // A missing component: the rest cannot hold symlinks we could follow.
        done.push(part, ...pending.filter((p) => p !== '' && p !== '.'));
        return path.join(this.root, ...normalizeDots(done));
      }
      if (st.isSymbolicLink() && (followLast || !isLast)) {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new NwError('NW_ERR_HOST_PATH_ESCAPE', `too many symlinks resolving ${hostPath}`);
        }
        const target = await this.readlinkOnce(candidate);
        if (path.isAbsolute(target)) done.length = 0;
        pending.unshift(...split(target));
        continue;
      }
      done.push(part);
    }
    return path.join(this.root, ...done);
  }

  /**
   * stat through the root. Resolution has already lstat'ed the final component (and it is not
   * a symlink once resolved), so that result is the stat: no second syscall.
   */
  override async stat(hostPath: string): Promise<Stats | null> {
    const real = await this.resolve(hostPath);
    const out = await this.lstatOnce(real);
    if ('stats' in out) return out.stats;
    if (isNotFound(out.error)) return null;
    throw new NwError('NW_ERR_HOST_FILE_UNREADABLE', `cannot stat ${hostPath}: ${(out.error as Error).message}`, { cause: out.error });
  }

  /**
   * HostFs.readFile's contract (O_NOFOLLOW open, regular files only, refuse above maxBytes)
   * with one read for an ordinary small file: ask for size + 1 bytes; a short read is the end.
   */
  override async readFile(hostPath: string, maxBytes = DEFAULT_MAX_READ_BYTES): Promise<Buffer> {
    const real = await this.resolve(hostPath);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw new NwError('NW_ERR_HOST_FILE_UNREADABLE', `cannot open ${hostPath}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new NwError('NW_ERR_HOST_FILE_NOT_REGULAR', `${hostPath} is not a regular file`);
      if (st.size > maxBytes) {
        throw new NwError('NW_ERR_HOST_FILE_TOO_LARGE', `${hostPath} is ${st.size} bytes, above the ${maxBytes}-byte limit`);
      }
      const chunks: Buffer[] = [];
      let total = 0;
      // stat size can lie (procfs says 0, a file may grow): keep reading until a short read
      // of a sized file, or an empty read, and never past maxBytes + 1.
      for (;;) {
        const want = Math.min(st.size > 0 && total === 0 ? st.size + 1 : CHUNK, maxBytes + 1 - total);
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

  private lstatOnce(p: string): Promise<LstatOutcome> {
    let s = this.lstats.get(p);
    if (!s) {
      s = fsp.lstat(p).then(
        (stats) => ({ stats }),
        (error: unknown) => ({ error }),
      );
      this.lstats.set(p, s);
    }
    return s;
  }

  private readlinkOnce(p: string): Promise<string> {
    let s = this.links.get(p);
    if (!s) {
      s = fsp.readlink(p);
      this.links.set(p, s);
    }
    return s;
  }
}

function split(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}

function normalizeDots(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === '..') out.pop();
    else if (p !== '.' && p !== '') out.push(p);
  }
  return out;
}
