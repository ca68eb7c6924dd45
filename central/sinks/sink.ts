// What every sink is and what sink types provide. A sink delivers stored events somewhere (a
// file, a SIEM, Alertmanager), reading the event log from its own durable cursor, so a sink that
// is down or slow never holds up ingest or another sink, and resumes where it stopped.
//
// A sink type is a factory (type name, zod schema with defaults, create) in the registry
// (central/sinks/index.ts). Network sinks give the framework a Transport and nothing else: the
// send chain (central/sinks/chain/) batches, filters, retries with backoff and jitter (honouring
// Retry-After), times out, dead-letters what a receiver rejects for good, and moves the cursor.
// Every sink runs in central's sink thread (central/sinks/worker/), never on ingest's event loop.

import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import type { z } from 'zod';
import type { nodewarden } from '../../gen/nodewarden.js';
import type { HostFacts } from '../../core/host-facts.js';
import type { DeadLetterRow } from '../event-log.js';

export interface Sink {
  /** The configured name (metrics' `sink` label). */
  readonly name: string;
  /** The cursor's name in the log, when it is not `name` (file sinks: their type and file). */
  readonly cursorName?: string;
  /** The cursor's position now (for lag metrics). */
  readonly cursor?: number;
  start(): Promise<void>;
  /** New events were stored: deliver them when ready. */
  notify(): void;
  stop(deadlineMs?: number): Promise<void>;
}

/** One stored event on its way out, with what central knows about its node. */
export interface SinkEvent {
  /** Its position in the event log (the cursor's unit). */
  rowid: number;
  event: nodewarden.v1.Event;
  /** The event's protobuf bytes, as stored. */
  bytes: Buffer;
  /** The node's host facts from its agent's Hello, when central has them. */
  host?: HostFacts;
}

/** What a receiver made of one event (or of a whole batch). Transports never throw for answers. */
export type Outcome =
  | { kind: 'ok' }
  /**
   * Try again (after `afterMs` when the receiver said, e.g. Retry-After). `split`: the receiver
   * refused the batch for something in it without saying which event: send them one at a time,
   * so the one it refuses alone is dead-lettered and the others go through.
   */
  | { kind: 'retry'; reason: string; afterMs?: number; split?: boolean }
  /** Never try again: the event goes to the dead-letter table with the reason. */
  | { kind: 'permanent'; reason: string };

/** A batch's result: one outcome for all, or one per event in order (Elasticsearch _bulk). */
export type SendResult = Outcome | { kind: 'items'; items: Outcome[] };

export interface Transport {
  /** Deliver one batch. `signal` aborts at the chain's timeout (then the batch is retried). */
  send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}

/** What a network sink type builds: its transport, and how it likes its batches. */
export interface SinkDriver {
  transport: Transport;
  /** Events per batch (default: the sink's batch.maxEvents). */
  maxBatch?: number;
  /**
   * Sends that do not come from the cursor, made on a timer through the same chain (retries,
   * metrics) without moving the cursor or dead-lettering: Alertmanager's re-sending of every
   * open finding so that it never times one out.
   */
  periodic?: { everyMs: number; events(): SinkEvent[] };
  /**
   * Where a sink without a cursor begins: the oldest event held (default: a receiver added later
   * misses nothing) or the newest (Alertmanager: paging on-call for last week's detections helps
   * nobody, and the open findings reach it through `periodic` anyway).
   */
  startAt?: 'oldest' | 'newest';
}

/** Reads a secret named in configuration: `{ file: PATH }` or `{ env: NAME }`, never inline. */
export type SecretRef = { file: string } | { env: string };

export interface SinkContext {
  /** The sink's configured name (its cursor and its metrics' `sink` label). */
  name: string;
  logger: Logger;
  registry: Registry;
  /** The secret's value, read now (files are re-read on every call: rotation needs no restart). */
  secret(ref: SecretRef): string;
  /** nodewarden's version, for formats that name their product version. */
  version: string;
  /** The findings open right now at or above a severity (Alertmanager re-sends them). */
  openFindings(minSeverity: number): SinkEvent[];
  /** The event log as sinks read it (file sinks keep their own position with the cursor). */
  log: SinkSource;
  /** nodewarden_sink_events_delivered_total{sink}. */
  delivered: Counter<'sink'>;
  /** A node's host facts, when central has them. */
  host(node: string): HostFacts | undefined;
}

/** A stored event as a sink reads it. */
export interface SourceRow {
  rowid: number;
  body: Buffer;
  /**
   * The event decoded, when the source decodes once for every sink (the sink thread's shared
   * reads): shared between sinks, so never to be changed. Absent: the sink decodes `body`.
   */
  event?: nodewarden.v1.Event;
}

/**
 * Where sinks read events and keep their cursors. The SQLite event log implements it today; a
 * distributed log (NATS JetStream durable consumers) can implement it without touching a sink.
 */
export interface SinkSource {
  /** Up to `limit` events after `afterRowid`, oldest first. */
  read(afterRowid: number, limit: number): SourceRow[];
  /** The sink's cursor; `known` is false when it never recorded one. `position` is the sink's own (a file offset). */
  getCursor(name: string): { rowid: number; position: number; known: boolean };
  /**
   * Move the cursor: durable when this returns (the event log in the same thread) or resolves
   * (the sink thread: central writes it in its next commit). Rejects, or throws, when it is not.
   */
  setCursor(name: string, rowid: number, position: number): void | Promise<void>;
  /** The newest stored event's position and its storage time (ms), for lag. */
  head(): { rowid: number; storedAt: number };
  /** When the event at `rowid` was stored (ms), for lag in seconds; undefined when gone. */
  storedAt(rowid: number): number | undefined;
  /** Keep events a receiver refused for good, with the reason; durable as setCursor is. */
  deadLetter(sink: string, rows: DeadLetterRow[]): void | Promise<void>;
}

export interface SinkFactory<C = unknown> {
  type: string;
  /** The type's own keys; the common ones (name, type, filter, batch, retry, timeoutMs) are added. */
  schema: z.ZodType<C>;
  /** A network sink returns a driver for the send chain; a file sink returns a whole Sink. */
  create(config: C & CommonSinkConfig, ctx: SinkContext): SinkDriver | Sink;
}

export interface SinkFilter {
  minSeverity?: string;
  sources?: string[];
  namespaces?: string[];
  rules?: string[];
}

/** Keys every sink has (validated in central/sinks/config.ts). */
export interface CommonSinkConfig {
  name: string;
  type: string;
  enabled: boolean;
  filter: SinkFilter;
  batch: { maxEvents: number };
  retry: { initialMs: number; maxMs: number };
  timeoutMs: number;
}
