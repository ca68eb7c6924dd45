// The last-resort exec source: scans /proc every pollIntervalMs and reports each process it
// has not seen before (pid plus start time) as an exec. Pure TypeScript, so it works even
// when the native addon is missing; it cannot see anything that lives between two scans.

import { closeSync, openSync, readdirSync, readFileSync, readSync, readlinkSync } from 'node:fs';
import path from 'node:path';

import { NwError, describeError } from '../../../core/errors.js';
import { guardNotice } from './native-batch.js';
import {
  UNKNOWN_ID,
  type ExecEvent,
  type ExecSource,
  type ExecSourceOptions,
  type ExecSourceStats,
  type SourceNotice,
} from './exec-source.js';

const MAX_ARGS = 128;
const MAX_ARG_BYTES = 4096;
const MAX_ARGV_BYTES = 32 * 1024;
const MAX_CGROUP_BYTES = 8 * 1024;
const DEFAULT_INTERVAL_MS = 200;

/** Splits a NUL-separated command line within the agent's argv bounds; never throws. */
export function boundArgv(raw: Buffer): { argv: string[]; truncated: boolean } {
  const argv: string[] = [];
  let truncated = false;
  let total = 0;
  let start = 0;
  // A trailing NUL ends the last argument; one without (setproctitle) still counts.
  const end = raw.length > 0 && raw[raw.length - 1] === 0 ? raw.length - 1 : raw.length;
  if (end <= 0 && raw.length <= 1) return { argv, truncated };
  while (start <= end) {
    let stop = raw.indexOf(0, start);
    if (stop === -1 || stop > end) stop = end;
    if (argv.length >= MAX_ARGS || total >= MAX_ARGV_BYTES) {
      truncated = true;
      break;
    }
    let len = stop - start;
    const room = Math.min(MAX_ARG_BYTES, MAX_ARGV_BYTES - total);
    if (len > room) {
      len = room;
      truncated = true;
    }
    // toString('utf8') replaces invalid sequences with U+FFFD.
    argv.push(raw.toString('utf8', start, start + len));
    total += len;
    start = stop + 1;
  }
  return { argv, truncated };
}

interface StatFields {
  state: string;
  comm: string;
  ppid: number;
  /** Task flags (field 9); PF_EXITING (0x4) once the process is on its way out. */
  flags: number;
  startTime: bigint;
}

const PF_EXITING = 0x4;

/** Parses /proc/PID/stat; comm may hold spaces or ')', so fields resume after the last ')'. */
export function parseStat(text: string): StatFields | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); starttime is field 22.
  if (rest.length < 20) return null;
  return {
    state: rest[0]!,
    comm: text.slice(open + 1, close),
    ppid: Number(rest[1]),
    flags: Number(rest[6]),
    startTime: BigInt(rest[19]!),
  };
}

export class PollerSource implements ExecSource {
  readonly name = 'poller' as const;
  readonly limits: string;

  private readonly procRoot: string;
  private readonly intervalMs: number;
  private readonly known = new Map<number, bigint>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private onBatch: (batch: ExecEvent[]) => void = () => {};
  private onNotice: (n: SourceNotice) => void = () => {};
  private counters = { received: 0, delivered: 0 };
  private scanFailedNoticed = false;

  constructor(opts: ExecSourceOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.intervalMs = opts.pollIntervalMs ?? DEFAULT_INTERVAL_MS;
    this.limits =
      `Scans /proc every ${this.intervalMs} ms: misses processes that start and exit between two scans ` +
      '(most short-lived commands), sees a process once even if it execs again, and reports execs up to one interval late.';
  }

  /** Why this source cannot run here, or null when it can. */
  async probe(): Promise<string | null> {
    try {
      readdirSync(this.procRoot);
      readFileSync(path.join(this.procRoot, 'self', 'stat'));
      return null;
    } catch (err) {
      return `cannot read ${this.procRoot}: ${describeError(err)}`;
    }
  }

  async start(onBatch: (batch: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void): Promise<void> {
    if (this.running) throw new NwError('NW_ERR_EXEC_SOURCE', 'the poller source is already running');
    this.onBatch = onBatch;
    this.onNotice = guardNotice(onNotice);
    this.known.clear();
    try {
      // What runs already is the baseline, not a burst of execs.
      this.scan(false);
    } catch (err) {
      throw new NwError('NW_ERR_EXEC_SOURCE', `poller source: cannot read ${this.procRoot}: ${describeError(err)}`, { cause: err });
    }
    this.running = true;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.timer);
  }

