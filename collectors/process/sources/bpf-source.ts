// The preferred exec source: an eBPF program on the kernel's sched_process_exec tracepoint
// (native/bpf/exec.bpf.c), loaded through the system's libbpf by the native reader
// (native/bpf-reader.cc). The program reads, in the exec'ing task at the moment of the exec,
// what the audit source reads from /proc afterwards (command line, executable and working
// folder, fds 0 and 1, cgroup, start time, the executable's ctime, pid-namespace init), so no
// file is opened per exec and a process that exits at once is seen as completely as any other.
//
//   sched_process_exec ──▶ eBPF program ──ring buffer──▶ native reader thread
//                                                              │ batches (≤256 events / 50 ms)
//                                                              ▼
//                                                 BpfSource ──▶ onBatch / onNotice
//
// Watching files (the posture collector asks who changed a kubelet file) is an audit feature:
// where audit can run, this source keeps an audit source beside it that holds watch rules only
// (no exec rules) and lends its fileWatch; exec records audit may carry for other tools' rules
// are ignored there, the program already saw those execs.

import { existsSync } from 'node:fs';
import { NwError, describeError } from '../../../core/errors.js';
import { AuditSource, type AuditSourceDeps } from './audit-source.js';
import {
  DEFAULT_MAX_QUEUE,
  type ExecEvent,
  type ExecSource,
  type ExecSourceOptions,
  type ExecSourceStats,
  type FileWatch,
  type SourceNotice,
} from './exec-source.js';
import { deliverNativeBatch, guardNotice } from './native-batch.js';
import {
  bpfObjectPath,
  loadNative,
  type NativeAddon,
  type NativeBatchInfo,
  type NativeError,
  type NativeExecEvent,
  type NativeReader,
} from './native.js';

/** A sentence for an error raised while loading or attaching the program. */
export function explainBpfError(err: unknown): string {
  const code = (err as NativeError | undefined)?.code;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      // The addon's message carries the verifier's or libbpf's own words after the reason.
      return `not permitted to load the eBPF exec program, or the kernel's verifier refused it: ${describeError(err)}`;
    default:
      return describeError(err);
  }
}

export interface BpfSourceDeps {
  addon?: NativeAddon;
  /** The compiled program; default build/bpf/exec.bpf.o. */
  objectPath?: string;
  /** Passed to the audit source that keeps the watch rules. */
  audit?: AuditSourceDeps;
}

export class BpfSource implements ExecSource {
  readonly name = 'bpf' as const;
  readonly limits =
    'Sees every successful exec on the node from the kernel itself (eBPF on sched_process_exec), with its command line, ' +
    'executable, working folder, stdio and cgroup read at the exec, so processes that exit at once are complete; ' +
    'failed execs are not seen; a path deeper than 64 components is read from /proc instead (or, the process gone, starts with "(cut)").';

  private readonly opts: ExecSourceOptions;
  private readonly deps: BpfSourceDeps;
  private readonly objectPath: string;
  private reader: NativeReader | undefined;
  private watcher: AuditSource | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private onBatch: (batch: ExecEvent[]) => void = () => {};
  private notice: (n: SourceNotice) => void = () => {};
  private counters = { delivered: 0, lostKernel: 0 };

  constructor(opts: ExecSourceOptions = {}, deps: BpfSourceDeps = {}) {
    this.opts = opts;
    this.deps = deps;
    this.objectPath = deps.objectPath ?? bpfObjectPath;
  }

  /** The audit source's watch rules, when audit could start beside the program. */
  get fileWatch(): FileWatch | undefined {
    return this.watcher?.fileWatch;
  }

  /**
   * Why this source cannot run here, or null when it can. Proving it can means loading and
   * attaching the program; a program that loads is kept for start() (loading it twice would cost
   * the time and the memory twice), and stop() removes it whether or not the source started.
   * Execs seen between the two are not delivered: capture begins at start.
   */
  async probe(): Promise<string | null> {
    if (this.reader) return null;
    const addon = this.loadAddon();
    if (typeof addon === 'string') return addon;
    if (!existsSync(this.objectPath)) {
      return `the eBPF exec program is not built (${this.objectPath}: \`npm run build\` compiles it where clang is installed)`;
    }
    try {
      this.reader = this.open(addon);
      return null;
    } catch (err) {
      return explainBpfError(err);
    }
  }

