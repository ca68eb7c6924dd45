// The event log answers queries by event time and filters, keeps each fingerprint's latest
// state in the findings table, migrates logs written by an older central, measures its size,
// probes that it can be written, stores central's own events, and opens read-only for readers.
import t from 'tap';
import path from 'node:path';
import Database from 'better-sqlite3';
import Long from 'long';
import { EventLog, CENTRAL_AGENT_ID } from '../../central/event-log.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { decode, storeEvents, tempDirFor, tempLog, titles, type EventSpec } from '../helpers/event-log-fixtures.js';

const pb = nodewarden.v1;
const { SEVERITY_INFO, SEVERITY_LOW, SEVERITY_MEDIUM, SEVERITY_HIGH, SEVERITY_CRITICAL } = pb.Severity;
const { SOURCE_POSTURE, SOURCE_RUNTIME, SOURCE_PROCESS } = pb.Source;
const { FINDING_STATE_OPEN: OPEN, FINDING_STATE_RESOLVED: RESOLVED } = pb.FindingState;

const T0 = Date.parse('2025-05-01T00:00:00Z');
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

/** Six events a minute apart, stored out of time order, each different in every filtered field. */
const SIX: EventSpec[] = [
  { title: 'e3', timeMs: T0 + 3 * 60_000, node: 'node-b', severity: SEVERITY_HIGH, source: SOURCE_RUNTIME, ruleId: 'runtime-privileged', namespace: 'kube-system' },
  { title: 'e0', timeMs: T0, node: 'node-a', severity: SEVERITY_INFO, source: SOURCE_POSTURE, ruleId: 'cis-4.1.1', state: OPEN },
  { title: 'e1', timeMs: T0 + 60_000, node: 'node-a', severity: SEVERITY_LOW, source: SOURCE_POSTURE, ruleId: 'cis-4.2.1', state: RESOLVED },
  { title: 'e2', timeMs: T0 + 2 * 60_000, node: 'node-b', severity: SEVERITY_MEDIUM, source: SOURCE_PROCESS, ruleId: 'exec-shell-in-container', namespace: 'default' },
  { title: 'e5', timeMs: T0 + 5 * 60_000, node: 'node-c', severity: SEVERITY_CRITICAL, source: SOURCE_PROCESS, ruleId: 'exec-network-tool-in-container', namespace: 'kube-system' },
  { title: 'e4', timeMs: T0 + 4 * 60_000, node: 'node-a', severity: SEVERITY_HIGH, source: SOURCE_POSTURE, ruleId: 'CIS-4.1.2', state: OPEN },
];

function sixEvents(t: Parameters<typeof tempLog>[0]): EventLog {
  const { log } = tempLog(t, 'events');
  storeEvents(log, SIX);
  return log;
}

