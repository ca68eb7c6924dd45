// Central's event log in SQLite (WAL, synchronous=FULL): each (agent id, sequence) is stored
// once; batches are stored in transactions (many agents' batches in one, see group-commit.ts), and
// central acknowledges a batch only after its transaction commits. Sinks and
// the feed read from here by rowid, each with its own durable cursor (table `cursors`); the
// Query service reads by event time and filters; `findings` holds each fingerprint's latest state.
// Retention (retention.ts) prunes through the methods at the end; the schema lives in
// event-log-schema.ts. The sink thread (central/sinks/worker/) opens a second, read-only
// connection (WAL lets it read while ingest writes); its cursor moves and dead letters are
// written here, by the one writer, inside ingest's group commit (applySinkWrites).

import Database from 'better-sqlite3';
import Long from 'long';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { nodewarden } from '../gen/nodewarden.js';
import { NwError, describeError } from '../core/errors.js';
import { ReceivedEvent } from './received-event.js';
import { FINDINGS_UPSERT_TAIL, FINDING_OPEN, FINDING_RESOLVED, prepareSchema } from './event-log-schema.js';

const pb = nodewarden.v1;

/** The agent id under which central stores the events it creates itself. */
export const CENTRAL_AGENT_ID = 'central';
export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;

/** An event on its way in: its bytes as received (stored as they are) and its header. */
export type IncomingEvent = ReceivedEvent;

export interface StoredRow {
  rowid: number;
  body: Buffer;
}

export interface StoreItem {
  agentId: string;
  node: string;
  events: IncomingEvent[];
}

export interface StoreResult {
  accepted: IncomingEvent[];
  duplicates: number;
  storedThrough: number;
}

export interface EventQuery {
  agentId?: string;
  ruleId?: string;
  fingerprint?: string;
  minSeverity?: number;
  source?: number;
  namespace?: string;
  afterRowid?: number;
  limit?: number;
  /** Newest first (default oldest first). */
  newest?: boolean;
}

/** Filters shared by events() and openFindings(); empty lists and 0 mean "any". */
export interface FindingsQuery {
  nodes?: string[];
  /** At or above this severity. */
  minSeverity?: number;
  sources?: number[];
  /** Exact ids; one ending in '*' matches every id starting with what precedes it. */
  ruleIds?: string[];
  namespaces?: string[];
  /** The newest N matching are returned, oldest first. Default 1000, at most 10,000. */
  limit?: number;
}

export interface EventsQuery extends FindingsQuery {
  /** Event time bounds in Unix nanoseconds, both included; 0n or undefined: unbounded. */
  sinceNs?: bigint;
  untilNs?: bigint;
  /** A FindingState; 0 or undefined: any. */
  state?: number;
}

/** An event a sink's receiver refused for good, and why. */
export interface DeadLetterRow {
  rowid: number;
  body: Buffer;
  reason: string;
}

/**
 * A sink's bookkeeping, written by central for the sink thread: a cursor moved (after delivery)
 * or events dead-lettered. Applied in order, all of one call or none.
 */
export type SinkWrite =
  | { kind: 'cursor'; name: string; rowid: number; position: number }
  | { kind: 'dead-letters'; sink: string; rows: DeadLetterRow[] };

export interface EventLogOptions {
  /**
   * A reader's connection (the sink thread's): the file must exist, its schema is left alone,
   * and every write fails. Central's own connection is the log's only writer.
   */
  readOnly?: boolean;
  /**
   * Write-ahead log pages past which a commit of this connection checkpoints (SQLite's
   * wal_autocheckpoint; its default 1,000). Central raises it to a safety limit when its
   * checkpoint thread does the work (central/checkpoint/).
   */
  autocheckpointPages?: number;
}

/** An event deleted by retention: where it was and when it happened. */
export interface PrunedRow {
  rowid: number;
  timeNs: bigint;
}

