// A HostFs for the span of one evaluation: HostFs's own chroot-style resolution, with each lstat
// and readlink done once. Paths share prefixes (/etc/kubernetes/…, /var/lib/kubelet/…), so this
// removes most of an evaluation's syscalls. Never reuse one across evaluations: it does not
// notice changes.

import { promises as fsp, type Stats } from 'node:fs';
import { HostFs, isNotFound } from '../host/host-fs.js';
import { NwError } from '../../core/errors.js';

type LstatOutcome = { stats: Stats } | { error: unknown };

export class EvaluationFs extends HostFs {
  private readonly lstats = new Map<string, Promise<LstatOutcome>>();
  private readonly links = new Map<string, Promise<string>>();

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

  protected override async lstatPath(p: string): Promise<Stats> {
    const out = await this.lstatOnce(p);
    if ('stats' in out) return out.stats;
    throw out.error;
  }

  protected override readlinkPath(p: string): Promise<string> {
    return this.readlinkOnce(p);
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
