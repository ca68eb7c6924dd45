// The primary exec source: the kernel audit stream, which carries every exec's full command
// line from the kernel itself. It owns two audit rules (execve/execveat, 64- and 32-bit) under
// its key: reuses them if a crashed run left them, restores them if anyone removes them,
// deletes them on stop, and never touches rules with another key. It also keeps watch rules on
// the files it is asked to watch (`-w PATH -p wa`, key `<key>-w:<host path>`, so a record names
// its file), under the same care, and reports who changed a watched file (fileWatch). Reading happens on a native
// thread (native/audit-reader.cc); this module holds the policy.
//
//   kernel audit ──records──▶ native reader thread (group by serial, /proc context)
//        ▲                          │ batches (≤256 events / 50 ms)
//   rules, status (1 s / 2 s)       ▼
//        └──────────────── AuditSource ──▶ onBatch / onNotice

import { NwError, describeError } from '../../../core/errors.js';
import {
  DEFAULT_MAX_QUEUE,
  DEFAULT_RULE_KEY,
  type ExecEvent,
  type ExecSource,
  type ExecSourceOptions,
  type ExecSourceStats,
  type FileChangeEvent,
  type FileWatch,
  type SourceNotice,
} from './exec-source.js';
import { syscallName } from './syscall-names.js';
import { deliverNativeBatch, guardNotice } from './native-batch.js';
import {
  loadNative,
  type AuditRule,
  type AuditStatus,
  type NativeAddon,
  type NativeBatchInfo,
  type NativeError,
  type NativeExecEvent,
  type NativeFileChange,
  type NativeReader,
} from './native.js';

const AUDIT_FILTER_EXIT = 4;
/** The rule field that holds a watched path (linux/audit.h). */
const AUDIT_WATCH = 105;

export type AuditStartPlan = { ok: true; enable: boolean } | { ok: false; reason: string };

/**
 * Pure: whether the audit source can start given the kernel's audit status, and whether it
 * must switch auditing on. Locked auditing (enabled 2) forbids rule changes until reboot.
 */
export function planAuditStart(status: AuditStatus, mode: 'multicast' | 'unicast'): AuditStartPlan {
  if (status.enabled === 2) {
    return {
      ok: false,
      reason: 'the audit configuration is locked (enabled 2) until reboot, so our exec rules cannot be added',
    };
  }
  if (status.enabled !== 0 && status.enabled !== 1) {
    return { ok: false, reason: `the kernel reports an unknown audit state (enabled ${status.enabled})` };
  }
  if (mode === 'unicast' && status.pid !== 0) {
    return {
      ok: false,
      reason: `an audit daemon (pid ${status.pid}) is registered; unicast mode would displace it (use multicast)`,
    };
  }
  // Records reach the multicast group (and a registered daemon) only while auditing is on.
  return { ok: true, enable: status.enabled === 0 };
}

/** A sentence for an addon error raised while talking to audit. */
export function explainAuditError(err: unknown): string {
  const code = (err as NativeError | undefined)?.code;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return `not permitted to control kernel audit (needs root: CAP_AUDIT_CONTROL and CAP_AUDIT_READ): ${describeError(err)}`;
    case 'EPROTONOSUPPORT':
    case 'EAFNOSUPPORT':
      return `the kernel has no audit support (CONFIG_AUDIT): ${describeError(err)}`;
    case 'ECONNREFUSED':
      return `kernel audit refuses requests from this namespace (run in the host's user and network namespaces): ${describeError(err)}`;
    default:
      return describeError(err);
  }
}

export interface AuditSourceDeps {
  /** The addon (tests may pass a wrapper). Default: the built one. */
  addon?: NativeAddon;
  /** Reads the audit status; injectable so tests can exercise "locked" without locking. */
  readStatus?: () => AuditStatus;
  statusIntervalMs?: number;
  rulesIntervalMs?: number;
}

export class AuditSource implements ExecSource {
  readonly name = 'audit' as const;
  readonly limits =
    'Sees every exec with its full command line from the kernel, failed ones included; ' +
    'a process that existed before auditing was first switched on and execs without forking is not seen, ' +
    'and cgroup/start time/stdio are read from /proc when the record arrives, so they are null for processes already gone.';

