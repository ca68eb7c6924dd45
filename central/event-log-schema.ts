// The event log's SQLite schema and its migrations, applied once when the log opens. Contract:
// after `prepareSchema` every table, column and index event-log.ts uses exists, and a database
// written by an older central holds the same data in the new shape (nothing is lost or re-encoded).

import type Database from 'better-sqlite3';

/** FindingState values that make an event part of the findings table. */
export const FINDING_OPEN = 1;
export const FINDING_RESOLVED = 2;

const TABLES = `
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
    time_unix_nano INTEGER NOT NULL DEFAULT 0,
    UNIQUE (agent_id, seq)
  );
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
  CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  -- Events a sink's receiver refused for good, with its reason: kept apart from the log so
  -- retention never decides their fate, listed by nodewarden events --dead-letter.
  CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    event_rowid INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (sink, event_rowid)
  );
  -- The latest host facts each node's agent sent with its Hello (JSON).
  CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY,
    facts TEXT NOT NULL,
    seen INTEGER NOT NULL
  );
`;

// The latest event of each (node, fingerprint) that carries a state, with its own copy of the
// bytes: age retention may delete the event row while the finding is still open.
const FINDINGS = `
  CREATE TABLE findings (
    node TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    event_rowid INTEGER NOT NULL,
    state INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    source INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    time_unix_nano INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (node, fingerprint)
  );
`;

// Time leads every composite index: Events asks for the newest N matching, in time order.
// Severity, source, state and rule ids are filtered while walking the time index: every index
// is written by every insert, and ingest pays for each (rule and fingerprint indexes, which no
// query needed — open findings have their own table — were dropped for that reason).
const INDEXES = `
  DROP INDEX IF EXISTS events_rule;
  DROP INDEX IF EXISTS events_fingerprint;
  CREATE INDEX IF NOT EXISTS events_time ON events (time_unix_nano);
  CREATE INDEX IF NOT EXISTS events_node_time ON events (node, time_unix_nano);
  CREATE INDEX IF NOT EXISTS events_namespace_time ON events (namespace, time_unix_nano);
  CREATE INDEX IF NOT EXISTS findings_state_time ON findings (state, time_unix_nano);
`;

/**
 * The upsert that keeps one row per (node, fingerprint): a later event replaces an earlier one;
 * an event older than the one held (a late resend from a previous agent identity) does not.
 */
export const FINDINGS_UPSERT_TAIL = `
  ON CONFLICT (node, fingerprint) DO UPDATE SET
    event_rowid = excluded.event_rowid, state = excluded.state, severity = excluded.severity,
    source = excluded.source, rule_id = excluded.rule_id, namespace = excluded.namespace,
    time_unix_nano = excluded.time_unix_nano, body = excluded.body
  WHERE excluded.time_unix_nano >= findings.time_unix_nano`;

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (db.prepare(`SELECT name FROM pragma_table_info('${table}')`).all() as { name: string }[]).some((c) => c.name === column);
}

/**
 * Create or migrate the schema. Must run before anything else touches the database: on a new
 * file it turns on incremental auto-vacuum, which SQLite accepts only before the first table.
 */
export function prepareSchema(db: Database.Database): void {
  const fresh = (db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n === 0;
  // INCREMENTAL: space freed by retention goes back to the file system with incremental_vacuum,
  // in small steps, instead of a full VACUUM that rewrites the whole log.
  if (fresh) db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.transaction(() => {
    const hadEvents = hasTable(db, 'events');
    db.exec(TABLES);
    // Logs written before events had an integer time: fill it from the text column once.
    if (hadEvents && !hasColumn(db, 'events', 'time_unix_nano')) {
      db.exec('ALTER TABLE events ADD COLUMN time_unix_nano INTEGER NOT NULL DEFAULT 0');
      db.exec('UPDATE events SET time_unix_nano = CAST(time_ns AS INTEGER)');
    }
    const hadFindings = hasTable(db, 'findings');
    if (!hadFindings) db.exec(FINDINGS);
    db.exec(INDEXES);
    if (!hadFindings && hadEvents) {
      // Walk in event time order so the upsert leaves each fingerprint's latest state.
      db.exec(`INSERT INTO findings
        (node, fingerprint, event_rowid, state, severity, source, rule_id, namespace, time_unix_nano, body)
        SELECT node, fingerprint, rowid, state, severity, source, rule_id, namespace, time_unix_nano, body
        FROM events WHERE state IN (${FINDING_OPEN}, ${FINDING_RESOLVED}) AND fingerprint != ''
        ORDER BY time_unix_nano, rowid ${FINDINGS_UPSERT_TAIL}`);
    }
  })();
}
