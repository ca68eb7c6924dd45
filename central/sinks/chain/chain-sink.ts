// A network sink: reads the event log from its own cursor, keeps what its filter takes, and
// sends batches through the send chain until each event is delivered or dead-lettered; only
// then does the cursor move past the batch. Each sink runs on its own (its own cursor, its own
// loop), so a slow webhook never stalls syslog; all of them run in the sink thread, so none
// stalls ingest.
//
//   cursor ─▶ read ─▶ filter ─▶ batch ─▶ send chain ─┬─ ok ───────────▶ delivered
//     ▲                                              ├─ permanent ────▶ dead letters (with reason)
//     └──────────── setCursor(last rowid) ◀──────────┴─ retry ────────▶ wait, send those again
//
// Delivery is at-least-once per receiver (a crash after sending and before the cursor moved
// resends the batch); receivers that deduplicate (Elasticsearch by _id, webhooks by
// Idempotency-Key) make it exactly once.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { nodewarden } from '../../../gen/nodewarden.js';
import { describeError } from '../../../core/errors.js';
import type { CommonSinkConfig, Sink, SinkDriver, SinkEvent, SinkSource } from '../sink.js';
import { filterFor } from '../filter.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { backoff, outcomes, pause, sendOnce } from './send-chain.js';
import type { HostFacts } from '../../../core/host-facts.js';

const pb = nodewarden.v1;
/** Bytes of stored events read into one batch: a few huge events must not build a giant request. */
const MAX_BATCH_BYTES = 8 * 1024 * 1024;

export interface SinkMetrics {
  delivered: Counter<'sink'>;
  failed: Counter<'sink' | 'reason'>;
  retries: Counter<'sink'>;
  deadLettered: Counter<'sink'>;
}

/** The sink metric families, created once per registry and shared by every sink. */
export function sinkMetrics(reg: Registry, source: SinkSource, cursors: () => Map<string, number>): SinkMetrics {
  const get = <T>(name: string, make: () => T): T => (reg.getSingleMetric(name) as T | undefined) ?? make();
  get('nodewarden_sink_lag_events', () => new Gauge({
    name: 'nodewarden_sink_lag_events', help: 'Stored events after the sink\'s cursor (not yet delivered or skipped).', labelNames: ['sink'], registers: [reg],
    collect() {
      const head = source.head().rowid;
      for (const [sink, rowid] of cursors()) this.set({ sink }, Math.max(0, head - rowid));
    },
  }));
  get('nodewarden_sink_lag_seconds', () => new Gauge({
    name: 'nodewarden_sink_lag_seconds', help: 'Age of the oldest stored event the sink has not yet passed (0 when caught up).', labelNames: ['sink'], registers: [reg],
    collect() {
      const now = Date.now();
      for (const [sink, rowid] of cursors()) {
        const next = source.read(rowid, 1)[0];
        const at = next ? source.storedAt(next.rowid) : undefined;
        this.set({ sink }, at === undefined ? 0 : Math.max(0, (now - at) / 1000));
      }
    },
  }));
  return {
    delivered: get('nodewarden_sink_events_delivered_total', () => new Counter({ name: 'nodewarden_sink_events_delivered_total', help: 'Events delivered by each sink.', labelNames: ['sink'], registers: [reg] })),
    failed: get('nodewarden_sink_send_failures_total', () => new Counter({ name: 'nodewarden_sink_send_failures_total', help: 'Events a send did not deliver, by sink and reason (retry or permanent).', labelNames: ['sink', 'reason'], registers: [reg] })),
    retries: get('nodewarden_sink_retries_total', () => new Counter({ name: 'nodewarden_sink_retries_total', help: 'Batches sent again after a failure.', labelNames: ['sink'], registers: [reg] })),
    deadLettered: get('nodewarden_sink_dead_letters_total', () => new Counter({ name: 'nodewarden_sink_dead_letters_total', help: 'Events a receiver refused for good, kept in the dead-letter table.', labelNames: ['sink'], registers: [reg] })),
  };
}

