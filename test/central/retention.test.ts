// Retention keeps the event log within maxAge and maxBytes: age never takes what an active sink
// has not delivered; the byte cap does, and then says so with a central event, a counter and a
// log line. Deletion goes in chunks, giving the event loop back in between.
import t from 'tap';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Retention, DROPPED_UNDELIVERED_RULE, type RetentionOptions } from '../../central/retention.js';
import type { EventLog, IncomingEvent } from '../../central/event-log.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { storeEvents, tempLog, titles, type EventSpec } from '../helpers/event-log-fixtures.js';

const pb = nodewarden.v1;
const DAY = 86_400_000;
const old = (n: number, extra: EventSpec = {}): EventSpec[] => Array.from({ length: n }, (_, i) => ({ title: `old${i}`, timeMs: Date.now() - 40 * DAY + i, ...extra }));
const fresh = (n: number, extra: EventSpec = {}): EventSpec[] => Array.from({ length: n }, (_, i) => ({ title: `new${i}`, timeMs: Date.now() - 1000 + i, ...extra }));

interface Harness {
  retention: Retention;
  registry: Registry;
  logs: { level: number; msg: string; [k: string]: unknown }[];
  stored: IncomingEvent[][];
}

function harness(log: EventLog, opts: Omit<Partial<RetentionOptions>, 'limits'> & { limits?: Partial<RetentionOptions['limits']> } = {}): Harness {
  const registry = new Registry();
  const logs: Harness['logs'] = [];
  const stored: IncomingEvent[][] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Harness['logs'][number]) });
  const retention = new Retention({
    log,
    sinks: [],
    registry,
    logger,
    onStored: (events) => stored.push(events),
    node: 'central-0',
    ...opts,
    limits: { maxAge: 30 * DAY, maxBytes: 1024 * 1024 * 1024, intervalMs: 60_000, ...opts.limits },
  });
  return { retention, registry, logs, stored };
}

async function metric(reg: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await reg.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { value: number; labels: Record<string, string> }[] | undefined)?.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value;
}

t.test('events older than maxAge are deleted and newer ones stay', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, [...old(5), ...fresh(3)]);
  const { retention } = harness(log);
  const report = await retention.runOnce();
  t.equal(report.byAge, 5);
  t.same(titles(log.query()), ['new0', 'new1', 'new2']);
});

t.test("a lagging sink's undelivered events are kept past maxAge", async (t) => {
  const { log } = tempLog(t, 'retention');
  const rowids = storeEvents(log, old(10));
  log.setCursor('jsonl:/slow', rowids[2]!, 0);
  log.setCursor('jsonl:/fast', rowids[9]!, 0);
  const { retention } = harness(log, { sinks: ['jsonl:/slow', 'jsonl:/fast'] });
  const report = await retention.runOnce();
  t.equal(report.byAge, 3, 'only what every active sink delivered');
  t.same(titles(log.query()), ['old3', 'old4', 'old5', 'old6', 'old7', 'old8', 'old9']);
  t.same(report.undelivered, [], 'age never loses undelivered events');
});

t.test('an active sink that never recorded a cursor holds every event back', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(4));
  const { retention } = harness(log, { sinks: ['jsonl:/new'] });
  t.equal((await retention.runOnce()).byAge, 0);
  t.equal(log.count(), 4);
});

t.test('the cursor of a sink no longer configured holds nothing back', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(4));
  log.setCursor('jsonl:/removed', 0, 0);
  const { retention } = harness(log, { sinks: [] });
  t.equal((await retention.runOnce()).byAge, 4);
  t.equal(log.count(), 0);
});

t.test('maxAge 0 keeps events of any age', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(3));
  const { retention } = harness(log, { limits: { maxAge: 0 } });
  t.equal((await retention.runOnce()).byAge, 0);
  t.equal(log.count(), 3);
});

t.test('open findings outlive their events; resolved ones older than maxAge go', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, [
    ...old(1, { fingerprint: 'stays-open', state: pb.FindingState.FINDING_STATE_OPEN, title: 'open' }),
    ...old(1, { fingerprint: 'was-resolved', state: pb.FindingState.FINDING_STATE_RESOLVED, title: 'resolved' }),
  ]);
  const { retention } = harness(log);
  const report = await retention.runOnce();
  t.equal(report.byAge, 2);
  t.equal(report.resolvedFindings, 1);
  t.same(titles(log.openFindings()), ['open']);
});

