// Central's sinks run in one worker thread, off ingest's event loop: seven sinks cost ~300 µs of
// CPU per event (decoding, OCSF/ECS/CEF formatting, JSON, HTTP), and on the loop ingest needs
// that tripled its acknowledgement latency. Here ingest's loop stores events and posts a "stored"
// note; the thread (thread.ts) reads, formats and sends, on another core.
//
//   ingest loop                                   sink thread
//   group commit ─ stored ─────────────────────▶  every sink reads on from its cursor (own
//   Hello ──────── host facts ─────────────────▶  read-only connection, rows decoded once)
//   group commit ◀─ write (cursor, dead letters) ─ after delivery; the sink waits for `written`
//                ── written (durable) ─────────▶
//   /metrics ───── metrics ◀──────────────────▶   the thread's registry, mirrored (thread-metrics.ts)
//   logger ◀────── log lines ───────────────────  pino lines with their sink (log-relay.ts)
//
// Why central writes the thread's bookkeeping instead of the thread: SQLite has one writer at a
// time. A second writing connection made ingest's deferred transactions fail (SQLITE_BUSY when
// a read turned into a write) and, with BEGIN IMMEDIATE, wait in SQLite's busy handler: measured
// with ingest committing 100 events every 10 ms, a thread moving 7 cursors 100 times a second
// tripled ingest's commit p99 (11 → 26–36 ms, max 190 ms). Inside ingest's group commit the same
// writes cost nothing measurable and no fsync of their own; dead letters and the cursor move
// after them share a savepoint. A sink waits for each write to be durable before it moves on,
// exactly as when it wrote the log itself.
//
// A thread that ends unexpectedly (a crash, an out-of-memory) is logged, counted and started
// again after a backoff; its sinks resume from their durable cursors (at-least-once, as after a
// restart of central). Its pending writes are committed before its successor reads the cursors.