export interface ChainSinkOptions {
  config: CommonSinkConfig;
  driver: SinkDriver;
  source: SinkSource;
  logger: Logger;
  metrics: SinkMetrics;
  host: (node: string) => HostFacts | undefined;
}

export class ChainSink implements Sink {
  readonly name: string;
  private rowid = 0;
  private running = false;
  private again = false;
  private started = false;
  private readonly stopper = new AbortController();
  private idle: Promise<void> = Promise.resolve();
  private periodicTimer: NodeJS.Timeout | null = null;
  private periodicRun: Promise<void> | null = null;
  /** Cursor sends and periodic sends take turns: a re-send of an open finding must not overtake its resolution. */
  private sendTurn: Promise<unknown> = Promise.resolve();
  private readonly accept: (e: nodewarden.v1.Event) => boolean;
  /** One log line per kind of failure until a success, not one per retry. */
  private lastFailure = '';

  constructor(private readonly opts: ChainSinkOptions) {
    this.name = opts.config.name;
    this.accept = filterFor(opts.config.filter);
  }

  /** The cursor's position (for lag metrics). */
  get cursor(): number {
    return this.rowid;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // A new sink starts at the oldest event the log holds (retention bounds how far back that
    // is), as the JSON-lines file always has: a receiver added later misses nothing — unless its
    // type says otherwise (SinkDriver.startAt).
    const cur = this.opts.source.getCursor(this.name);
    this.rowid = cur.rowid;
    if (!cur.known && this.opts.driver.startAt === 'newest') {
      this.rowid = this.opts.source.head().rowid;
      await this.opts.source.setCursor(this.name, this.rowid, 0);
    }
    const periodic = this.opts.driver.periodic;
    if (periodic) {
      this.periodicTimer = setInterval(() => void this.sendPeriodic(), periodic.everyMs);
      this.periodicTimer.unref();
    }
    this.notify();
  }

  notify(): void {
    if (!this.started || this.stopper.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.drain().finally(() => {
      this.running = false;
    });
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopper.signal.aborted) return;
    this.stopper.abort();
    if (this.periodicTimer) clearInterval(this.periodicTimer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([this.idle, this.periodicRun]), new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
    await this.opts.driver.transport.close?.().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    const stop = this.stopper.signal;
    const max = this.opts.driver.maxBatch ?? this.opts.config.batch.maxEvents;
    do {
      this.again = false;
      try {
        for (;;) {
          // The other sinks and the thread's messages get a turn between batches.
          await yieldToLoop();
          if (stop.aborted) return;
          const read = this.opts.source.read(this.rowid, max);
          if (read.length === 0) break;
          let bytes = 0;
          const rows = read.filter((r, i) => (bytes += r.body.length) <= MAX_BATCH_BYTES || i === 0);
          const batch: SinkEvent[] = [];
          for (const row of rows) {
            const event = row.event ?? pb.Event.decode(row.body);
            if (this.accept(event)) batch.push({ rowid: row.rowid, event, bytes: row.body, host: this.opts.host(event.node) });
          }
          if (batch.length > 0 && !(await this.deliver(batch))) return; // stopped mid-retry: the cursor stays
          this.rowid = rows[rows.length - 1]!.rowid;
          await this.opts.source.setCursor(this.name, this.rowid, 0);
        }
      } catch (err) {
        // Reading the log or recording the cursor failed: nothing moved; try again shortly.
        this.opts.logger.error({ err: describeError(err), sink: this.name }, 'The sink could not read the event log or record its cursor; retrying.');
        if (!(await pause(1000, stop))) return;
        this.again = true;
      }
    } while (this.again && !stop.aborted);
  }

  /** Send until every event is delivered or dead-lettered; false when the sink stopped first. */
  private async deliver(batch: SinkEvent[]): Promise<boolean> {
    const { metrics, config, driver } = this.opts;
    const stop = this.stopper.signal;
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      const result = await this.inTurn(() => sendOnce(driver.transport, pending, config.timeoutMs, stop));
      const each = outcomes(result, pending.length);
      const retry: SinkEvent[] = [];
      const dead: { rowid: number; body: Buffer; reason: string }[] = [];
      let delivered = 0;
      let afterMs: number | undefined;
      let reason = '';
      let split = false;
      each.forEach((o, i) => {
        const e = pending[i]!;
        if (o.kind === 'ok') delivered++;
        else if (o.kind === 'permanent') dead.push({ rowid: e.rowid, body: e.bytes, reason: o.reason });
        else {
          retry.push(e);
          reason ||= o.reason;
          if (o.split) split = true;
          if (o.afterMs !== undefined) afterMs = Math.max(afterMs ?? 0, o.afterMs);
        }
      });
      if (delivered > 0) metrics.delivered.inc({ sink: this.name }, delivered);
      if (dead.length > 0) {
        // Durable before the cursor can move past them (a failure here retries the batch).
        await this.opts.source.deadLetter(this.name, dead);
        metrics.deadLettered.inc({ sink: this.name }, dead.length);
        metrics.failed.inc({ sink: this.name, reason: 'permanent' }, dead.length);
        this.opts.logger.warn({ sink: this.name, count: dead.length, reason: dead[0]!.reason }, `The receiver refused ${dead.length} events for good; they are in the dead-letter table.`);
      }
      if (retry.length === 0) {
        if (this.lastFailure) this.opts.logger.info({ sink: this.name }, 'The sink delivers again.');
        this.lastFailure = '';
        return true;
      }
      if (stop.aborted) return false;
      if (split && retry.length > 1) {
        // One at a time, in order: the event the receiver refuses alone is dead-lettered.
        for (const e of retry) if (!(await this.deliver([e]))) return false;
        return true;
      }
      metrics.failed.inc({ sink: this.name, reason: 'retry' }, retry.length);
      metrics.retries.inc({ sink: this.name });
      const delay = backoff(config.retry, attempt, afterMs);
      if (reason !== this.lastFailure) {
        this.lastFailure = reason;
        this.opts.logger.warn({ sink: this.name, events: retry.length, delayMs: delay, reason }, `The sink could not deliver; it keeps the events and tries again: ${reason}`);
      }
      if (!(await pause(delay, stop))) return false;
      pending = retry;
    }
  }