t.test('events() with no filter returns every event in event time order, not storage order', async (t) => {
  t.same(titles(sixEvents(t).events()), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
});

t.test('since keeps events at or after it', async (t) => {
  t.same(titles(sixEvents(t).events({ sinceNs: ns(T0 + 2 * 60_000) })), ['e2', 'e3', 'e4', 'e5']);
});

t.test('until keeps events at or before it', async (t) => {
  t.same(titles(sixEvents(t).events({ untilNs: ns(T0 + 60_000) })), ['e0', 'e1']);
});

t.test('since and until together keep the range between, both ends included', async (t) => {
  t.same(titles(sixEvents(t).events({ sinceNs: ns(T0 + 60_000), untilNs: ns(T0 + 3 * 60_000) })), ['e1', 'e2', 'e3']);
});

t.test('since and until compare to the nanosecond', async (t) => {
  const log = sixEvents(t);
  t.same(titles(log.events({ sinceNs: ns(T0 + 60_000) + 1n, untilNs: ns(T0 + 3 * 60_000) - 1n })), ['e2']);
});

t.test('nodes keeps the events of the named nodes', async (t) => {
  t.same(titles(sixEvents(t).events({ nodes: ['node-b', 'node-c'] })), ['e2', 'e3', 'e5']);
});

t.test('minSeverity keeps events at or above it', async (t) => {
  t.same(titles(sixEvents(t).events({ minSeverity: SEVERITY_HIGH })), ['e3', 'e4', 'e5']);
});

t.test('sources keeps events of the named sources', async (t) => {
  t.same(titles(sixEvents(t).events({ sources: [SOURCE_RUNTIME, SOURCE_PROCESS] })), ['e2', 'e3', 'e5']);
});

t.test('ruleIds matches exact ids', async (t) => {
  t.same(titles(sixEvents(t).events({ ruleIds: ['cis-4.2.1', 'runtime-privileged'] })), ['e1', 'e3']);
});

t.test('a rule id ending in * matches by prefix, case-sensitively', async (t) => {
  const log = sixEvents(t);
  t.same(titles(log.events({ ruleIds: ['exec-*'] })), ['e2', 'e5']);
  t.same(titles(log.events({ ruleIds: ['cis-4.*'] })), ['e0', 'e1'], 'CIS-4.1.2 differs in case');
  t.same(titles(log.events({ ruleIds: ['cis-4.1.1', 'runtime-*'] })), ['e0', 'e3'], 'exact ids and prefixes together');
});

t.test('glob characters in a rule prefix match only themselves', async (t) => {
  const { log } = tempLog(t, 'events');
  storeEvents(log, [{ title: 'star', ruleId: 'odd*rule' }, { title: 'plain', ruleId: 'oddXrule' }, { title: 'bracket', ruleId: 'odd[x]' }]);
  t.same(titles(log.events({ ruleIds: ['odd**'] })), ['star']);
  t.same(titles(log.events({ ruleIds: ['odd[*'] })), ['bracket']);
});

t.test('namespaces keeps events of the named namespaces', async (t) => {
  t.same(titles(sixEvents(t).events({ namespaces: ['kube-system'] })), ['e3', 'e5']);
});

t.test('state keeps finding events in that state', async (t) => {
  const log = sixEvents(t);
  t.same(titles(log.events({ state: OPEN })), ['e0', 'e4']);
  t.same(titles(log.events({ state: RESOLVED })), ['e1']);
});

t.test('filters combine: every one must hold', async (t) => {
  const log = sixEvents(t);
  t.same(titles(log.events({ nodes: ['node-a', 'node-b'], minSeverity: SEVERITY_LOW, sources: [SOURCE_POSTURE, SOURCE_RUNTIME] })), ['e1', 'e3', 'e4']);
  t.same(titles(log.events({ sinceNs: ns(T0 + 2 * 60_000), namespaces: ['kube-system'], ruleIds: ['exec-*'] })), ['e5']);
  t.same(titles(log.events({ nodes: ['node-a'], state: OPEN, minSeverity: SEVERITY_HIGH, ruleIds: ['CIS-*'] })), ['e4']);
  t.same(log.events({ nodes: ['node-c'], sources: [SOURCE_POSTURE] }), [], 'nothing when they exclude each other');
});

t.test('blank values in a list filter are ignored', async (t) => {
  t.same(titles(sixEvents(t).events({ nodes: [' ', ''], namespaces: [''] })), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
});

t.test('limit returns the newest N matching events, oldest first', async (t) => {
  const log = sixEvents(t);
  t.same(titles(log.events({ limit: 2 })), ['e4', 'e5']);
  t.same(titles(log.events({ limit: 2, nodes: ['node-a'] })), ['e1', 'e4']);
});

t.test('limit defaults to 1,000 and is capped at 10,000', async (t) => {
  const { log } = tempLog(t, 'events');
  const specs = Array.from({ length: 10_005 }, (_, i) => ({ title: `e${i}`, timeMs: T0 + i }));
  storeEvents(log, specs);
  const byDefault = log.events();
  t.equal(byDefault.length, 1000);
  t.equal(titles(byDefault)[0], 'e9005', 'the newest thousand');
  t.equal(log.events({ limit: 50_000 }).length, 10_000);
  t.equal(log.events({ limit: 0 }).length, 1000, '0 means the default');
});

t.test('events at the same time come in storage order', async (t) => {
  const { log } = tempLog(t, 'events');
  storeEvents(log, [{ title: 'first', timeMs: T0 }, { title: 'second', timeMs: T0 }, { title: 'third', timeMs: T0 }]);
  t.same(titles(log.events()), ['first', 'second', 'third']);
  t.same(titles(log.events({ limit: 2 })), ['second', 'third']);
});

t.test('a finding is open after OPEN, gone after RESOLVED and back after OPEN again', async (t) => {
  const { log } = tempLog(t, 'findings');
  const f = { fingerprint: 'cis-4.1.1:/etc/kubernetes/kubelet.conf', ruleId: 'cis-4.1.1' };
  storeEvents(log, [{ ...f, title: 'opened', state: OPEN, timeMs: T0 }]);
  t.same(titles(log.openFindings()), ['opened']);
  storeEvents(log, [{ ...f, title: 'resolved', state: RESOLVED, timeMs: T0 + 1000 }]);
  t.same(log.openFindings(), [], 'resolved is not open');
  const [reopened] = storeEvents(log, [{ ...f, title: 'reopened', state: OPEN, timeMs: T0 + 2000 }]);
  const open = log.openFindings();
  t.same(titles(open), ['reopened'], 'the latest event stands for the finding');
  t.equal(open[0]!.rowid, reopened, "the row carries the latest event's rowid");
});

t.test('findings are per node: the same fingerprint on two nodes is two findings', async (t) => {
  const { log } = tempLog(t, 'findings');
  storeEvents(log, [{ node: 'node-a', fingerprint: 'f', state: OPEN, title: 'a' }], 'agent-a');
  storeEvents(log, [{ node: 'node-b', fingerprint: 'f', state: OPEN, title: 'b' }], 'agent-b');
  storeEvents(log, [{ node: 'node-b', fingerprint: 'f', state: RESOLVED, title: 'b resolved' }], 'agent-b');
  t.same(titles(log.openFindings()), ['a']);
});

t.test('an older state stored late does not replace a newer one', async (t) => {
  const { log } = tempLog(t, 'findings');
  storeEvents(log, [{ fingerprint: 'f', state: RESOLVED, timeMs: T0 + 5000, title: 'resolved' }], 'agent-new');
  storeEvents(log, [{ fingerprint: 'f', state: OPEN, timeMs: T0, title: 'late resend' }], 'agent-old');
  t.same(log.openFindings(), []);
});

t.test('detections without a state and duplicates never touch the findings table', async (t) => {
  const { log } = tempLog(t, 'findings');
  storeEvents(log, [{ fingerprint: 'f', state: OPEN, title: 'open', timeMs: T0 }]);
  storeEvents(log, [{ fingerprint: 'f', state: 0, title: 'detection', timeMs: T0 + 1000 }]);
  t.same(titles(log.openFindings()), ['open']);
});

t.test('openFindings filters by node, severity, source, rule, namespace and limit', async (t) => {
  const { log } = tempLog(t, 'findings');
  storeEvents(log, SIX.map((s, i) => ({ ...s, state: OPEN, fingerprint: `f${i}` })));
  t.same(titles(log.openFindings()), ['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
  t.same(titles(log.openFindings({ nodes: ['node-b'] })), ['e2', 'e3']);
  t.same(titles(log.openFindings({ minSeverity: SEVERITY_CRITICAL })), ['e5']);
  t.same(titles(log.openFindings({ sources: [SOURCE_RUNTIME] })), ['e3']);
  t.same(titles(log.openFindings({ ruleIds: ['cis-*'] })), ['e0', 'e1']);
  t.same(titles(log.openFindings({ namespaces: ['default'] })), ['e2']);
  t.same(titles(log.openFindings({ limit: 1 })), ['e5']);
  t.same(titles(log.openFindings({ nodes: ['node-a'], minSeverity: SEVERITY_LOW, ruleIds: ['cis-4.2.1', 'CIS-*'] })), ['e1', 'e4']);
});

t.test('an open finding outlives the deletion of its event', async (t) => {
  const { log } = tempLog(t, 'findings');
  storeEvents(log, [{ fingerprint: 'f', state: OPEN, title: 'old open', timeMs: T0 }]);
  t.equal(log.pruneOlderThan(ns(Date.now()), Number.MAX_SAFE_INTEGER, 100), 1);
  t.equal(log.count(), 0);
  t.same(titles(log.openFindings()), ['old open'], 'the findings table holds its own copy of the bytes');
});

// The schema central wrote before events had an integer time and findings had a table.
const OLD_SCHEMA = `
  CREATE TABLE events (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, seq INTEGER NOT NULL,
    time_ns TEXT NOT NULL, node TEXT NOT NULL, source INTEGER NOT NULL, rule_id TEXT NOT NULL,
    severity INTEGER NOT NULL, fingerprint TEXT NOT NULL, state INTEGER NOT NULL,
    namespace TEXT NOT NULL, body BLOB NOT NULL, stored_at INTEGER NOT NULL, UNIQUE (agent_id, seq));
  CREATE INDEX events_rule ON events (rule_id);
  CREATE INDEX events_fingerprint ON events (fingerprint);
  CREATE TABLE agents (agent_id TEXT PRIMARY KEY, node TEXT NOT NULL, stored_through INTEGER NOT NULL, last_seen INTEGER NOT NULL);
  CREATE TABLE cursors (name TEXT PRIMARY KEY, rowid INTEGER NOT NULL, position INTEGER NOT NULL);`;

function oldLog(t: Parameters<typeof tempDirFor>[0]): string {
  const file = path.join(tempDirFor(t, 'migrate'), 'events.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(OLD_SCHEMA);
  const insert = db.prepare(`INSERT INTO events (agent_id, seq, time_ns, node, source, rule_id, severity, fingerprint, state, namespace, body, stored_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const rows: [number, number, number, string][] = [[1, T0, OPEN, 'opened'], [2, T0 + 1000, 0, 'detection'], [3, T0 + 2000, RESOLVED, 'resolved'], [4, T0 + 3000, OPEN, 'reopened']];
  for (const [seq, ms, state, title] of rows) {
    const ev = pb.Event.create({ agentId: 'old', sequence: Long.fromNumber(seq, true), title, state, fingerprint: 'f', node: 'n', ruleId: 'cis-1' });
    insert.run('old', seq, String(ns(ms)), 'n', 1, 'cis-1', 3, seq === 2 ? 'd' : 'f', state, '', Buffer.from(pb.Event.encode(ev).finish()), ms);
  }
  db.prepare('INSERT INTO agents VALUES (?, ?, ?, ?)').run('old', 'n', 4, T0);
  db.prepare('INSERT INTO cursors VALUES (?, ?, ?)').run('jsonl:/x', 2, 100);
  db.close();
  return file;
}

t.test('an old log gains the integer time, filled from time_ns, and answers time ranges', async (t) => {
  const file = oldLog(t);
  const log = new EventLog(file);
  t.teardown(() => log.close());
  t.same(titles(log.events({ sinceNs: ns(T0 + 1000), untilNs: ns(T0 + 2000) })), ['detection', 'resolved']);
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  const cols = (db.prepare("SELECT name FROM pragma_table_info('events')").all() as { name: string }[]).map((c) => c.name);
  t.ok(cols.includes('time_unix_nano'));
  const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all() as { name: string }[]).map((r) => r.name);
  t.ok(indexes.includes('events_time') && indexes.includes('events_node_time'), 'the new indexes exist');
});

t.test('an old log keeps its agents, cursors and events through the migration', async (t) => {
  const log = new EventLog(oldLog(t));
  t.teardown(() => log.close());
  t.equal(log.count(), 4);
  t.equal(log.storedThrough('old'), 4);
  t.same(log.getCursor('jsonl:/x'), { rowid: 2, position: 100, known: true });
  storeEvents(log, [{ title: 'new', node: 'n' }], 'old');
  t.same(titles(log.query({ limit: 10 })), ['opened', 'detection', 'resolved', 'reopened', 'new'], 'new events follow the old rowids');
});

t.test("an old log's findings table is built from its events: latest state per fingerprint", async (t) => {
  const log = new EventLog(oldLog(t));
  t.teardown(() => log.close());
  t.same(titles(log.openFindings()), ['reopened']);
});

t.test('opening a migrated log again changes nothing', async (t) => {
  const file = oldLog(t);
  new EventLog(file).close();
  const log = new EventLog(file);
  t.teardown(() => log.close());
  t.equal(log.count(), 4);
  t.same(titles(log.openFindings()), ['reopened']);
});

t.test('a new log uses incremental auto-vacuum and WAL', async (t) => {
  const { file, log } = tempLog(t, 'vacuum');
  storeEvents(log, [{}]);
  const db = new Database(file, { readonly: true });
  t.teardown(() => db.close());
  t.equal(db.pragma('auto_vacuum', { simple: true }), 2, 'INCREMENTAL');
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
});

t.test('sizeBytes grows with events and falls when they are deleted, before any vacuum', async (t) => {
  const { log } = tempLog(t, 'size');
  const empty = log.sizeBytes();
  storeEvents(log, Array.from({ length: 200 }, () => ({ padding: 2000, timeMs: T0 })));
  const full = log.sizeBytes();
  t.ok(full > empty + 200 * 2000, `${full} bytes hold 200 events of 2 KB`);
  log.pruneOldest(200);
  t.ok(log.sizeBytes() < full / 2, 'freed pages are not counted');
  log.incrementalVacuum(10_000);
  t.ok(log.sizeBytes() < full / 2);
});

t.test('writableProblem is null when the log takes writes', async (t) => {
  const { log } = tempLog(t, 'probe');
  t.equal(log.writableProblem(), null);
});

t.test('writableProblem says why when another process holds the write lock', async (t) => {
  const { log, file } = tempLog(t, 'probe');
  const other = new Database(file);
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  t.teardown(() => other.exec('ROLLBACK'));
  const started = Date.now();
  t.match(log.writableProblem(), /^The event log .*events\.db cannot be written: database is locked\.$/);
  t.ok(Date.now() - started < 2000, 'the probe does not wait for ingest-length lock timeouts');
});

t.test('writableProblem says so when the log is closed', async (t) => {
  const { log } = tempLog(t, 'probe');
  log.close();
  t.match(log.writableProblem(), /is closed/);
});

t.test("central's own events are stored under agent id central with the next sequences", async (t) => {
  const { log } = tempLog(t, 'central');
  storeEvents(log, [{ title: 'from an agent' }]);
  const first = log.appendCentralEvent({ ruleId: 'central-test', title: 'one', severity: SEVERITY_HIGH, node: 'central-0' });
  const second = log.appendCentralEvent({ ruleId: 'central-test', title: 'two' });
  t.equal(first.event.agentId, CENTRAL_AGENT_ID);
  t.equal(first.event.id, 'central/1');
  t.equal(Number(second.event.sequence), 2);
  t.equal(first.event.source, pb.Source.SOURCE_CENTRAL);
  t.equal(first.event.node, 'central-0');
  t.ok(Number(first.event.timeUnixNano) > 0, 'stamped with the time');
  t.equal(log.storedThrough(CENTRAL_AGENT_ID), 2);
  const stored = decode(log.events({ sources: [pb.Source.SOURCE_CENTRAL] }));
  t.same(stored.map((e) => e.title), ['one', 'two']);
  t.same(Buffer.from(pb.Event.encode(stored[0]!).finish()), first.bytes, 'stored as returned');
});

t.test('all open findings at or above a severity, past the query limit', async (t) => {
  const { log } = tempLog(t, 'all-open');
  const specs: EventSpec[] = Array.from({ length: 12_000 }, (_, i) => ({ title: `f${i}`, fingerprint: `fp${i}`, state: OPEN, severity: i % 2 ? pb.Severity.SEVERITY_HIGH : pb.Severity.SEVERITY_LOW }));
  storeEvents(log, specs);
  storeEvents(log, [{ title: 'closed', fingerprint: 'fp1', state: RESOLVED, severity: pb.Severity.SEVERITY_HIGH }]);
  const high = log.allOpenFindings(pb.Severity.SEVERITY_HIGH);
  t.equal(high.length, 5_999, 'every open high finding, the resolved one left out');
  t.equal(log.allOpenFindings().length, 11_999);
});

t.test('a read-only connection reads what the writer committed, refuses writes, and needs the log to exist', async (t) => {
  const { log, file, dir } = tempLog(t, 'readonly');
  const reader = new EventLog(file, { readOnly: true });
  t.teardown(() => reader.close());
  storeEvents(log, [{ title: 'a' }, { title: 'b' }]);
  t.same(titles(reader.read(0, 10)), ['a', 'b'], 'sees the writer\'s commits');
  log.setCursor('hook', 1, 0);
  t.same(reader.getCursor('hook'), { rowid: 1, position: 0, known: true });
  t.equal(reader.head().rowid, 2);
  t.throws(() => reader.setCursor('hook', 2, 0), /readonly/i, 'writes are refused');
  t.same(log.getCursor('hook').rowid, 1);
  t.throws(() => new EventLog(path.join(dir, 'none.db'), { readOnly: true }), /cannot open the event log .*none\.db to read/);
});
