// Central's event log in SQLite (WAL, synchronous=FULL): each (agent id, sequence) is stored
// once; a batch is one transaction, and central acknowledges only after it commits. Sinks and
// the feed read from here by rowid, each with its own durable cursor (table `cursors`).

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { WireEvent } from '../core/event.js';
import { NwError } from '../core/errors.js';

export interface IncomingEvent {
  event: WireEvent;
  /** The event's encoded bytes as received: stored as is, never re-encoded. */
  bytes: Buffer;
}

export interface StoredRow {
  rowid: number;
  body: Buffer;
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

export class EventLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly upsertAgent: Database.Statement;
  private readonly getAgent: Database.Statement;
  private readonly storeTx: (agentId: string, node: string, events: IncomingEvent[]) => StoreResult;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `cannot open the event log ${file}: ${(err as Error).message}`, { cause: err });
    }
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit survives power loss, which is what an acknowledgement promises.
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        rowid INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        time_ns TEXT NOT NULL,
        node TEXT NOT NULL,
        source INTEGER NOT NULL,
        rule_id TEXT NOT NULL,
        severity INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        state INTEGER NOT NULL,
        namespace TEXT NOT NULL,
        body BLOB NOT NULL,
        stored_at INTEGER NOT NULL,
        UNIQUE (agent_id, seq)
      );
      CREATE INDEX IF NOT EXISTS events_rule ON events (rule_id);
      CREATE INDEX IF NOT EXISTS events_fingerprint ON events (fingerprint);
      CREATE TABLE IF NOT EXISTS agents (
        agent_id TEXT PRIMARY KEY,
        node TEXT NOT NULL,
        stored_through INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS cursors (
        name TEXT PRIMARY KEY,
        rowid INTEGER NOT NULL,
        position INTEGER NOT NULL
      );
    `);
    this.insert = this.db.prepare(`INSERT OR IGNORE INTO events
      (agent_id, seq, time_ns, node, source, rule_id, severity, fingerprint, state, namespace, body, stored_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.upsertAgent = this.db.prepare(`INSERT INTO agents (agent_id, node, stored_through, last_seen) VALUES (?, ?, ?, ?)
      ON CONFLICT (agent_id) DO UPDATE SET node = excluded.node,
        stored_through = max(agents.stored_through, excluded.stored_through), last_seen = excluded.last_seen`);
    this.getAgent = this.db.prepare('SELECT stored_through FROM agents WHERE agent_id = ?');
    this.storeTx = this.db.transaction((agentId: string, node: string, events: IncomingEvent[]) => {
      const now = Date.now();
      const accepted: IncomingEvent[] = [];
      let duplicates = 0;
      let highest = this.storedThrough(agentId);
      for (const inc of events) {
        const e = inc.event;
        const seq = Number(e.sequence);
        const info = this.insert.run(agentId, seq, String(e.timeUnixNano), e.node, e.source, e.ruleId, e.severity,
          e.fingerprint, e.state, e.kubernetes?.namespace ?? '', inc.bytes, now);
        if (info.changes === 1) accepted.push(inc);
        else duplicates++;
        if (seq > highest) highest = seq;
      }
      this.upsertAgent.run(agentId, node, highest, now);
      return { accepted, duplicates, storedThrough: highest };
    });
  }

  /** Store a batch from one agent in one transaction. Returns what was new. */
  store(agentId: string, node: string, events: IncomingEvent[]): StoreResult {
    try {
      return this.storeTx(agentId, node, events);
    } catch (err) {
      throw new NwError('NW_ERR_STORE', `storing ${events.length} events of ${agentId} failed: ${(err as Error).message}`, { cause: err });
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

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  /** A sink's cursor; `known` is false when the sink never recorded one. */
  getCursor(name: string): { rowid: number; position: number; known: boolean } {
    const row = this.db.prepare('SELECT rowid, position FROM cursors WHERE name = ?').get(name) as { rowid: number; position: number } | undefined;
    return row ? { ...row, known: true } : { rowid: 0, position: 0, known: false };
  }

  setCursor(name: string, rowid: number, position: number): void {
    this.db.prepare('INSERT INTO cursors (name, rowid, position) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET rowid = excluded.rowid, position = excluded.position')
      .run(name, rowid, position);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