  private readonly mode: 'multicast' | 'unicast';
  private readonly key: string;
  private readonly opts: ExecSourceOptions;
  private readonly deps: AuditSourceDeps;
  private addon: NativeAddon | undefined;
  private reader: NativeReader | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private weEnabled = false;
  private onBatch: (batch: ExecEvent[]) => void = () => {};
  private notice: (n: SourceNotice) => void = () => {};
  private statusTimer: NodeJS.Timeout | undefined;
  private rulesTimer: NodeJS.Timeout | undefined;
  private rulesCheckQueued = false;
  private lastLost: number | undefined;
  private lastRulesSeenMs = 0;
  private removedAtMs: number | undefined;
  private lockedNoticed = false;
  private restoreFailedNoticed = false;
  private watchFailedNoticed = false;
  private counters = { lostKernel: 0, lostSocket: 0, lostAgent: 0, rulesRestored: 0, delivered: 0, kernelBacklog: 0 };
  /** Watch rules wanted: their key (prefix + host path) → the path as this process sees it. */
  private watches = new Map<string, string>();
  private unwatchable: string[] = [];
  private readonly fileListeners: ((c: FileChangeEvent) => void)[] = [];
  private readonly watchPrefix: string;

  readonly fileWatch: FileWatch = {
    watch: (files) => {
      const next = new Map<string, string>();
      const tooLong: string[] = [];
      for (const f of files) {
        const key = this.watchPrefix + f.hostPath;
        // The kernel takes keys of up to 256 bytes and absolute paths without a trailing '/'.
        if (Buffer.byteLength(key) > 256 || !f.path.startsWith('/') || f.path.endsWith('/')) tooLong.push(f.hostPath);
        else next.set(key, f.path);
      }
      this.watches = next;
      this.unwatchable = tooLong;
      if (this.running) this.syncWatchesQuietly();
    },
    onChange: (listener) => void this.fileListeners.push(listener),
    status: () => ({ watched: this.watches.size - this.unwatchable.filter((p) => this.watches.has(this.watchPrefix + p)).length, unwatchable: [...this.unwatchable] }),
  };

  constructor(opts: ExecSourceOptions = {}, deps: AuditSourceDeps = {}) {
    this.opts = opts;
    this.deps = deps;
    this.mode = opts.auditMode ?? 'multicast';
    this.key = opts.ruleKey ?? DEFAULT_RULE_KEY;
    this.watchPrefix = `${this.key}-w:`;
  }

  /** Why this source cannot run here, or null when it can. Leaves nothing behind. */
  async probe(): Promise<string | null> {
    const addon = this.loadAddon();
    if (typeof addon === 'string') return addon;
    let status: AuditStatus;
    try {
      status = this.readStatus(addon);
    } catch (err) {
      return explainAuditError(err);
    }
    const plan = planAuditStart(status, this.mode);
    if (!plan.ok) return plan.reason;
    if (this.mode === 'multicast') {
      // Joining the read-only group is a separate capability (CAP_AUDIT_READ): try it.
      try {
        const r = new addon.Reader('audit', { procRoot: this.opts.procRoot, ruleKey: this.key, rcvbufBytes: 4096 }, () => {});
        await r.stop();
      } catch (err) {
        return explainAuditError(err);
      }
    }
    return null;
  }

