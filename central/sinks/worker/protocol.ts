// The messages between central's event loop and its sink thread (node:worker_threads, structured
// clone). Central only ever sends small notes; the thread sends its bookkeeping for central to
// write, its log lines and its metrics.
//
//   central ── init (workerData) ─────────────────▶ thread   the event log's file, sink configs, host facts
//   central ── stored · host · written · metrics · stop ─▶   new events; a node's facts; a write is durable …
//   central ◀─ ready | failed · write · log · metrics · stopped ── thread

import type { ErrorCode } from '../../../core/errors.js';
import type { HostFacts } from '../../../core/host-facts.js';
import type { SinkWrite } from '../../event-log.js';
import type { SinkConfig } from '../config.js';
import type { Priority } from './priority.js';

/** What the thread is started with. */
export interface ThreadInit {
  /** The event log's SQLite file (opened read-only in the thread). */
  file: string;
  /** Validated sink configurations (central/sinks/config.ts). */
  configs: SinkConfig[];
  /** Every node's host facts central holds now. */
  hosts: [string, HostFacts][];
  version: string;
  /** Central's log level: the thread does not even format lines below it. */
  logLevel: string;
  /** Events the shared reads keep decoded, in stored bytes (shared-reads.ts). */
  cacheBytes: number;
}

/** One metric family as prom-client's getMetricsAsJSON gives it (plain data: it crosses threads). */
export interface FamilySnapshot {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];
}

/** Every metric family of the thread's registry. */
export type MetricSnapshot = FamilySnapshot[];

export type ToThread =
  /** Events were stored: every sink reads on from its cursor. */
  | { t: 'stored' }
  /** A node's host facts changed (its agent's Hello). */
  | { t: 'host'; node: string; facts: HostFacts }
  /** The write `id` is durable (or failed, saying why). */
  | { t: 'written'; id: number; error?: string }
  /** Send the metrics now, answering with this id. */
  | { t: 'metrics'; id: number }
  /** Stop every sink within the deadline, then answer `stopped`. */
  | { t: 'stop'; deadlineMs: number };

export type FromThread =
  /** Every sink is created and started; `cursors` are their cursors' names (retention keeps what they have not passed). */
  | { t: 'ready'; cursors: string[]; metrics: MetricSnapshot; priority: Priority; tid: number }
  /** A sink could not be created or started: central refuses to start (at start) or tries again later. */
  | { t: 'failed'; code: ErrorCode; message: string }
  /** Bookkeeping to write in central's next commit; answered by `written`. */
  | { t: 'write'; id: number; writes: SinkWrite[] }
  /** One pino line of a sink (JSON), for central's logger. */
  | { t: 'log'; line: string }
  | { t: 'metrics'; id: number; metrics: MetricSnapshot }
  | { t: 'stopped' };
