// The contract every exec source fulfils: a stream of exec events with their full command
// line, delivered in batches, plus notices for anything that may have cost us events. The
// four implementations (bpf, audit, connector, poller) differ only in what they can see.

export type ExecSourceName = 'bpf' | 'audit' | 'connector' | 'poller';

export interface ExecEvent {
  source: ExecSourceName;
  /** audit: the record timestamp (millisecond resolution); others: when the exec was seen. */
  timeUnixNano: bigint;
  /** audit record serial. */
  serial?: number;
  pid: number;
  /** 0 when it could not be learnt (the process was gone and its fork was never seen). */
  ppid: number;
  // Ids: audit's unset (-1) and unknown are both 4294967295, never NaN.
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  exe: string;
  comm: string;
  /** Decoded; at most 128 args, 4096 bytes each, 32 KiB in all; invalid UTF-8 becomes U+FFFD. */
  argv: string[];
  argvTruncated: boolean;
  /** The source could not get the command line (the process was already gone). */
  argvMissing: boolean;
  cwd: string;
  /** audit: SYSCALL success=yes; a failed exec is still reported. Others: always true. */
  success: boolean;
  /** /proc/PID/cgroup read the moment the event arrived (8 KiB at most); null when gone. */
  cgroup: string | null;
  /** /proc/PID/stat starttime (clock ticks since boot) read at once; null when gone. */
  startTime: bigint | null;
  /** Targets of /proc/PID/fd/0 and fd/1 ("socket:[123]", "/dev/pts/0"…) when readable. */
  stdio?: { stdin: string; stdout: string };
  /**
   * Pid 1 of its own pid namespace, read when the exec arrived; null: the process was already
   * gone; absent: the source does not tell (the collector reads /proc when a rule asks).
   */
  nsInit?: boolean | null;
  /**
   * ctime of the executable file the process runs (/proc/PID/exe), read when the exec arrived:
   * seconds since the epoch and nanoseconds (two numbers: no BigInt per exec); null when not
   * readable, absent when the source does not tell.
   */
  exeCtimeSec?: number | null;
  exeCtimeNsec?: number;
  /** audit: the rule key on the record (ours, or that of another rule that matched first). */
  auditKey?: string;
}

export type SourceNotice =
  | { kind: 'loss'; count: number; where: 'kernel' | 'socket' | 'agent'; detail: string }
  | { kind: 'rules-restored'; gapMs: number; detail: string }
  | { kind: 'degraded'; detail: string };

export interface ExecSourceStats {
  received: number;
  delivered: number;
  lostKernel: number;
  lostSocket: number;
  lostAgent: number;
  /** Execs received but not yet handed to onBatch. */
  backlog: number;
  rulesRestored: number;
  /** audit: the kernel's own backlog at the last status read. */
  kernelBacklog?: number;
  /** CPU seconds used by the native reader thread (audit, connector). */
  readerCpuSeconds?: number;
}

/** A write or attribute change to a watched file, and who made it (the audit source's watch rules). */
export interface FileChangeEvent {
  /** The watched file, as a host path. */
  hostPath: string;
  timeUnixNano: bigint;
  /** chmod, chown, rename, open (for write), unlink, …; `syscall <n>` when not in our table. */
  syscall: string;
  success: boolean;
  pid: number;
  ppid: number;
  /** -1 when unset. */
  uid: number;
  euid: number;
  auid: number;
  comm: string;
  exe: string;
  /** The process's cgroup when the record arrived, for its container ('' when it was gone). */
  cgroup: string;
}

/** Audit watch rules on files: the audit source offers them, others cannot. */
export interface FileWatch {
  /** The files to watch, as host paths and as this process sees them (under the host root); replaces the last set. */
  watch(files: { hostPath: string; path: string }[]): void;
  onChange(listener: (change: FileChangeEvent) => void): void;
  /** How many files are watched now, and those that could not be (a missing folder, a path too long). */
  status(): { watched: number; unwatchable: string[] };
}

export interface ExecSource {
  readonly name: ExecSourceName;
  /** What this source can and cannot see, a sentence for status/logs. */
  readonly limits: string;
  /** Watch rules on files, when the source can have them (audit). */
  readonly fileWatch?: FileWatch;
  start(onBatch: (batch: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void): Promise<void>;
  /** Idempotent, safe without start; delivers what was already read before resolving. */
  stop(): Promise<void>;
  stats(): ExecSourceStats;
}

export interface ExecSourceOptions {
  /** Default /proc; the host's /proc under a host root in a DaemonSet. */
  procRoot?: string;
  /** Default multicast: read alongside any auditd. unicast: become the audit daemon. */
  auditMode?: 'multicast' | 'unicast';
  /** audit: add the exec rules (default); false: watch rules only (beside the eBPF source). */
  execRules?: boolean;
  /** Default 'nodewarden': the key on our audit rules, and how we recognise them. */
  ruleKey?: string;
  /** Poller scan interval, default 200 ms. */
  pollIntervalMs?: number;
  /** Execs held for JavaScript before new ones are dropped (counted), default 65,536. */
  maxQueue?: number;
  /** bpf: the kernel's ring buffer of execs not yet read, bytes (a power of two); default 1 MiB. */
  bpfRingBytes?: number;
}

export { UNKNOWN_ID } from '../../../core/observation.js';
export const DEFAULT_RULE_KEY = 'nodewarden';
export const DEFAULT_MAX_QUEUE = 65536;