import { SHARE_ENV, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { NwError, describeError } from '../../../core/errors.js';
import type { HostFacts } from '../../../core/host-facts.js';
import type { SinkWrite } from '../../event-log.js';
import type { SinkConfig } from '../config.js';
import { relayLine } from './log-relay.js';
import type { FromThread, MetricSnapshot, ThreadInit, ToThread } from './protocol.js';
import { restoreThreadPriority } from './priority.js';
import { ThreadMetrics } from './thread-metrics.js';

/** Stored bytes of events the thread keeps decoded for its sinks (their decoded size is a few times this). */
const CACHE_BYTES = 16 * 1024 * 1024;
/** A thread that ran this long before it ended starts again after the shortest wait. */
const HEALTHY_MS = 60_000;
/** How long `stop` waits past its deadline for the thread to say it stopped, before ending it. */
const STOP_GRACE_MS = 1000;
/** Metrics questions the thread may leave unanswered (a scrape waits 1 s, then shows the last values). */
const MAX_ASKS = 8;

export interface SinkWorkerOptions {
  /** The event log's file (the thread opens it read-only). */
  file: string;
  configs: SinkConfig[];
  version: string;
  logger: Logger;
  /** Central's registry: the thread's metrics appear on it, and the thread's own. */
  registry: Registry;
  /** Write the thread's bookkeeping durably (in ingest's next group commit). */
  write: (writes: SinkWrite[]) => Promise<void>;
  /** Every node's host facts now (a new thread gets them all). */
  hosts: () => Iterable<[string, HostFacts]>;
  /** Waits before starting a crashed thread again: doubling from initialMs up to maxMs. */
  restart?: { initialMs: number; maxMs: number };
}

export class SinkWorker {
  private worker: Worker | null = null;
  private cursors: string[] = [];
  private readonly metrics: ThreadMetrics;
  private readonly crashes: Counter;
  private readonly up: Gauge;
  private readonly logger: Logger;
  /** Writes handed to central and not yet durable (a successor waits for them). */
  private readonly writing = new Set<Promise<void>>();
  private readonly asks = new Map<number, (m: MetricSnapshot | null) => void>();
  private nextAsk = 1;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartWaitMs: number;
  private startedAt = 0;
  private threadTid = 0;
  private stopping = false;
  private stopped: Promise<void> | null = null;

  constructor(private readonly opts: SinkWorkerOptions) {
    this.logger = opts.logger.child({ component: 'sinks' });
    this.restartWaitMs = opts.restart?.initialMs ?? 1000;
    this.metrics = new ThreadMetrics(opts.registry, () => this.askMetrics(), this.logger);
    const reg = opts.registry;
    this.crashes = (reg.getSingleMetric('nodewarden_sink_thread_crashes_total') as Counter | undefined) ?? new Counter({
      name: 'nodewarden_sink_thread_crashes_total', help: 'Times the sink thread ended unexpectedly or could not start again; each is followed by a restart after a wait (sinks resume from their cursors).', registers: [reg],
    });
    this.up = (reg.getSingleMetric('nodewarden_sink_thread_up') as Gauge | undefined) ?? new Gauge({
      name: 'nodewarden_sink_thread_up', help: '1 while the sink thread runs its sinks.', registers: [reg],
    });
  }

  /** The sinks' cursor names (known once started): retention keeps what they have not passed. */
  get cursorNames(): readonly string[] {
    return this.cursors;
  }

  /** The running thread (for diagnostics and tests), or null. */
  get thread(): Worker | null {
    return this.worker;
  }

  /** The running thread's kernel thread id (Linux; 0 when unknown), for diagnostics and tests. */
  get tid(): number {
    return this.worker ? this.threadTid : 0;
  }

  /**
   * Start the thread and every sink in it. Rejects, with the sink's own error (NW_ERR_CONFIG
   * for a CA file that cannot be read, a missing secret…), when one cannot be created or started.
   */
  async start(): Promise<void> {
    if (this.opts.configs.length === 0 || this.worker || this.stopping) return;
    await this.spawn();
  }

  /** Events were stored: the sinks read on. Costs ingest one small message. */
  notify(): void {
    this.post({ t: 'stored' });
  }

  /** A node's host facts changed. */
  setHost(node: string, facts: HostFacts): void {
    this.post({ t: 'host', node, facts });
  }

  /**
   * Stop every sink, each draining up to `deadlineMs`, then end the thread; resolves when the
   * writes it handed over are durable. Idempotent; safe without start.
   */
  stop(deadlineMs = 3000): Promise<void> {
    this.stopped ??= this.shutdown(deadlineMs);
    return this.stopped;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker) {
      let timer: NodeJS.Timeout | undefined;
      const said = new Promise<void>((resolve) => {
        worker.on('message', (m: FromThread) => {
          if (m.t === 'stopped') resolve();
        });
        worker.once('exit', () => resolve());
        timer = setTimeout(resolve, deadlineMs + STOP_GRACE_MS);
      });
      // At idle priority the thread runs only on CPU nobody else wants: on a busy machine it
      // could miss the deadline. Draining is now the job at hand.
      restoreThreadPriority(this.threadTid);
      worker.postMessage({ t: 'stop', deadlineMs } satisfies ToThread);
      await said;
      clearTimeout(timer);
      await worker.terminate();
    }
    await Promise.allSettled([...this.writing]);
  }

  /** Start a thread and wait for its sinks to start. */
  private spawn(): Promise<void> {
    const init: ThreadInit = {
      file: this.opts.file,
      configs: this.opts.configs,
      hosts: [...this.opts.hosts()],
      version: this.opts.version,
      logLevel: this.opts.logger.level,
      cacheBytes: CACHE_BYTES,
    };
    // The thread's entry is compiled beside this file (dist/central/sinks/worker/thread.js).
    const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: init, env: SHARE_ENV });
    this.worker = worker;
    this.startedAt = Date.now();
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let failure: Error | null = null;
      worker.on('message', (m: FromThread) => {
        switch (m.t) {
          case 'ready':
            ready = true;
            this.cursors = m.cursors;
            this.metrics.take(m.metrics);
            this.up.set(1);
            this.threadTid = m.tid;
            if (m.priority.policy === 'idle') {
              this.logger.info({ sinks: m.cursors.length, tid: m.tid }, 'The sinks run in their own thread, at idle CPU priority.');
            } else {
              const now = m.priority.policy === 'nice' ? `nice ${m.priority.nice}` : 'central\'s own priority';
              this.logger.warn({ sinks: m.cursors.length, tid: m.tid, reason: m.priority.why }, `The sinks run in their own thread, at ${now}: idle CPU priority was refused (${m.priority.why}); under load they take more CPU from ingest.`);
            }
            // From now on the thread alone does not keep central's process alive (central's
            // server does); until now it must, or a start awaited on an idle loop would end.
            worker.unref();
            resolve();
            break;
          case 'failed':
            failure = new NwError(m.code, m.message);
            break;
          default:
            this.handle(worker, m);
        }
      });
      worker.on('error', (err) => {
        failure ??= err;
      });
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = null;
        this.up.set(0);
        for (const answer of this.asks.values()) answer(null);
        this.asks.clear();
        this.metrics.carryOver();
        if (!ready) {
          reject(failure ?? new Error(`the sink thread ended (exit code ${code}) before its sinks started`));
          return;
        }
        if (this.stopping) return;
        this.crashed(failure ?? new Error(`the sink thread ended with exit code ${code}`));
      });
    });
  }

  private handle(worker: Worker, m: FromThread): void {
    switch (m.t) {
      case 'write': {
        const done = this.opts.write(m.writes);
        this.writing.add(done);
        const answer = (error?: string) => {
          this.writing.delete(done);
          // A thread that ended meanwhile is not told; its successor reads the durable cursors.
          if (this.worker === worker) worker.postMessage({ t: 'written', id: m.id, ...(error === undefined ? {} : { error }) } satisfies ToThread);
        };
        done.then(() => answer(), (err: unknown) => answer(describeError(err)));
        break;
      }
      case 'log':
        relayLine(this.opts.logger, m.line);
        break;
      case 'metrics':
        this.asks.get(m.id)?.(m.metrics);
        this.asks.delete(m.id);
        break;
      default:
        break;
    }
  }

  private crashed(err: Error): void {
    this.crashes.inc();
    // A thread that ran a good while had a one-off problem: start again soon.
    if (Date.now() - this.startedAt > HEALTHY_MS) this.restartWaitMs = this.opts.restart?.initialMs ?? 1000;
    const wait = this.restartWaitMs;
    this.restartWaitMs = Math.min(wait * 2, this.opts.restart?.maxMs ?? 30_000);
    this.logger.error({ err: describeError(err), restartInMs: wait }, `The sink thread ended unexpectedly; it starts again in ${wait} ms and its sinks resume from their cursors.`);
    this.restartTimer = setTimeout(() => void this.restart(), wait);
    this.restartTimer.unref();
  }

  private async restart(): Promise<void> {
    this.restartTimer = null;
    if (this.stopping) return;
    // The last thread's writes first: its successor must read the cursors they move.
    await Promise.allSettled([...this.writing]);
    if (this.stopping) return;
    try {
      await this.spawn();
      this.logger.info({ sinks: this.cursors.length }, 'The sink thread started again.');
    } catch (err) {
      if (!this.stopping) this.crashed(err as Error);
    }
  }

  private askMetrics(): Promise<MetricSnapshot | null> {
    const worker = this.worker;
    // A thread that answers none of a few questions is not asked more (its last values stand).
    if (!worker || this.asks.size >= MAX_ASKS) return Promise.resolve(null);
    const id = this.nextAsk++;
    return new Promise((resolve) => {
      this.asks.set(id, resolve);
      worker.postMessage({ t: 'metrics', id } satisfies ToThread);
    });
  }

  private post(m: ToThread): void {
    // No thread (none configured, or between a crash and its restart): the next one reads from
    // the cursors and gets every host's facts when it starts.
    this.worker?.postMessage(m);
  }
}
