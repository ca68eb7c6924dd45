// Loads the nodewarden_native addon (native/, built by node-gyp into build/Release) and gives
// its exports TypeScript types. Loading is lazy and never throws: a source that needs the
// addon reports why it is unavailable instead, and the poller works without it. Batches of
// execs cross from the addon in columns (a Float64Array and an array of strings: cheaper to
// build natively than an object per exec) and become exec objects here, in decodeExecBatch.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecEvent } from './exec-source.js';

/** struct audit_status as AUDIT_GET returns it. */
export interface AuditStatus {
  enabled: number; // 0 off, 1 on, 2 locked until reboot
  failure: number;
  pid: number; // the registered audit daemon, 0 when none
  rateLimit: number;
  backlogLimit: number;
  lost: number;
  backlog: number;
  featureBitmap: number;
  backlogWaitTime: number;
}

/** One audit rule as the kernel lists it; `raw` is what deleting it needs back. */
export interface AuditRule {
  raw: Buffer;
  list: number; // AUDIT_FILTER_* (4: exit)
  action: number; // 2: always
  syscalls: number[];
  allSyscalls: boolean;
  fields: { type: number; op: number; value: number; str?: string }[];
  key: string | null;
  arch: number | null;
}

/** An exec as the native reader delivers it: an ExecEvent from the audit, connector or eBPF reader. */
export type NativeExecEvent = ExecEvent & { source: 'audit' | 'connector' | 'bpf' };

/**
 * A syscall that wrote to, or changed the attributes of, a file one of our watch rules names
 * (key `<rule key>-w:<host path>`): who did it, as the kernel's SYSCALL, CWD and PATH records say.
 */
export interface NativeFileChange {
  timeUnixNano: bigint;
  /** AUDIT_ARCH_* of the syscall (x86-64: 0xc000003e). */
  arch: number;
  syscall: number;
  success: boolean;
  exit: number;
  pid: number;
  ppid: number;
  /** -1 when unset (an auid of a process no login started). */
  uid: number;
  euid: number;
  auid: number;
  comm: string;
  exe: string;
  cwd: string;
  /** /proc/<pid>/cgroup as read when the record arrived ('' when the process was gone). */
  cgroup: string;
  key: string;
  /** The PATH records' names (at most 8), as the process named them. */
  paths: string[];
}

export interface NativeBatchInfo {
  lostSocket: number; // ENOBUFS errors since the previous batch (each ≥ 1 message lost)
  lostAgent: number; // execs dropped because JavaScript was a whole queue behind
  configChanges: { timeUnixNano: bigint; text: string }[]; // audit CONFIG_CHANGE records
  fileChanges: NativeFileChange[]; // records of our watch rules
  error?: string; // the reader thread ended on this error
}

/** audit: the audit netlink socket; connector: the process connector; bpf: the eBPF exec program. */
export type NativeReaderKind = 'audit' | 'connector' | 'bpf';

export interface NativeReaderOptions {
  procRoot?: string;
  ruleKey?: string;
  unicast?: boolean;
  maxQueue?: number;
  rcvbufBytes?: number;
  /** bpf: the compiled exec program (bpfObjectPath). */
  bpfObject?: string;
  /** bpf: the ring buffer's size in bytes (a power of two, whole pages); default 1 MiB. */
  bpfRingBytes?: number;
}

export interface NativeReaderStats {
  received: number;
  delivered: number;
  lostSocket: number;
  lostAgent: number;
  queued: number;
  rcvbuf: number;
  /** CPU time the reader thread has used, updated once per wake-up. */
  threadCpuNs: number;
}

export interface NativeReader {
  /** Joins the thread and resolves once every queued batch has been delivered. */
  stop(): Promise<void>;
  stats(): NativeReaderStats;
}

/**
 * A batch as the addon hands it over (native/event-pump.h): numbers per exec in `n`; the strings
 * that repeat (exe, comm, cwd, cgroup, stdio, key, argv[0]) by their slot in `c`, the addon's
 * cache of strings, unless `n` says they are next in `s`, the batch's other strings, in order.
 */