t.test('over maxBytes the oldest events go until the log is under it', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, fresh(300, { padding: 2000 }));
  const maxBytes = 300 * 1024;
  t.ok(log.sizeBytes() > 2 * maxBytes, 'the log starts well over the cap');
  const { retention } = harness(log, { limits: { maxBytes } });
  const report = await retention.runOnce();
  t.ok(report.bySize > 100, `${report.bySize} deleted`);
  t.ok(log.sizeBytes() <= maxBytes, `${log.sizeBytes()} bytes now`);
  const left = titles(log.query({ limit: 1000 }));
  t.equal(left.at(-1), 'new299', 'the newest stay');
  t.equal(left[0], `new${report.bySize}`, 'the oldest went first');
  t.same(report.undelivered, [], 'no sink: nothing undelivered');
});

t.test('the byte cap deletes undelivered events and tells the sink with a central event naming the gap', async (t) => {
  const { log } = tempLog(t, 'retention');
  const rowids = storeEvents(log, fresh(300, { padding: 2000 }));
  log.setCursor('jsonl:/lagging', rowids[49]!, 0);
  const { retention, stored, registry } = harness(log, { sinks: ['jsonl:/lagging'], limits: { maxBytes: 300 * 1024 } });
  const report = await retention.runOnce();
  const lost = report.bySize - 50;
  t.ok(lost > 0);
  t.same(report.undelivered.map((l) => [l.sink, l.firstRowid, l.lastRowid, l.count]), [['jsonl:/lagging', rowids[50], rowids[49 + lost], lost]]);

  t.equal(stored.length, 1, 'handed to onStored once');
  const notice = stored[0]![0]!.event;
  t.equal(notice.ruleId, DROPPED_UNDELIVERED_RULE);
  t.equal(notice.severity, pb.Severity.SEVERITY_HIGH);
  t.equal(notice.source, pb.Source.SOURCE_CENTRAL);
  t.equal(notice.agentId, 'central');
  t.equal(notice.node, 'central-0');
  t.same(
    { sink: notice.attributes.sink, firstRowid: notice.attributes.firstRowid, lastRowid: notice.attributes.lastRowid, count: notice.attributes.count },
    { sink: 'jsonl:/lagging', firstRowid: String(rowids[50]), lastRowid: String(rowids[49 + lost]), count: String(lost) },
  );
  t.match(notice.message, new RegExp(`${lost} events sink jsonl:/lagging had not delivered: rowids ${rowids[50]}–${rowids[49 + lost]}, event times \\S+Z to \\S+Z`));
  t.equal(log.events({ ruleIds: [DROPPED_UNDELIVERED_RULE] }).length, 1, 'the notice is stored for the sinks to deliver');
  t.equal(await metric(registry, 'nodewarden_events_dropped_total', { component: 'retention', reason: 'size-cap-undelivered' }), lost);
  t.equal(log.getCursor('jsonl:/lagging').rowid, rowids[49], "the sink's cursor is left where it was");
});

t.test('each sink that lost events gets its own notice; the counter counts each event once', async (t) => {
  const { log } = tempLog(t, 'retention');
  const rowids = storeEvents(log, fresh(300, { padding: 2000 }));
  log.setCursor('a', rowids[9]!, 0);
  log.setCursor('b', rowids[19]!, 0);
  const { retention, stored, registry } = harness(log, { sinks: ['a', 'b'], limits: { maxBytes: 300 * 1024 } });
  const report = await retention.runOnce();
  const counts = Object.fromEntries(report.undelivered.map((l) => [l.sink, l.count]));
  t.same(counts, { a: report.bySize - 10, b: report.bySize - 20 });
  t.same(stored[0]!.map((e) => e.event.attributes.sink).sort(), ['a', 'b']);
  t.equal(await metric(registry, 'nodewarden_events_dropped_total', { component: 'retention' }), report.bySize - 10);
  t.equal(await metric(registry, 'nodewarden_retention_undelivered_dropped_total', { sink: 'a' }), report.bySize - 10, 'per sink: a');
  t.equal(await metric(registry, 'nodewarden_retention_undelivered_dropped_total', { sink: 'b' }), report.bySize - 20, 'per sink: b');
});