  async start(onBatch: (batch: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void): Promise<void> {
    if (this.running) throw new NwError('NW_ERR_EXEC_SOURCE', 'the eBPF source is already running');
    if (this.stopping) throw new NwError('NW_ERR_EXEC_SOURCE', 'the eBPF source was stopped; make a new one');
    const addon = this.loadAddon();
    if (typeof addon === 'string') throw new NwError('NW_ERR_EXEC_SOURCE', addon);
    try {
      this.reader ??= this.open(addon);
    } catch (err) {
      throw new NwError('NW_ERR_EXEC_SOURCE', `eBPF source: ${explainBpfError(err)}`, { cause: err });
    }
    this.onBatch = onBatch;
    this.notice = guardNotice(onNotice);
    this.running = true;
    await this.startWatcher();
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (!this.reader) return;
    this.running = false;
    this.stopping = (async () => {
      await this.watcher?.stop();
      await this.reader?.stop();
    })();
    return this.stopping;
  }

  stats(): ExecSourceStats {
    const s = this.reader?.stats();
    return {
      received: s?.received ?? 0,
      delivered: this.counters.delivered,
      // Execs the program could not queue because the ring buffer was full.
      lostKernel: s?.lostSocket ?? this.counters.lostKernel,
      lostSocket: 0,
      lostAgent: s?.lostAgent ?? 0,
      backlog: s ? s.received - s.delivered - s.lostAgent : 0,
      rulesRestored: 0,
      readerCpuSeconds: (s?.threadCpuNs ?? 0) / 1e9,
    };
  }

  /** Audit with watch rules only, when it can run here; without it nothing watches files. */
  private async startWatcher(): Promise<void> {
    const watcher = new AuditSource({ ...this.opts, execRules: false }, { ...this.deps.audit, addon: this.deps.addon ?? this.deps.audit?.addon });
    const why = await watcher.probe();
    if (why !== null) {
      this.notice({ kind: 'degraded', detail: `files cannot be watched (audit cannot run beside the eBPF source: ${why})` });
      return;
    }
    try {
      // Exec records reach it only for other tools' audit rules: the program saw those execs.
      await watcher.start(() => {}, (n) => this.notice(n));
      this.watcher = watcher;
    } catch (err) {
      this.notice({ kind: 'degraded', detail: `files cannot be watched: ${describeError(err)}` });
    }
  }

  private open(addon: NativeAddon): NativeReader {
    return new addon.Reader(
      'bpf',
      { bpfObject: this.objectPath, bpfRingBytes: this.opts.bpfRingBytes, procRoot: this.opts.procRoot ?? '/proc', maxQueue: this.opts.maxQueue ?? DEFAULT_MAX_QUEUE },
      // Until start, onBatch drops what arrives.
      (events, info) => this.onNative(events, info),
    );
  }

  private loadAddon(): NativeAddon | string {
    if (this.deps.addon) return this.deps.addon;
    const loaded = loadNative();
    return 'error' in loaded ? `the native addon cannot be loaded (${loaded.error.message})` : loaded.addon;
  }

  private onNative(events: NativeExecEvent[], info: NativeBatchInfo): void {
    if (info.lostSocket > 0) {
      this.counters.lostKernel += info.lostSocket;
      this.notice({
        kind: 'loss',
        count: info.lostSocket,
        where: 'kernel',
        detail: `the eBPF ring buffer was full: ${info.lostSocket} exec(s) could not be queued by the kernel`,
      });
    }
    this.counters.delivered += deliverNativeBatch('the eBPF ring buffer', this.opts.maxQueue ?? DEFAULT_MAX_QUEUE, events, { ...info, lostSocket: 0 }, {
      onBatch: this.onBatch,
      notice: this.notice,
    });
  }
}