const clean = (values: readonly string[] | undefined): string[] => (values ?? []).map((v) => v.trim()).filter(Boolean);
const escapeGlob = (s: string): string => s.replace(/[*?[]/g, '[$&]');
const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** WHERE terms for the columns events and findings share. */
function filterTerms(q: EventsQuery): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.sinceNs) { where.push('time_unix_nano >= ?'); args.push(q.sinceNs); }
  if (q.untilNs) { where.push('time_unix_nano <= ?'); args.push(q.untilNs); }
  if (q.minSeverity) { where.push('severity >= ?'); args.push(q.minSeverity); }
  if (q.state) { where.push('state = ?'); args.push(q.state); }
  const sources = q.sources ?? [];
  if (sources.length) { where.push(`source IN (${placeholders(sources.length)})`); args.push(...sources); }
  for (const [column, values] of [['node', clean(q.nodes)], ['namespace', clean(q.namespaces)]] as const) {
    if (values.length) { where.push(`${column} IN (${placeholders(values.length)})`); args.push(...values); }
  }
  const rules = clean(q.ruleIds);
  if (rules.length) {
    // GLOB, not LIKE: rule ids compare case-sensitively, as the feed's filter does.
    const exact = rules.filter((r) => !r.endsWith('*'));
    const prefixes = rules.filter((r) => r.endsWith('*')).map((r) => escapeGlob(r.slice(0, -1)) + '*');
    const any: string[] = [];
    if (exact.length) { any.push(`rule_id IN (${placeholders(exact.length)})`); args.push(...exact); }
    for (const p of prefixes) { any.push('rule_id GLOB ?'); args.push(p); }
    where.push(`(${any.join(' OR ')})`);
  }
  return { where, args };
}

function clampLimit(limit: number | undefined): number {
  const n = Math.trunc(limit ?? 0);
  return n > 0 ? Math.min(n, MAX_QUERY_LIMIT) : DEFAULT_QUERY_LIMIT;
}

