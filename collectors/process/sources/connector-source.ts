// The fallback exec source: the kernel's process connector, which reports every exec but
// only by pid. The native reader reads the command line and identity from /proc the moment
// the event arrives; a process that already exited yields an event with argvMissing.

import { NwError, describeError } from '../../../core/errors.js';
import {
  DEFAULT_MAX_QUEUE,
  type ExecEvent,
  type ExecSource,
  type ExecSourceOptions,
  type ExecSourceStats,
  type SourceNotice,
} from './exec-source.js';
import { deliverNativeBatch, guardNotice } from './native-batch.js';
import { loadNative, type NativeAddon, type NativeBatchInfo, type NativeError, type NativeExecEvent, type NativeReader } from './native.js';

/** A sentence for an addon error raised while opening the connector. */
export function explainConnectorError(err: unknown): string {
  const code = (err as NativeError | undefined)?.code;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return `not permitted to listen to the process connector (before Linux 6.6 it needs CAP_NET_ADMIN; always the host network namespace): ${describeError(err)}`;
    case 'EPROTONOSUPPORT':
    case 'EAFNOSUPPORT':
      return `the kernel has no process connector (CONFIG_CONNECTOR, CONFIG_PROC_EVENTS): ${describeError(err)}`;
    default:
      return describeError(err);
  }
}

export class ConnectorSource implements ExecSource {
  readonly name = 'connector' as const;
  readonly limits =
    'Sees every exec on the node by pid only and reads the rest from /proc at once: ' +
    'short-lived processes (about a millisecond) often arrive without their command line (argvMissing), ' +
    'failed execs are not seen, it needs the host network namespace, and without root the cwd, exe and stdio ' +
    "of other users' processes cannot be read.";

  private readonly opts: ExecSourceOptions;
  private readonly injected: NativeAddon | undefined;
  private reader: NativeReader | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private onBatch: (batch: ExecEvent[]) => void = () => {};
  private notice: (n: SourceNotice) => void = () => {};
  private delivered = 0;

  constructor(opts: ExecSourceOptions = {}, deps: { addon?: NativeAddon } = {}) {
    this.opts = opts;
    this.injected = deps.addon;
  }

  /** Why this source cannot run here, or null when it can. */
  async probe(): Promise<string | null> {
    const addon = this.loadAddon();
    if (typeof addon === 'string') return addon;
    try {
      const r = new addon.Reader('connector', { procRoot: this.opts.procRoot, rcvbufBytes: 4096 }, () => {});
      await r.stop();
      return null;
    } catch (err) {
      return explainConnectorError(err);
    }
  }

  async start(onBatch: (batch: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void): Promise<void> {
    if (this.running) throw new NwError('NW_ERR_EXEC_SOURCE', 'the connector source is already running');
    const addon = this.loadAddon();
    if (typeof addon === 'string') throw new NwError('NW_ERR_EXEC_SOURCE', addon);
    this.onBatch = onBatch;
    this.notice = guardNotice(onNotice);
    try {
      this.reader = new addon.Reader(
        'connector',
        { procRoot: this.opts.procRoot ?? '/proc', maxQueue: this.opts.maxQueue ?? DEFAULT_MAX_QUEUE },
        (events, info) => this.onNative(events, info),
      );
    } catch (err) {
      throw new NwError('NW_ERR_EXEC_SOURCE', `connector source: ${explainConnectorError(err)}`, { cause: err });
    }
    this.running = true;
    this.stopping = undefined;
  }

  async stop(): Promise<void> {
    if (!this.running) return this.stopping;
    this.running = false;
    this.stopping = this.reader?.stop();
    return this.stopping;
  }

  stats(): ExecSourceStats {
    const s = this.reader?.stats();
    return {
      received: s?.received ?? 0,
      delivered: this.delivered,
      lostKernel: 0,
      lostSocket: s?.lostSocket ?? 0,
      lostAgent: s?.lostAgent ?? 0,
      backlog: s ? s.received - s.delivered - s.lostAgent : 0,
      rulesRestored: 0,
      readerCpuSeconds: (s?.threadCpuNs ?? 0) / 1e9,
    };
  }

  private loadAddon(): NativeAddon | string {
    if (this.injected) return this.injected;
    const loaded = loadNative();
    return 'error' in loaded ? `the native addon cannot be loaded (${loaded.error.message})` : loaded.addon;
  }

  private onNative(events: NativeExecEvent[], info: NativeBatchInfo): void {
    this.delivered += deliverNativeBatch('the process connector socket', this.opts.maxQueue ?? DEFAULT_MAX_QUEUE, events, info, { onBatch: this.onBatch, notice: this.notice });
  }
}