  stats(): ExecSourceStats {
    return {
      received: this.counters.received,
      delivered: this.counters.delivered,
      lostKernel: 0,
      lostSocket: 0,
      lostAgent: 0,
      backlog: 0,
      rulesRestored: 0,
    };
  }

  private tick(): void {
    if (!this.running) return;
    try {
      const events = this.scan(true);
      this.scanFailedNoticed = false;
      if (events.length === 0) return;
      this.counters.received += events.length;
      this.counters.delivered += events.length;
      this.onBatch(events);
    } catch (err) {
      if (!this.scanFailedNoticed) {
        this.scanFailedNoticed = true;
        try {
          this.onNotice({ kind: 'degraded', detail: `the /proc scan failed: ${describeError(err)}` });
        } catch {
          // Advisory only.
        }
      }
    }
  }

  /** One pass over /proc; returns the new processes (none on the baseline pass). */
  private scan(report: boolean): ExecEvent[] {
    const seen = new Set<number>();
    const events: ExecEvent[] = [];
    for (const name of readdirSync(this.procRoot)) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      seen.add(pid);
      if (this.known.has(pid)) continue;
      if (!report) {
        const stat = this.readStat(pid);
        this.known.set(pid, stat?.startTime ?? -1n);
        continue;
      }
      const ev = this.read(pid);
      if (!ev) continue;
      this.known.set(pid, ev.startTime ?? -1n);
      events.push(ev);
    }
    for (const pid of this.known.keys()) if (!seen.has(pid)) this.known.delete(pid);
    return events;
  }

  private file(pid: number, name: string): string {
    return path.join(this.procRoot, String(pid), name);
  }

  private readStat(pid: number): StatFields | null {
    try {
      return parseStat(readFileSync(this.file(pid, 'stat'), 'latin1'));
    } catch {
      return null;
    }
  }

  /** A /proc file, at most 64 KiB of it: a command line can be megabytes long. */
  private tryRead(pid: number, name: string): Buffer | null {
    let fd: number;
    try {
      fd = openSync(this.file(pid, name), 'r');
    } catch {
      return null;
    }
    try {
      const buf = Buffer.allocUnsafe(64 * 1024);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
  }

  private tryLink(pid: number, name: string): string | null {
    try {
      return readlinkSync(this.file(pid, name));
    } catch {
      return null;
    }
  }

  /** Everything /proc knows about pid, or null when it vanished before its stat was read. */
  private read(pid: number): ExecEvent | null {
    const now = BigInt(Date.now()) * 1_000_000n;
    const cmdline = this.tryRead(pid, 'cmdline');
    const cgroupRaw = this.tryRead(pid, 'cgroup');
    const stat = this.readStat(pid);
    if (!stat) return null;
    const { argv, truncated } = cmdline ? boundArgv(cmdline) : { argv: [], truncated: false };
    const ids = { uid: UNKNOWN_ID, euid: UNKNOWN_ID, gid: UNKNOWN_ID, egid: UNKNOWN_ID };
    const status = this.tryRead(pid, 'status')?.toString('latin1');
    if (status) {
      const u = /\nUid:\s+(\d+)\s+(\d+)/.exec(status);
      const g = /\nGid:\s+(\d+)\s+(\d+)/.exec(status);
      if (u) [ids.uid, ids.euid] = [Number(u[1]), Number(u[2])];
      if (g) [ids.gid, ids.egid] = [Number(g[1]), Number(g[2])];
    }
    const loginuid = Number(this.tryRead(pid, 'loginuid')?.toString('latin1'));
    const stdin = this.tryLink(pid, 'fd/0');
    const stdout = this.tryLink(pid, 'fd/1');
    // An exiting process may already report the root cgroup: cgroup was read before stat, so
    // a stat showing it not yet exiting vouches for it.
    const alive = stat.state !== 'Z' && stat.state !== 'X' && (stat.flags & PF_EXITING) === 0;
    const ev: ExecEvent = {
      source: 'poller',
      timeUnixNano: now,
      pid,
      ppid: stat.ppid,
      ...ids,
      auid: Number.isFinite(loginuid) ? loginuid : UNKNOWN_ID,
      exe: this.tryLink(pid, 'exe') ?? '',
      comm: stat.comm,
      argv,
      argvTruncated: truncated,
      argvMissing: argv.length === 0,
      cwd: this.tryLink(pid, 'cwd') ?? '',
      success: true,
      cgroup: alive && cgroupRaw ? cgroupRaw.subarray(0, MAX_CGROUP_BYTES).toString('utf8') : null,
      startTime: stat.startTime,
    };
    if (stdin !== null || stdout !== null) ev.stdio = { stdin: stdin ?? '', stdout: stdout ?? '' };
    return ev;
  }
}