export class EventLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly upsertFinding: Database.Statement;
  private readonly upsertAgent: Database.Statement;
  private readonly getAgent: Database.Statement;
  private readonly storeTx: (agentId: string, node: string, events: IncomingEvent[]) => StoreResult;
  private readonly appendTx: (ev: nodewarden.v1.IEvent) => IncomingEvent;
  private readonly storeManyTx: (items: StoreItem[], alongside?: () => void) => (StoreResult | Error)[];
  private readonly probeTx: () => void;
  private readonly readAfter: Database.Statement;
  private readonly upsertCursor: Database.Statement;
  private readonly insertDeadLetter: Database.Statement;
  private readonly sinkWritesTx: (writes: SinkWrite[]) => void;

  constructor(private readonly file: string, opts: EventLogOptions = {}) {
    if (file !== ':memory:' && !opts.readOnly) mkdirSync(path.dirname(file), { recursive: true });
    try {
      if (opts.readOnly) {
        this.db = new Database(file, { readonly: true, fileMustExist: true });
      } else {
        this.db = new Database(file);
        prepareSchema(this.db);
      }
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `cannot open the event log ${file}${opts.readOnly ? ' to read' : ''}: ${describeError(err)}`, { cause: err });
    }
    // FULL: a commit survives power loss, which is what an acknowledgement promises.
    if (!opts.readOnly) this.db.pragma('synchronous = FULL');
    if (!opts.readOnly && opts.autocheckpointPages !== undefined) this.db.pragma(`wal_autocheckpoint = ${Math.max(0, Math.trunc(opts.autocheckpointPages))}`);
    // 32 MiB of page cache (SQLite's default is 2 MiB): the indexes of a busy log stay in memory
    // instead of being read back for every insert.
    this.db.pragma('cache_size = -32768');
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO events
      (agent_id, seq, time_ns, time_unix_nano, node, source, rule_id, severity, fingerprint, state, namespace, body, stored_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.upsertFinding = this.db.prepare(`INSERT INTO findings
      (node, fingerprint, event_rowid, state, severity, source, rule_id, namespace, time_unix_nano, body)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ${FINDINGS_UPSERT_TAIL}`);
    this.upsertAgent = this.db.prepare(`INSERT INTO agents (agent_id, node, stored_through, last_seen) VALUES (?, ?, ?, ?)
      ON CONFLICT (agent_id) DO UPDATE SET node = excluded.node,
        stored_through = max(agents.stored_through, excluded.stored_through), last_seen = excluded.last_seen`);
    this.getAgent = this.db.prepare('SELECT stored_through FROM agents WHERE agent_id = ?');
    const boundNode = this.db.prepare('SELECT node FROM agents WHERE agent_id = ?').pluck();
    this.storeTx = this.db.transaction((agentId: string, node: string, events: IncomingEvent[]) => {
      // An agent id belongs to the node it was first stored for; checked here too, inside the
      // transaction, because two streams may pass ingest's check before either stored anything.
      const bound = boundNode.get(agentId) as string | undefined;
      // Central's own events carry whichever host central runs on today.
      if (bound !== undefined && bound !== node && agentId !== CENTRAL_AGENT_ID) throw new NwError('NW_ERR_STORE', `agent ${agentId} belongs to node ${bound}, not ${node}`);
      const now = Date.now();
      const accepted: IncomingEvent[] = [];
      let duplicates = 0;
      let highest = this.storedThrough(agentId);
      for (const inc of events) {
        const e = inc.header;
        const seq = e.sequence;
        const time = e.timeUnixNano;
        const namespace = e.namespace;
        const info = this.insert.run(agentId, seq, String(time), time, e.node, e.source, e.ruleId, e.severity,
          e.fingerprint, e.state, namespace, inc.bytes, now);
        if (info.changes === 1) {
          accepted.push(inc);
          // Same transaction: the findings table never disagrees with the events stored.
          if ((e.state === FINDING_OPEN || e.state === FINDING_RESOLVED) && e.fingerprint) {
            this.upsertFinding.run(e.node, e.fingerprint, info.lastInsertRowid, e.state, e.severity, e.source, e.ruleId, namespace, time, inc.bytes);
          }
        } else duplicates++;
        if (seq > highest) highest = seq;
      }
      this.upsertAgent.run(agentId, node, highest, now);
      return { accepted, duplicates, storedThrough: highest };
    });
    // Group commit: many agents' batches in one transaction, so one fsync acknowledges them all.
    // Each batch is its own savepoint: one that fails is rolled back alone and reported alone.
    // After one batch of an agent fails, its later batches in the group fail too: storing them
    // would move stored_through past events that are not stored, and the agent would forget them.
    this.storeManyTx = this.db.transaction((items: StoreItem[], alongside?: () => void) => {
      const failed = new Set<string>();
      const results = items.map((it) => {
        if (failed.has(it.agentId)) return new NwError('NW_ERR_STORE', `an earlier batch of ${it.agentId} in the same commit failed`);
        try {
          return this.storeTx(it.agentId, it.node, it.events);
        } catch (err) {
          failed.add(it.agentId);
          return new NwError('NW_ERR_STORE', `storing ${it.events.length} events of ${it.agentId} failed: ${describeError(err)}`, { cause: err });
        }
      });
      alongside?.();
      return results;
    });
    this.readAfter = this.db.prepare('SELECT rowid, body FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?');
    this.upsertCursor = this.db.prepare('INSERT INTO cursors (name, rowid, position) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET rowid = excluded.rowid, position = excluded.position');
    this.insertDeadLetter = this.db.prepare('INSERT OR IGNORE INTO dead_letters (sink, event_rowid, reason, at, body) VALUES (?, ?, ?, ?, ?)');
    // Inside a group commit this is a savepoint: a write that fails is undone alone, with the
    // rest of its call (dead letters never land without the cursor move that follows them).
    this.sinkWritesTx = this.db.transaction((writes: SinkWrite[]) => {
      const now = Date.now();
      for (const w of writes) {
        if (w.kind === 'cursor') this.upsertCursor.run(w.name, w.rowid, w.position);
        else for (const r of w.rows) this.insertDeadLetter.run(w.sink, r.rowid, r.reason.slice(0, 2048), now, r.body);
      }
    });
    this.appendTx = this.db.transaction((ev: nodewarden.v1.IEvent) => {
      const seq = this.storedThrough(CENTRAL_AGENT_ID) + 1;
      const event = pb.Event.create({
        ...ev,
        id: `${CENTRAL_AGENT_ID}/${seq}`,
        agentId: CENTRAL_AGENT_ID,
        sequence: Long.fromNumber(seq, true),
        node: ev.node || CENTRAL_AGENT_ID,
        source: ev.source || pb.Source.SOURCE_CENTRAL,
        timeUnixNano: ev.timeUnixNano ?? Long.fromNumber(Date.now()).multiply(1_000_000),
        count: ev.count || 1,
      });
      const inc = ReceivedEvent.fromEvent(event);
      this.storeTx(CENTRAL_AGENT_ID, event.node, [inc]);
      return inc;
    });
    const probe = this.db.prepare("INSERT INTO meta (key, value) VALUES ('write_probe', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.probeTx = this.db.transaction(() => {
      probe.run(String(Date.now()));
    }).immediate;
  }

  /** Store a batch from one agent in one transaction. Returns what was new. */
  store(agentId: string, node: string, events: IncomingEvent[]): StoreResult {
    try {
      return this.storeTx(agentId, node, events);
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `storing ${events.length} events of ${agentId} failed: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Store several agents' batches in one transaction (one commit, one fsync). Returns, in order,
   * each batch's result or the error that rolled that batch back; throws only when the commit
   * itself failed, in which case nothing of any batch is stored. `alongside` runs inside the
   * same transaction after the batches (the sinks' bookkeeping: no fsync of its own) and must
   * catch its own errors.
   */
  storeMany(items: StoreItem[], alongside?: () => void): (StoreResult | Error)[] {
    try {
      return this.storeManyTx(items, alongside);
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `committing ${items.length} batches failed: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Store an event central created about itself, under agent id `central` with the next
   * sequence (source SOURCE_CENTRAL unless given). Returns it as stored, for the feed and sinks.
   */
  appendCentralEvent(ev: nodewarden.v1.IEvent): IncomingEvent {
    try {
      return this.appendTx(ev);
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `storing central's own event ${ev.ruleId ?? ''} failed: ${describeError(err)}`, { cause: err });
    }
  }

  /** The node an agent id was first stored for (undefined when central never heard of it). */
  agentNode(agentId: string): string | undefined {
    const row = this.db.prepare('SELECT node FROM agents WHERE agent_id = ?').get(agentId) as { node: string } | undefined;
    return row?.node;
  }

  /** Highest sequence of this agent held (0 when none). */
  storedThrough(agentId: string): number {
    const row = this.getAgent.get(agentId) as { stored_through: number } | undefined;
    return row?.stored_through ?? 0;
  }

  /** By rowid (storage order): what sinks and the feed's replay read. */
  query(q: EventQuery = {}): StoredRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.agentId) { where.push('agent_id = ?'); args.push(q.agentId); }
    if (q.ruleId) { where.push('rule_id = ?'); args.push(q.ruleId); }
    if (q.fingerprint) { where.push('fingerprint = ?'); args.push(q.fingerprint); }
    if (q.minSeverity) { where.push('severity >= ?'); args.push(q.minSeverity); }
    if (q.source) { where.push('source = ?'); args.push(q.source); }
    if (q.namespace) { where.push('namespace = ?'); args.push(q.namespace); }
    if (q.afterRowid !== undefined) { where.push('rowid > ?'); args.push(q.afterRowid); }
    const sql = `SELECT rowid, body FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY rowid ${q.newest ? 'DESC' : 'ASC'} LIMIT ?`;
    args.push(q.limit ?? 1000);
    return this.db.prepare(sql).all(...args) as StoredRow[];
  }

  /** By event time: the newest `limit` events matching, returned oldest first. */
  events(q: EventsQuery = {}): StoredRow[] {
    const { where, args } = filterTerms(q);
    const sql = `SELECT rowid, body FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY time_unix_nano DESC, rowid DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as StoredRow[]).reverse();
  }

  /**
   * The findings open now: each (node, fingerprint) whose latest event is OPEN, as that event
   * (rowid is the event's, which retention may since have deleted). Newest `limit`, oldest first.
   */
  openFindings(q: FindingsQuery = {}): StoredRow[] {
    const { where, args } = filterTerms({ ...q, state: FINDING_OPEN });
    const sql = `SELECT event_rowid AS rowid, body FROM findings WHERE ${where.join(' AND ')}
      ORDER BY time_unix_nano DESC, event_rowid DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, clampLimit(q.limit)) as StoredRow[]).reverse();
  }

  /**
   * Every finding open right now at or above a severity, however many (Alertmanager re-sends
   * them all: one left out would be resolved by Alertmanager on its own).
   */
  allOpenFindings(minSeverity = 0): StoredRow[] {
    return this.db.prepare(`SELECT event_rowid AS rowid, body FROM findings WHERE state = ? AND severity >= ? ORDER BY event_rowid`)
      .all(FINDING_OPEN, minSeverity) as StoredRow[];
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  /** Bytes the log's pages hold: what retention's byte cap measures (free pages not counted). */
  sizeBytes(): number {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * (this.db.pragma('page_size', { simple: true }) as number);
  }

  /** Keep events a sink's receiver refused for good (once per sink and event). */
  deadLetter(sink: string, rows: DeadLetterRow[]): void {
    this.sinkWritesTx([{ kind: 'dead-letters', sink, rows }]);
  }

  /**
   * Apply sink bookkeeping in order, all or nothing (a savepoint when called inside a
   * transaction, e.g. from storeMany's `alongside`).
   */
  applySinkWrites(writes: SinkWrite[]): void {
    this.sinkWritesTx(writes);
  }

  /** Dead letters, newest first, optionally of one sink. */
  deadLetters(q: { sink?: string; limit?: number } = {}): { sink: string; rowid: number; reason: string; at: number; body: Buffer }[] {
    const limit = Math.min(Math.max(q.limit || DEFAULT_QUERY_LIMIT, 1), MAX_QUERY_LIMIT);
    const sql = `SELECT sink, event_rowid AS rowid, reason, at, body FROM dead_letters ${q.sink ? 'WHERE sink = ?' : ''} ORDER BY id DESC LIMIT ?`;
    const args: unknown[] = q.sink ? [q.sink, limit] : [limit];
    return this.db.prepare(sql).all(...args) as { sink: string; rowid: number; reason: string; at: number; body: Buffer }[];
  }

  /** The newest stored event's rowid and when it was stored. */
  head(): { rowid: number; storedAt: number } {
    const row = this.db.prepare('SELECT rowid, stored_at AS storedAt FROM events ORDER BY rowid DESC LIMIT 1').get() as { rowid: number; storedAt: number } | undefined;
    return row ?? { rowid: 0, storedAt: 0 };
  }

  storedAt(rowid: number): number | undefined {
    const row = this.db.prepare('SELECT stored_at AS storedAt FROM events WHERE rowid = ?').get(rowid) as { storedAt: number } | undefined;
    return row?.storedAt;
  }

  /** Up to `limit` events after `afterRowid`, oldest first (the sinks' read). */
  read(afterRowid: number, limit: number): StoredRow[] {
    return this.readAfter.all(afterRowid, limit) as StoredRow[];
  }

  /** Remember a node's host facts (JSON) from its agent's Hello. */
  setNodeFacts(node: string, factsJson: string): void {
    this.db.prepare('INSERT INTO nodes (node, facts, seen) VALUES (?, ?, ?) ON CONFLICT (node) DO UPDATE SET facts = excluded.facts, seen = excluded.seen')
      .run(node, factsJson, Date.now());
  }

  /** Every node's host facts (JSON), for central's node inventory. */
  nodeFacts(): { node: string; facts: string }[] {
    return this.db.prepare('SELECT node, facts FROM nodes').all() as { node: string; facts: string }[];
  }

  /** One node's host facts (JSON), when central has them. */
  factsOf(node: string): string | undefined {
    return (this.db.prepare('SELECT facts FROM nodes WHERE node = ?').pluck().get(node) as string | undefined);
  }

  /** A sink's cursor; `known` is false when the sink never recorded one. */
  getCursor(name: string): { rowid: number; position: number; known: boolean } {
    const row = this.db.prepare('SELECT rowid, position FROM cursors WHERE name = ?').get(name) as { rowid: number; position: number } | undefined;
    return row ? { ...row, known: true } : { rowid: 0, position: 0, known: false };
  }

  setCursor(name: string, rowid: number, position: number): void {
    this.sinkWritesTx([{ kind: 'cursor', name, rowid, position }]);
  }

  /**
   * Null when the log takes writes; otherwise a sentence saying why not. A real write (BEGIN
   * IMMEDIATE, one row of `meta`, COMMIT), so a full disk, a read-only file or a lock held by
   * another process all show here, not only at the next ingest.
   */
  writableProblem(): string | null {
    if (!this.db.open) return `The event log ${this.file} is closed.`;
    // The probe runs on the event loop (a readiness check): wait for another writer's lock
    // briefly, not for the 5 s ingest waits.
    const timeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 250');
    try {
      this.probeTx();
      return null;
    } catch (err) {
      return `The event log ${this.file} cannot be written: ${describeError(err)}.`;
    } finally {
      this.db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  // ---- retention (one bounded transaction per call; the caller yields between calls) ----

  /** Delete up to `limit` events older than `cutoffNs` whose rowid is at most `deliveredThrough`. */
  pruneOlderThan(cutoffNs: bigint, deliveredThrough: number, limit: number): number {
    return this.db.prepare(`DELETE FROM events WHERE rowid IN
      (SELECT rowid FROM events WHERE time_unix_nano < ? AND rowid <= ? LIMIT ?)`).run(cutoffNs, deliveredThrough, limit).changes;
  }

  /** Delete the `limit` oldest stored events (by rowid); returns what was deleted, oldest first. */
  pruneOldest(limit: number): PrunedRow[] {
    const rows = this.db.prepare(`DELETE FROM events WHERE rowid IN
      (SELECT rowid FROM events ORDER BY rowid LIMIT ?) RETURNING rowid, time_unix_nano`)
      .safeIntegers(true).all(limit) as { rowid: bigint; time_unix_nano: bigint }[];
    return rows.map((r) => ({ rowid: Number(r.rowid), timeNs: r.time_unix_nano })).sort((a, b) => a.rowid - b.rowid);
  }

  /** Delete up to `limit` resolved findings older than `cutoffNs`; open ones stay whatever their age. */
  pruneResolvedFindings(cutoffNs: bigint, limit: number): number {
    return this.db.prepare(`DELETE FROM findings WHERE rowid IN
      (SELECT rowid FROM findings WHERE state = ? AND time_unix_nano < ? LIMIT ?)`).run(FINDING_RESOLVED, cutoffNs, limit).changes;
  }

  /** Hand up to `pages` free pages back to the file system; returns how many free pages remain. */
  incrementalVacuum(pages: number): number {
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.trunc(pages))})`);
    return this.db.pragma('freelist_count', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