  async start(onBatch: (batch: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void): Promise<void> {
    if (this.running) throw new NwError('NW_ERR_EXEC_SOURCE', 'the audit source is already running');
    const addon = this.loadAddon();
    if (typeof addon === 'string') throw new NwError('NW_ERR_EXEC_SOURCE', addon);
    this.onBatch = onBatch;
    this.notice = guardNotice(onNotice);
    let status: AuditStatus;
    try {
      status = this.readStatus(addon);
    } catch (err) {
      throw new NwError('NW_ERR_EXEC_SOURCE', `audit source: ${explainAuditError(err)}`, { cause: err });
    }
    const plan = planAuditStart(status, this.mode);
    if (!plan.ok) throw new NwError('NW_ERR_EXEC_SOURCE', `audit source: ${plan.reason}`);

    try {
      // The reader first, so no record produced once the rules exist is missed.
      this.reader = new addon.Reader(
        'audit',
        {
          procRoot: this.opts.procRoot ?? '/proc',
          ruleKey: this.key,
          unicast: this.mode === 'unicast',
          maxQueue: this.opts.maxQueue ?? DEFAULT_MAX_QUEUE,
        },
        (events, info) => this.onNative(events, info),
      );
    } catch (err) {
      throw new NwError('NW_ERR_EXEC_SOURCE', `audit source: ${explainAuditError(err)}`, { cause: err });
    }
    this.running = true;
    this.stopping = undefined;
    try {
      if (plan.enable) {
        addon.auditSetEnabled(1);
        this.weEnabled = true;
      }
      this.lastLost = status.lost;
      this.counters.kernelBacklog = status.backlog;
      this.ensureRules();
      this.syncWatchesQuietly();
    } catch (err) {
      await this.stop();
      throw new NwError('NW_ERR_EXEC_SOURCE', `audit source: ${explainAuditError(err)}`, { cause: err });
    }
    this.statusTimer = setInterval(() => this.checkStatus(), this.deps.statusIntervalMs ?? 1000);
    this.statusTimer.unref();
    this.rulesTimer = setInterval(() => this.checkRules(), this.deps.rulesIntervalMs ?? 2000);
    this.rulesTimer.unref();
  }

  async stop(): Promise<void> {
    if (!this.running) return this.stopping;
    this.running = false;
    this.stopping = this.shutdown();
    return this.stopping;
  }

  stats(): ExecSourceStats {
    const s = this.reader?.stats();
    return {
      received: s?.received ?? 0,
      delivered: this.counters.delivered,
      lostKernel: this.counters.lostKernel,
      lostSocket: s?.lostSocket ?? this.counters.lostSocket,
      lostAgent: s?.lostAgent ?? this.counters.lostAgent,
      backlog: s ? s.received - s.delivered - s.lostAgent : 0,
      rulesRestored: this.counters.rulesRestored,
      kernelBacklog: this.counters.kernelBacklog,
      readerCpuSeconds: (s?.threadCpuNs ?? 0) / 1e9,
    };
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.statusTimer);
    clearInterval(this.rulesTimer);
    const addon = this.addon;
    const failures: string[] = [];
    if (addon) {
      // Rules first: the reader then still delivers what they produced until now.
      try {
        for (const rule of addon.auditListRules()) {
          if (rule.key !== this.key && !this.isWatchKey(rule.key)) continue;
          try {
            addon.auditDelRule(rule.raw);
          } catch (err) {
            if ((err as NativeError).code !== 'ENOENT') failures.push(explainAuditError(err));
          }
        }
      } catch (err) {
        failures.push(explainAuditError(err));
      }
    }
    const reader = this.reader;
    if (reader) {
      const s = reader.stats();
      this.counters.lostSocket = s.lostSocket;
      this.counters.lostAgent = s.lostAgent;
      await reader.stop();
    }
    if (addon && this.weEnabled) {
      this.weEnabled = false;
      try {
        // Only undo what we did, and never fight a lock someone applied meanwhile. Rules
        // of others still loaded mean someone relies on auditing now (another agent, an
        // administrator): switching it off under them would silence them, so it stays on.
        const others = addon.auditListRules().length;
        if (others > 0) {
          this.notice({
            kind: 'degraded',
            detail: `left kernel auditing on at stop although we had switched it on: ${others} audit rule(s) of others are loaded`,
          });
        } else if (this.readStatus(addon).enabled === 1) {
          addon.auditSetEnabled(0);
        }
      } catch (err) {
        failures.push(explainAuditError(err));
      }
    }
    if (failures.length > 0) {
      this.notice({ kind: 'degraded', detail: `audit source stopped with errors: ${failures.join('; ')}` });
    }
  }

