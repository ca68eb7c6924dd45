// Keeps the event log bounded: every intervalMs, events older than maxAge go (by event time),
// except those an active sink has not delivered yet; then, while the log is over maxBytes, the
// oldest stored events go even if undelivered, and each sink that lost some is told by a
// central event (`central-retention-dropped-undelivered`) naming the rowids and times it lost.
//
//   age:  delete time < now − maxAge  AND  rowid ≤ min(active sinks' cursors)
//   size: delete oldest rowids until sizeBytes() ≤ maxBytes → per sink: rowid > its cursor = lost
//
// Deletion runs in chunks of `chunkRows`, one transaction each, yielding to the event loop in
// between so ingest (same thread, same database) waits at most one chunk. Open findings live in
// their own table and are never pruned by age.

import os from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { nodewarden } from '../gen/nodewarden.js';
import { droppedCounter } from '../core/metrics.js';
import { describeError } from '../core/errors.js';
import type { EventLog, IncomingEvent, PrunedRow } from './event-log.js';

const pb = nodewarden.v1;
export const DROPPED_UNDELIVERED_RULE = 'central-retention-dropped-undelivered';

export interface RetentionLimits {
  /** Milliseconds of event time kept; 0 keeps events of any age. */
  maxAge: number;
  maxBytes: number;
  intervalMs: number;
}

export interface RetentionOptions {
  log: EventLog;
  /** `config.central.retention`. */
  limits: RetentionLimits;
  /** Cursor names of the sinks configured now; cursors of sinks no longer configured hold nothing back. */
  sinks: readonly string[];
  registry: Registry;
  logger: Logger;
  /** Central's own events (a loss notice) go the way new events go: feed, sinks, terminal. */
  onStored: (events: IncomingEvent[]) => void;
  /** Node name on central's own events (default: this host's name). */
  node?: string;
  /** Rows deleted per transaction (default 5,000). */
  chunkRows?: number;
}

/** What one sink lost to the byte cap in one pass. */
export interface UndeliveredLoss {
  sink: string;
  firstRowid: number;
  lastRowid: number;
  count: number;
  firstTimeNs: bigint;
  lastTimeNs: bigint;
}

export interface PruneReport {
  byAge: number;
  bySize: number;
  resolvedFindings: number;
  undelivered: UndeliveredLoss[];
}

function gauge(reg: Registry, name: string, help: string): Gauge {
  return (reg.getSingleMetric(name) as Gauge | undefined) ?? new Gauge({ name, help, registers: [reg] });
}

