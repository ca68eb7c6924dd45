// What the agent remembers of processes it saw exec, keyed by pid AND start time so a reused
// pid never inherits another process's identity. Bounded: the least recently touched entries
// go first. Used for parent chains and for attributing a process that was gone before its
// /proc entry could be read (its parent's container is its container).

export interface ProcessRecord {
  pid: number;
  ppid: number;
  /** /proc/PID/stat starttime (clock ticks since boot); null when never read. */
  startTime: bigint | null;
  exe: string;
  comm: string;
  argv: string[];
  uid: number;
  euid: number;
  containerId: string | null;
  /** cgroup path, for containers without a hex id. */
  cgroupPath: string;
}

export class ProcessTable {
  /** Insertion order doubles as recency order: touching an entry re-inserts it. */
  private readonly byPid = new Map<number, ProcessRecord>();

  constructor(private readonly max = 32_768) {}

  get size(): number {
    return this.byPid.size;
  }

  /** Record a process; an older process with the same pid is replaced. */
  put(rec: ProcessRecord): void {
    this.byPid.delete(rec.pid);
    this.byPid.set(rec.pid, rec);
    if (this.byPid.size > this.max) {
      const oldest = this.byPid.keys().next().value as number;
      this.byPid.delete(oldest);
    }
  }

  /**
   * The process with this pid, provided it could be the parent of a child that started at
   * `childStart`: a process that started after its supposed child is a reused pid, not the parent.
   */
  parentOf(ppid: number, childStart: bigint | null): ProcessRecord | undefined {
    const rec = this.byPid.get(ppid);
    if (!rec) return undefined;
    if (childStart !== null && rec.startTime !== null && rec.startTime > childStart) return undefined;
    this.byPid.delete(ppid);
    this.byPid.set(ppid, rec);
    return rec;
  }

  /** The process with this pid and start time (null start time matches any). */
  get(pid: number, startTime: bigint | null = null): ProcessRecord | undefined {
    const rec = this.byPid.get(pid);
    if (!rec) return undefined;
    if (startTime !== null && rec.startTime !== null && rec.startTime !== startTime) return undefined;
    return rec;
  }

  delete(pid: number): void {
    this.byPid.delete(pid);
  }
}