t.test('retention updates the log size and event gauges and counts pruned events by reason', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, [...old(4), ...fresh(300, { padding: 2000 })]);
  const { retention, registry } = harness(log, { limits: { maxBytes: 300 * 1024 } });
  const report = await retention.runOnce();
  t.equal(await metric(registry, 'nodewarden_retention_pruned_events_total', { reason: 'age' }), 4);
  t.equal(await metric(registry, 'nodewarden_retention_pruned_events_total', { reason: 'size' }), report.bySize);
  t.equal(await metric(registry, 'nodewarden_event_log_events'), log.count());
  t.equal(await metric(registry, 'nodewarden_event_log_bytes'), log.sizeBytes());
});

t.test('a pass that removed something writes one sentence with the counts; an idle pass writes none', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, [...old(4), ...fresh(2)]);
  const { retention, logs } = harness(log);
  await retention.runOnce();
  t.equal(logs.length, 1);
  t.match(logs[0], { level: 30, byAge: 4, bySize: 0, msg: /^Retention removed 4 events older than 30d; the event log now holds 2 events in \d+ bytes\.$/ });
  await retention.runOnce();
  t.equal(logs.length, 1, 'nothing to say the second time');
});

t.test('a sink that lost events gets a warning line naming it', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, fresh(300, { padding: 2000 }));
  const { retention, logs } = harness(log, { sinks: ['jsonl:/lagging'], limits: { maxBytes: 300 * 1024 } });
  await retention.runOnce();
  t.match(logs.find((l) => l.level === 40), { sink: 'jsonl:/lagging', msg: /jsonl:\/lagging had not delivered/ });
});

t.test('age pruning deletes in chunks and lets other work run between them', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(35));
  const chunks: number[] = [];
  const prune = log.pruneOlderThan.bind(log);
  log.pruneOlderThan = (cutoff, through, limit) => {
    const n = prune(cutoff, through, limit);
    chunks.push(n);
    return n;
  };
  const { retention } = harness(log, { chunkRows: 10 });
  let ranBetween = -1;
  setImmediate(() => (ranBetween = chunks.length));
  await retention.runOnce();
  t.same(chunks, [10, 10, 10, 5]);
  t.ok(ranBetween > 0 && ranBetween < 4, `other work ran after chunk ${ranBetween}`);
});

t.test('size pruning deletes at most chunkRows per transaction', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, fresh(300, { padding: 2000 }));
  const sizes: number[] = [];
  const prune = log.pruneOldest.bind(log);
  log.pruneOldest = (limit) => {
    const rows = prune(limit);
    sizes.push(rows.length);
    return rows;
  };
  const { retention } = harness(log, { chunkRows: 25, limits: { maxBytes: 300 * 1024 } });
  await retention.runOnce();
  t.ok(sizes.length > 1 && sizes.every((n) => n <= 25), `chunks ${sizes.join(', ')}`);
});

t.test('start prunes at once and again every intervalMs', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(2));
  const { retention } = harness(log, { limits: { intervalMs: 50 } });
  t.teardown(() => retention.stop());
  retention.start();
  await new Promise((r) => setTimeout(r, 20));
  t.equal(log.count(), 0, 'the first pass ran at start');
  storeEvents(log, old(3));
  await new Promise((r) => setTimeout(r, 150));
  t.equal(log.count(), 0, 'a later pass ran');
});

t.test('stop is safe without start and safe twice', async (t) => {
  const { log } = tempLog(t, 'retention');
  const { retention } = harness(log);
  await retention.stop();
  await retention.stop();
  retention.start();
  storeEvents(log, old(2));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(log.count(), 2, 'a stopped retention does not start again');
});

t.test('a failing pass is logged and the next interval tries again', async (t) => {
  const { log } = tempLog(t, 'retention');
  storeEvents(log, old(2));
  let failures = 1;
  const prune = log.pruneOlderThan.bind(log);
  log.pruneOlderThan = (...args) => {
    if (failures-- > 0) throw new Error('disk I/O error');
    return prune(...args);
  };
  const { retention, logs } = harness(log, { limits: { intervalMs: 30 } });
  t.teardown(() => retention.stop());
  retention.start();
  await new Promise((r) => setTimeout(r, 120));
  t.match(logs.find((l) => l.level === 50), { err: 'disk I/O error', msg: /retention failed/i });
  t.equal(log.count(), 0, 'the next pass pruned');
});