export interface RawExecBatch {
  n: Float64Array;
  s: string[];
  c: string[];
}

/** The addon's own exports, before batches are decoded. */
interface RawAddon extends Omit<NativeAddon, 'assembleAuditRecords' | 'assembleAuditFileChanges' | 'Reader'> {
  assembleAuditRecords(records: { type: number; text: string }[], key: string, procRoot?: string): RawExecBatch & { fileChanges: NativeFileChange[] };
  Reader: new (kind: NativeReaderKind, options: NativeReaderOptions, onBatch: (batch: RawExecBatch, info: NativeBatchInfo) => void) => NativeReader;
}

// Positions in RawExecBatch.n, per exec (kNumFields and NumField in native/event-pump.h).
const F = 23;
const FLAGS = 0, TIME_SEC = 1, TIME_NSEC = 2, SERIAL = 3, PID = 4, PPID = 5, UID = 6, EUID = 7, GID = 8, EGID = 9, AUID = 10, ARGC = 11,
  START_TIME = 12, EXE_CTIME_SEC = 13, EXE_CTIME_NSEC = 14, EXE = 15, COMM = 16, CWD = 17, CGROUP = 18, STDIN = 19, STDOUT = 20, KEY = 21,
  ARGV0 = 22;
const CONNECTOR = 1, HAS_SERIAL = 2, SUCCESS = 4, ARGV_TRUNCATED = 8, ARGV_MISSING = 16, HAS_START_TIME = 32, HAS_EXE_CTIME = 64,
  HAS_CGROUP = 128, HAS_STDIO = 256, HAS_KEY = 512, NS_INIT_SHIFT = 10, BPF = 4096;
const NS = 1_000_000_000n;

/** The exec objects of a raw batch. */
export function decodeExecBatch(raw: RawExecBatch): NativeExecEvent[] {
  const { n, s, c } = raw;
  const count = n.length / F;
  const out = new Array<NativeExecEvent>(count);
  let sec = -1;
  let secNs = 0n;
  let k = 0;
  // A repeated string: a cache slot, the next of the batch's own strings (-1), or '' (-2).
  const str = (at: number): string => (at >= 0 ? c[at]! : at === -1 ? s[k++]! : '');
  for (let i = 0, o = 0; i < count; i++, o += F) {
    const flags = n[o + FLAGS]!;
    const argc = n[o + ARGC]!;
    // Execs of one batch mostly share their second: its BigInt is made once.
    if (n[o + TIME_SEC] !== sec) {
      sec = n[o + TIME_SEC]!;
      secNs = BigInt(sec) * NS;
    }
    const nsInit = (flags >> NS_INIT_SHIFT) & 3;
    // In the order the addon appended them to s.
    const exe = str(n[o + EXE]!);
    const comm = str(n[o + COMM]!);
    const cwd = str(n[o + CWD]!);
    const cgroup = str(n[o + CGROUP]!);
    const stdin = str(n[o + STDIN]!);
    const stdout = str(n[o + STDOUT]!);
    const key = str(n[o + KEY]!);
    const argv = new Array<string>(argc);
    if (argc > 0) argv[0] = str(n[o + ARGV0]!);
    for (let a = 1; a < argc; a++) argv[a] = s[k++]!;
    const e: NativeExecEvent = {
      source: flags & BPF ? 'bpf' : flags & CONNECTOR ? 'connector' : 'audit',
      timeUnixNano: secNs + BigInt(n[o + TIME_NSEC]!),
      // Small integers made so: a double from the Float64Array would be boxed in every object
      // that keeps it (the process table keeps pid and ppid of 16,384 processes).
      pid: n[o + PID]! | 0,
      ppid: n[o + PPID]! | 0,
      uid: n[o + UID]! >>> 0,
      euid: n[o + EUID]! >>> 0,
      gid: n[o + GID]! >>> 0,
      egid: n[o + EGID]! >>> 0,
      auid: n[o + AUID]! >>> 0,
      exe,
      comm,
      argv,
      argvTruncated: (flags & ARGV_TRUNCATED) !== 0,
      argvMissing: (flags & ARGV_MISSING) !== 0,
      cwd,
      success: (flags & SUCCESS) !== 0,
      cgroup: flags & HAS_CGROUP ? cgroup : null,
      startTime: flags & HAS_START_TIME ? BigInt(n[o + START_TIME]!) : null,
      nsInit: nsInit === 0 ? null : nsInit === 2,
      exeCtimeSec: flags & HAS_EXE_CTIME ? n[o + EXE_CTIME_SEC]! : null,
      exeCtimeNsec: n[o + EXE_CTIME_NSEC]!,
    };
    if (flags & HAS_SERIAL) e.serial = n[o + SERIAL]!;
    if (flags & HAS_STDIO) e.stdio = { stdin, stdout };
    if (flags & HAS_KEY) e.auditKey = key;
    out[i] = e;
  }
  return out;
}