  private loadAddon(): NativeAddon | string {
    if (this.addon) return this.addon;
    if (this.deps.addon) return (this.addon = this.deps.addon);
    const loaded = loadNative();
    if ('error' in loaded) return `the native addon cannot be loaded (${loaded.error.message})`;
    return (this.addon = loaded.addon);
  }

  private readStatus(addon: NativeAddon): AuditStatus {
    return this.deps.readStatus ? this.deps.readStatus() : addon.auditStatus();
  }

  private onNative(events: NativeExecEvent[], info: NativeBatchInfo): void {
    this.counters.lostSocket += info.lostSocket;
    this.counters.lostAgent += info.lostAgent;
    for (const change of info.configChanges) {
      if (/op="?remove_rule/.test(change.text) && change.text.includes(`key="${this.key}"`)) {
        const at = Number(change.timeUnixNano / 1_000_000n);
        this.removedAtMs = this.removedAtMs === undefined ? at : Math.min(this.removedAtMs, at);
      }
    }
    if (info.configChanges.length > 0 && !this.rulesCheckQueued && this.running) {
      // Any configuration change may have been the removal of our rules: look now.
      this.rulesCheckQueued = true;
      setImmediate(() => {
        this.rulesCheckQueued = false;
        this.checkRules();
      });
    }
    this.counters.delivered += deliverNativeBatch('the audit socket', this.opts.maxQueue ?? DEFAULT_MAX_QUEUE, events, info, { onBatch: this.onBatch, notice: this.notice });
    // After the execs of the same batch: the process that changed a file was often exec'd just
    // before, and the collector's process table then knows its container.
    for (const fc of info.fileChanges ?? []) this.onFileChange(fc);
  }

  /** Adds whichever of our two rules is missing; returns the arches it had to add. */
  private ensureRules(): string[] {
    const addon = this.addon!;
    if (this.opts.execRules === false) return [];
    const rules = addon.auditListRules();
    const added: string[] = [];
    for (const b64 of [true, false]) {
      if (this.hasRule(rules, addon.auditExecRuleArch(b64))) continue;
      try {
        addon.auditAddExecRule(b64, this.key);
        added.push(b64 ? 'b64' : 'b32');
      } catch (err) {
        // Present after all (added between our list and add): nothing to do.
        if ((err as NativeError).code !== 'EEXIST') throw err;
      }
    }
    this.lastRulesSeenMs = Date.now();
    return added;
  }

  private hasRule(rules: AuditRule[], arch: number): boolean {
    return rules.some((r) => r.key === this.key && r.list === AUDIT_FILTER_EXIT && r.arch === arch);
  }

  private isWatchKey(key: string | null): boolean {
    return key !== null && key.startsWith(this.watchPrefix);
  }

  /**
   * Watch rules as wanted: ours that are no longer wanted removed, wanted ones that are missing
   * (never added, or removed by someone) added. A file whose folder does not exist cannot be
   * watched (the kernel watches the folder's entry); it is tried again at the next check.
   */
  private syncWatches(): void {
    const addon = this.addon!;
    const present = new Map<string, AuditRule>();
    for (const rule of addon.auditListRules()) {
      if (rule.key !== null && this.isWatchKey(rule.key) && rule.list === AUDIT_FILTER_EXIT) present.set(rule.key, rule);
    }
    for (const [key, rule] of present) {
      const path = rule.fields.find((f) => f.type === AUDIT_WATCH)?.str;
      if (this.watches.get(key) === path) continue;
      try {
        addon.auditDelRule(rule.raw);
      } catch (err) {
        if ((err as NativeError).code !== 'ENOENT') throw err;
      }
      present.delete(key);
    }
    const unwatchable = this.unwatchable.filter((p) => !this.watches.has(this.watchPrefix + p));
    for (const [key, path] of this.watches) {
      if (present.has(key)) continue;
      try {
        addon.auditAddWatchRule(path, key);
      } catch (err) {
        const code = (err as NativeError).code;
        if (code === 'EEXIST') continue;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EINVAL') unwatchable.push(key.slice(this.watchPrefix.length));
        else throw err;
      }
    }
    this.unwatchable = unwatchable;
  }

