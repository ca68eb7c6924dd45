// Loads the nodewarden_native addon (native/, built by node-gyp into build/Release) and gives
// its exports TypeScript types. Loading is lazy and never throws: a source that needs the
// addon reports why it is unavailable instead, and the poller works without it.
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

/** An exec as the native reader delivers it: an ExecEvent from the audit or connector reader. */
export type NativeExecEvent = ExecEvent & { source: 'audit' | 'connector' };

export interface NativeBatchInfo {
  lostSocket: number; // ENOBUFS errors since the previous batch (each ≥ 1 message lost)
  lostAgent: number; // execs dropped because JavaScript was a whole queue behind
  configChanges: { timeUnixNano: bigint; text: string }[]; // audit CONFIG_CHANGE records
  error?: string; // the reader thread ended on this error
}

export interface NativeReaderOptions {
  procRoot?: string;
  ruleKey?: string;
  unicast?: boolean;
  maxQueue?: number;
  rcvbufBytes?: number;
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

export interface NativeAddon {
  auditStatus(): AuditStatus;
  auditSetEnabled(enabled: 0 | 1): void;
  auditListRules(): AuditRule[];
  /** Adds `-a always,exit -F arch=b64|b32 -S execve,execveat -k key`; EEXIST when present. */
  auditAddExecRule(b64: boolean, key: string): void;
  auditDelRule(raw: Buffer): void;
  auditExecRuleArch(b64: boolean): number;
  /** The reader thread's record assembler run over given record texts (for tests). */
  assembleAuditRecords(records: { type: number; text: string }[], key: string, procRoot?: string): NativeExecEvent[];
  Reader: new (
    kind: 'audit' | 'connector',
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

let cached: { addon: NativeAddon } | { error: Error } | undefined;

/** The addon, or the reason it cannot be loaded (not built, wrong platform…). */
export function loadNative(): { addon: NativeAddon } | { error: Error } {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    cached = { addon: require(nativeAddonPath) as NativeAddon };
  } catch (err) {
    cached = { error: err instanceof Error ? err : new Error(String(err)) };
  }
  return cached;
}