export interface NativeAddon {
  auditStatus(): AuditStatus;
  auditSetEnabled(enabled: 0 | 1): void;
  auditListRules(): AuditRule[];
  /** Adds `-a always,exit -F arch=b64|b32 -S execve,execveat -k key`; EEXIST when present. */
  auditAddExecRule(b64: boolean, key: string): void;
  auditDelRule(raw: Buffer): void;
  auditExecRuleArch(b64: boolean): number;
  /** Adds `-w path -p wa -k key`; EEXIST when present. */
  auditAddWatchRule(path: string, key: string): void;
  /** The reader thread's record assembler run over given record texts (for tests). */
  assembleAuditRecords(records: { type: number; text: string }[], key: string, procRoot?: string): NativeExecEvent[];
  /** The same, for the file changes our watch rules' records make. */
  assembleAuditFileChanges(records: { type: number; text: string }[], key: string, procRoot?: string): NativeFileChange[];
  Reader: new (
    kind: NativeReaderKind,
    options: NativeReaderOptions,
    onBatch: (events: NativeExecEvent[], info: NativeBatchInfo) => void,
  ) => NativeReader;
}

/** An error thrown by the addon: `code` is the errno name (EPERM, EEXIST…). */
export interface NativeError extends Error {
  code?: string;
  errno?: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled: <root>/dist/collectors/process/sources; as source: <root>/collectors/process/sources.
const above = path.resolve(here, '..', '..', '..');
const repoRoot = path.basename(above) === 'dist' ? path.dirname(above) : above;

export const nativeAddonPath = path.join(repoRoot, 'build', 'Release', 'nodewarden_native.node');
/** The eBPF exec program, compiled from native/bpf/exec.bpf.c by scripts/build-bpf.mjs. */
export const bpfObjectPath = path.join(repoRoot, 'build', 'bpf', 'exec.bpf.o');

let cached: { addon: NativeAddon } | { error: Error } | undefined;

/** The addon, or the reason it cannot be loaded (not built, wrong platform…). */
export function loadNative(): { addon: NativeAddon } | { error: Error } {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    cached = { addon: decoding(require(nativeAddonPath) as RawAddon) };
  } catch (err) {
    cached = { error: err instanceof Error ? err : new Error(String(err)) };
  }
  return cached;
}

/** The addon with its batches decoded into exec objects. */
function decoding(raw: RawAddon): NativeAddon {
  const RawReader = raw.Reader;
  return {
    ...raw,
    assembleAuditRecords: (records, key, procRoot) => decodeExecBatch(raw.assembleAuditRecords(records, key, procRoot)),
    assembleAuditFileChanges: (records, key, procRoot) => raw.assembleAuditRecords(records, key, procRoot).fileChanges,
    Reader: function Reader(kind: NativeReaderKind, options: NativeReaderOptions, onBatch: (events: NativeExecEvent[], info: NativeBatchInfo) => void) {
      return new RawReader(kind, options, (batch, info) => onBatch(decodeExecBatch(batch), info));
    } as unknown as NativeAddon['Reader'],
  };
}