/** `30d`, `12h`, `90m`: maxAge as an operator wrote it, roughly. */
function describeAge(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const isoTime = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

export class Retention {
  private readonly chunkRows: number;
  private readonly pruned: Counter<'reason'>;
  private readonly dropped: Counter<'component' | 'reason'>;
  private readonly undeliveredDropped: Counter<'sink'>;
  private readonly bytes: Gauge;
  private readonly events: Gauge;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: RetentionOptions) {
    this.chunkRows = Math.max(1, opts.chunkRows ?? 5_000);
    const reg = opts.registry;
    this.pruned = (reg.getSingleMetric('nodewarden_retention_pruned_events_total') as Counter<'reason'> | undefined) ?? new Counter({
      name: 'nodewarden_retention_pruned_events_total',
      help: 'Events deleted from the event log by retention, by reason (age, size).',
      labelNames: ['reason'],
      registers: [reg],
    });
    this.dropped = droppedCounter(reg);
    this.undeliveredDropped = (reg.getSingleMetric('nodewarden_retention_undelivered_dropped_total') as Counter<'sink'> | undefined) ?? new Counter({
      name: 'nodewarden_retention_undelivered_dropped_total',
      help: 'Events the size cap removed before this sink delivered them, by sink.',
      labelNames: ['sink'],
      registers: [reg],
    });
    this.bytes = gauge(reg, 'nodewarden_event_log_bytes', 'Bytes held by the event log (free pages not counted).');
    this.events = gauge(reg, 'nodewarden_event_log_events', 'Events held by the event log.');
  }

  /** Prune now, then every intervalMs. Passes never overlap. */
  start(): void {
    if (this.stopped || this.timer) return;
    this.updateGauges();
    const tick = () => {
      this.running = this.runOnce()
        .catch((err) => this.opts.logger.error({ err: describeError(err) }, 'Event log retention failed; it will try again at the next interval.'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.limits.intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  /** Idempotent and safe without start(): no new pass begins; a running one ends after its chunk. */
  async stop(deadlineMs = 3000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
  }

  /** One retention pass. Exposed for tests and for an operator-triggered prune. */
  async runOnce(): Promise<PruneReport> {
    const { log, limits } = this.opts;
    const report: PruneReport = { byAge: 0, bySize: 0, resolvedFindings: 0, undelivered: [] };
    const sizeBefore = log.sizeBytes();
    const cursors = this.cursors();

    if (limits.maxAge > 0) {
      const cutoffNs = BigInt(Date.now() - limits.maxAge) * 1_000_000n;
      // A sink that never recorded a cursor will deliver from the start: it holds everything.
      const deliveredThrough = cursors.length ? Math.min(...cursors.map((c) => c.rowid)) : Number.MAX_SAFE_INTEGER;
      report.byAge = await this.chunked(() => log.pruneOlderThan(cutoffNs, deliveredThrough, this.chunkRows));
      report.resolvedFindings = await this.chunked(() => log.pruneResolvedFindings(cutoffNs, this.chunkRows));
      if (report.byAge) this.pruned.inc({ reason: 'age' }, report.byAge);
    }

    const losses = new Map<string, UndeliveredLoss>();
    let lost = 0;
    let held = -1; // counted once, only when the cap is reached: count() walks a whole index
    for (let size = log.sizeBytes(); size > limits.maxBytes && !this.stopped; size = log.sizeBytes()) {
      if (held < 0) held = log.count();
      if (held === 0) break; // what is left is findings and bookkeeping: nothing retention may take
      // Aim at the overshoot from the average row size; the loop measures again after each chunk.
      const want = Math.min(this.chunkRows, Math.max(1, Math.ceil((size - limits.maxBytes) / (size / held))));
      const rows = log.pruneOldest(want);
      if (rows.length === 0) break;
      report.bySize += rows.length;
      held -= rows.length;
      this.pruned.inc({ reason: 'size' }, rows.length);
      // Cursors read now, not at the start of the pass: a sink may have delivered meanwhile.
      lost += this.account(rows, this.cursors(), losses);
      await yieldToLoop();
    }
    report.undelivered = [...losses.values()];
    if (lost) this.dropped.inc({ component: 'retention', reason: 'size-cap-undelivered' }, lost);
    for (const l of report.undelivered) this.undeliveredDropped.inc({ sink: l.sink }, l.count);
    this.reportLosses(report.undelivered);

    if (report.byAge || report.bySize || report.resolvedFindings) {
      await this.vacuum();
      const age = describeAge(limits.maxAge);
      const parts = [
        report.byAge ? `${report.byAge} events older than ${age}` : '',
        report.bySize ? `${report.bySize} events to stay under ${limits.maxBytes} bytes` : '',
        report.resolvedFindings ? `${report.resolvedFindings} findings resolved more than ${age} ago` : '',
      ].filter(Boolean);
      this.opts.logger.info(
        { byAge: report.byAge, bySize: report.bySize, resolvedFindings: report.resolvedFindings, bytesBefore: sizeBefore, bytesAfter: log.sizeBytes() },
        `Retention removed ${parts.join(' and ')}; the event log now holds ${log.count()} events in ${log.sizeBytes()} bytes.`,
      );
    }
    this.updateGauges();
    return report;
  }

  private cursors(): { name: string; rowid: number }[] {
    return this.opts.sinks.map((name) => ({ name, rowid: this.opts.log.getCursor(name).rowid }));
  }

  /**
   * Give freed pages back in steps. A log created before auto_vacuum was INCREMENTAL frees
   * nothing here (the pages are reused by new events instead): stop when no step makes progress.
   */
  private async vacuum(): Promise<void> {
    for (let free = Infinity; !this.stopped;) {
      const left = this.opts.log.incrementalVacuum(2_000);
      if (left === 0 || left >= free) return;
      free = left;
      await yieldToLoop();
    }
  }

  /** Run `step` (one transaction) until it deletes less than a chunk, yielding in between. */
  private async chunked(step: () => number): Promise<number> {
    let total = 0;
    while (!this.stopped) {
      const n = step();
      total += n;
      if (n < this.chunkRows) break;
      await yieldToLoop();
    }
    return total;
  }

  /**
   * Rows above a sink's cursor were stored but not delivered by it: record them as its loss.
   * Returns how many of the rows some sink had not delivered (each event counted once).
   */
  private account(rows: PrunedRow[], cursors: { name: string; rowid: number }[], losses: Map<string, UndeliveredLoss>): number {
    const lowest = Math.min(...cursors.map((c) => c.rowid));
    for (const c of cursors) {
      for (const r of rows) {
        if (r.rowid <= c.rowid) continue;
        const loss = losses.get(c.name);
        if (!loss) {
          losses.set(c.name, { sink: c.name, firstRowid: r.rowid, lastRowid: r.rowid, count: 1, firstTimeNs: r.timeNs, lastTimeNs: r.timeNs });
          continue;
        }
        loss.lastRowid = r.rowid;
        loss.count++;
        if (r.timeNs < loss.firstTimeNs) loss.firstTimeNs = r.timeNs;
        if (r.timeNs > loss.lastTimeNs) loss.lastTimeNs = r.timeNs;
      }
    }
    return rows.filter((r) => r.rowid > lowest).length;
  }

  /** One central event and one warning per sink that lost events. */
  private reportLosses(losses: UndeliveredLoss[]): void {
    if (losses.length === 0) return;
    const stored: IncomingEvent[] = [];
    for (const l of losses) {
      const message = `The event log reached its ${this.opts.limits.maxBytes}-byte cap and retention deleted ${l.count} events ` +
        `sink ${l.sink} had not delivered: rowids ${l.firstRowid}–${l.lastRowid}, event times ${isoTime(l.firstTimeNs)} to ${isoTime(l.lastTimeNs)}. ` +
        'The sink continues after the gap; raise central.retention.maxBytes or fix the sink to avoid this.';
      this.opts.logger.warn({ sink: l.sink, firstRowid: l.firstRowid, lastRowid: l.lastRowid, count: l.count }, message);
      try {
        stored.push(this.opts.log.appendCentralEvent({
          node: this.opts.node ?? os.hostname(),
          source: pb.Source.SOURCE_CENTRAL,
          ruleId: DROPPED_UNDELIVERED_RULE,
          severity: pb.Severity.SEVERITY_HIGH,
          title: `Retention deleted ${l.count} events sink ${l.sink} had not delivered`,
          message,
          fingerprint: `${DROPPED_UNDELIVERED_RULE}:${l.sink}`,
          tags: ['retention', 'data-loss'],
          attributes: {
            sink: l.sink,
            firstRowid: String(l.firstRowid),
            lastRowid: String(l.lastRowid),
            count: String(l.count),
            firstTime: isoTime(l.firstTimeNs),
            lastTime: isoTime(l.lastTimeNs),
          },
        }));
      } catch (err) {
        this.opts.logger.error({ err: describeError(err), sink: l.sink }, 'Could not store the notice of events retention deleted undelivered.');
      }
    }
    if (stored.length) this.opts.onStored(stored);
  }

  private updateGauges(): void {
    this.bytes.set(this.opts.log.sizeBytes());
    this.events.set(this.opts.log.count());
  }
}