  private syncWatchesQuietly(): void {
    if (this.watches.size === 0 && this.unwatchable.length === 0) return;
    try {
      this.syncWatches();
      this.watchFailedNoticed = false;
    } catch (err) {
      if (!this.watchFailedNoticed) {
        this.watchFailedNoticed = true;
        this.notice({ kind: 'degraded', detail: `our audit watch rules could not be set: ${explainAuditError(err)}` });
      }
    }
  }

  private onFileChange(fc: NativeFileChange): void {
    const key = fc.key.split('\x01').find((k) => k.startsWith(this.watchPrefix));
    if (!key) return;
    const change: FileChangeEvent = {
      hostPath: key.slice(this.watchPrefix.length), timeUnixNano: fc.timeUnixNano, syscall: syscallName(fc.arch, fc.syscall),
      success: fc.success, pid: fc.pid, ppid: fc.ppid, uid: fc.uid, euid: fc.euid, auid: fc.auid, comm: fc.comm, exe: fc.exe, cgroup: fc.cgroup,
    };
    for (const listener of this.fileListeners) {
      try {
        listener(change);
      } catch {
        // A listener's bug must not stop the reader's deliveries.
      }
    }
  }

  private checkRules(): void {
    if (!this.running || !this.addon) return;
    const before = this.lastRulesSeenMs;
    this.syncWatchesQuietly();
    let added: string[];
    try {
      added = this.ensureRules();
    } catch (err) {
      if (!this.restoreFailedNoticed) {
        this.restoreFailedNoticed = true;
        this.notice({ kind: 'degraded', detail: `our audit rules could not be checked or restored: ${explainAuditError(err)}` });
      }
      return;
    }
    this.restoreFailedNoticed = false;
    const removedAt = this.removedAtMs;
    this.removedAtMs = undefined;
    if (added.length === 0) return;
    this.counters.rulesRestored++;
    const now = this.lastRulesSeenMs;
    const since = removedAt !== undefined ? Math.min(removedAt, now) : before;
    const gapMs = Math.max(0, now - since);
    this.notice({
      kind: 'rules-restored',
      gapMs,
      detail: `audit rules with key "${this.key}" (${added.join(', ')}) had been removed; re-added after up to ${gapMs} ms without exec capture`,
    });
  }

  private checkStatus(): void {
    if (!this.running || !this.addon) return;
    let status: AuditStatus;
    try {
      status = this.readStatus(this.addon);
    } catch (err) {
      this.notice({ kind: 'degraded', detail: `audit status could not be read: ${explainAuditError(err)}` });
      return;
    }
    this.counters.kernelBacklog = status.backlog;
    if (this.lastLost !== undefined && status.lost > this.lastLost) {
      const count = status.lost - this.lastLost;
      this.counters.lostKernel += count;
      this.notice({
        kind: 'loss',
        count,
        where: 'kernel',
        detail: `the kernel dropped ${count} audit record(s) (backlog limit ${status.backlogLimit}, rate limit ${status.rateLimit}); some may have been execs`,
      });
    }
    // The counter can be reset by an administrator (auditctl --reset-lost): follow it down.
    this.lastLost = status.lost;
    if (status.enabled === 2 && !this.lockedNoticed) {
      this.lockedNoticed = true;
      this.notice({
        kind: 'degraded',
        detail: 'the audit configuration was locked (enabled 2): our rules can no longer be restored or removed until reboot',
      });
    } else if (status.enabled === 0) {
      // Someone switched auditing off: nothing reaches us until it is back on.
      try {
        this.addon.auditSetEnabled(1);
        this.weEnabled = true;
        this.notice({ kind: 'degraded', detail: 'kernel auditing was switched off while we ran; switched it back on' });
      } catch (err) {
        this.notice({ kind: 'degraded', detail: `kernel auditing was switched off and could not be re-enabled: ${explainAuditError(err)}` });
      }
    }
  }
}
