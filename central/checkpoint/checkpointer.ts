// Checkpoints of the event log, off ingest's event loop. SQLite in WAL mode appends every commit
// to the write-ahead log and, by default, the connection whose commit takes the log past 1,000
// pages copies it back into the database file and fsyncs that, inside the commit. Central's
// commits run on its event loop (better-sqlite3 is synchronous), so at 10,000 events/s a
// checkpoint of ~4 MB every few tenths of a second stalled every stream: measured on a 2-vCPU
// VM, group commits p99 23 ms with it, 10 ms without, and agents' ack p99 64 → 33 ms.
//
// Here a thread of its own checkpoints (PASSIVE, every `everyMs`) through its own connection;
// central's writer keeps SQLite's automatic checkpoint only as a safety limit (`safetyPages`):
// should this thread stop keeping up, or die and not come back, the log still cannot grow past it.
//
//   central ── init (workerData: file, interval) ─▶ thread   wal_checkpoint(PASSIVE) every interval
//   central ◀─ ready · done (frames, copied, ms) · failed ── thread
//   central ── stop ─▶ thread

import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { describeError } from '../../core/errors.js';

/** What the thread is started with. */
export interface CheckpointInit {
  /** The event log's SQLite file. */
  file: string;
  everyMs: number;
}

export type ToCheckpoint = { t: 'stop' };
export type FromCheckpoint =
  | { t: 'ready' }
  /** One checkpoint: frames in the write-ahead log, how many are now in the database file. */
  | { t: 'done'; ms: number; frames: number; copied: number; busy: boolean }
  | { t: 'failed'; message: string };

/** Pages of write-ahead log (4 KiB each) past which central's own commit checkpoints after all. */
export const SAFETY_PAGES = 16_384;

export interface CheckpointerOptions {
  file: string;
  logger: Logger;
  registry: Registry;
  /** Between two checkpoints (default 250 ms). */
  everyMs?: number;
  /** Before starting a thread that ended unexpectedly again (default 1 s). */
  restartMs?: number;
}

export class Checkpointer {
  private worker: Worker | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  /** The reason of the checkpoints failing now, or null. */
  private failing: string | null = null;
  private readonly logger: Logger;
  private readonly seconds: Histogram;
  private readonly frames: Gauge;
  private readonly failures: Counter;

  constructor(private readonly opts: CheckpointerOptions) {
    this.logger = opts.logger.child({ component: 'checkpoint' });
    const reg = opts.registry;
    // Found again when a central restarts on the same registry.
    this.seconds = (reg.getSingleMetric('nodewarden_event_log_checkpoint_seconds') as Histogram | undefined) ?? new Histogram({
      name: 'nodewarden_event_log_checkpoint_seconds', help: 'Time of one checkpoint of the event log (write-ahead log pages copied into the database file, off ingest\'s event loop).',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [reg],
    });
    this.frames = (reg.getSingleMetric('nodewarden_event_log_wal_frames') as Gauge | undefined) ?? new Gauge({
      name: 'nodewarden_event_log_wal_frames', help: 'Pages in the event log\'s write-ahead log at the last checkpoint (it restarts from the beginning once every page is copied and no reader needs them).', registers: [reg],
    });
    this.failures = (reg.getSingleMetric('nodewarden_event_log_checkpoint_failures_total') as Counter | undefined) ?? new Counter({
      name: 'nodewarden_event_log_checkpoint_failures_total', help: 'Checkpoints that failed, and checkpoint threads that ended unexpectedly (each started again).', registers: [reg],
    });
  }

  /** The running thread (for tests), or null. */
  get thread(): Worker | null {
    return this.worker;
  }

  /** Start the thread; resolves once its connection is open. */
  start(): Promise<void> {
    return this.spawn();
  }

  /** Stop the thread (its last checkpoint, if running, finishes first). Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ t: 'stop' } satisfies ToCheckpoint);
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }

  private spawn(): Promise<void> {
    const init: CheckpointInit = { file: this.opts.file, everyMs: this.opts.everyMs ?? 250 };
    const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: init });
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let failure: Error | null = null;
      worker.on('message', (m: FromCheckpoint) => {
        switch (m.t) {
          case 'ready':
            ready = true;
            worker.unref();
            resolve();
            break;
          case 'done':
            this.seconds.observe(m.ms / 1000);
            this.frames.set(m.frames);
            if (this.failing !== null) {
              this.logger.info({ after: this.failing }, 'Checkpoints of the event log work again.');
              this.failing = null;
            }
            break;
          case 'failed':
            if (!ready) {
              failure = new Error(`cannot open the event log ${this.opts.file} for checkpoints: ${m.message}`);
              break;
            }
            this.failures.inc();
            // Once per kind of failure (a full disk fails every 250 ms): the counter has the rest.
            if (this.failing !== m.message) this.logger.warn({ err: m.message }, 'A checkpoint of the event log failed; the next ones try again (logged again only if the reason changes).');
            this.failing = m.message;
            break;
        }
      });
      worker.on('error', (err) => {
        failure ??= err;
      });
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = null;
        if (!ready) {
          reject(failure ?? new Error(`the checkpoint thread ended (exit code ${code}) before it started`));
          return;
        }
        if (this.stopping) return;
        this.failures.inc();
        const wait = this.opts.restartMs ?? 1000;
        this.logger.error({ err: describeError(failure ?? new Error(`exit code ${code}`)), restartInMs: wait }, `The event log's checkpoint thread ended unexpectedly; it starts again in ${wait} ms (meanwhile central's own commits checkpoint past ${SAFETY_PAGES} pages).`);
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (this.stopping) return;
          this.spawn().catch((err: unknown) => {
            this.failures.inc();
            this.logger.error({ err: describeError(err) }, 'The event log\'s checkpoint thread could not start again; central\'s own commits checkpoint past the safety limit.');
          });
        }, wait);
        this.restartTimer.unref();
      });
    });
  }
}