  private inTurn<T>(send: () => Promise<T>): Promise<T> {
    const run = this.sendTurn.then(send, send);
    this.sendTurn = run.catch(() => undefined);
    return run;
  }

  /** Sends on a timer that do not come from the cursor (Alertmanager's re-sends of open findings). */
  private sendPeriodic(): Promise<void> {
    if (this.periodicRun || this.stopper.signal.aborted) return this.periodicRun ?? Promise.resolve();
    this.periodicRun = this.periodicPass().finally(() => {
      this.periodicRun = null;
    });
    return this.periodicRun;
  }

  private async periodicPass(): Promise<void> {
    const periodic = this.opts.driver.periodic;
    if (!periodic) return;
    const started = Date.now();
    try {
      const events = periodic.events();
      const max = this.opts.driver.maxBatch ?? this.opts.config.batch.maxEvents;
      for (let i = 0; i < events.length; i += max) {
        await yieldToLoop();
        if (this.stopper.signal.aborted) return;
        const chunk = events.slice(i, i + max);
        const result = await this.inTurn(() => sendOnce(this.opts.driver.transport, chunk, this.opts.config.timeoutMs, this.stopper.signal));
        // The next period sends them all again: a failure here is counted, not retried.
        const failedCount = outcomes(result, Math.min(max, events.length - i)).filter((o) => o.kind !== 'ok').length;
        if (failedCount > 0) this.opts.metrics.failed.inc({ sink: this.name, reason: 'periodic' }, failedCount);
      }
      if (Date.now() - started > periodic.everyMs) {
        this.opts.logger.warn({ sink: this.name, events: events.length, ms: Date.now() - started }, 'Re-sending took longer than its interval; some re-sends come late.');
      }
    } catch (err) {
      this.opts.logger.warn({ sink: this.name, err: describeError(err) }, 'A periodic send failed; the next period tries again.');
    }
  }
}
