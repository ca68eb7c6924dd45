// The sink thread: every configured sink runs in one worker thread that reads the event log on
// its own connection, while central writes its cursor moves and dead letters. Its sinks deliver
// while central's event loop is busy, its metrics and log lines appear on central's, host facts
// reach its formats, a crashed thread is started again and its sinks resume from their cursors
// without losing an event, and stop ends it within the deadline with every cursor durable.
import t, { type Test } from 'tap';
import { restoreThreadPriority } from '../../../../central/sinks/worker/priority.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { EventLog } from '../../../../central/event-log.js';
import { GroupCommit } from '../../../../central/group-commit.js';
import { sinkConfigs } from '../../../../central/sinks/config.js';
import { sinkFactories } from '../../../../central/sinks/index.js';
import { fileCursor } from '../../../../central/sinks/file/file-sink.js';
import { SinkWorker } from '../../../../central/sinks/worker/sink-worker.js';
import type { HostFacts } from '../../../../core/host-facts.js';
import { isNwError } from '../../../../core/errors.js';
import { VERSION } from '../../../../core/version.js';
import { storeEvents, tempDirFor } from '../../../helpers/event-log-fixtures.js';
import { waitFor } from '../../../helpers/pipeline.js';

interface Harness {
  log: EventLog;
  dir: string;
  registry: Registry;
  worker: SinkWorker;
  hosts: Map<string, HostFacts>;
  /** Central's log lines (JSON), as its logger wrote them. */
  logLines: Record<string, unknown>[];
  /** Store `n` events (of node `node`) and tell the thread, as ingest does after a commit. */
  store(n: number, node?: string): void;
}

/** A SinkWorker wired as central wires it: its writes ride on a group commit of the same log. */
function harness(t: Test, sinks: Record<string, unknown>[], hosts = new Map<string, HostFacts>()): Harness {
  const dir = tempDirFor(t, 'sink-worker');
  const file = path.join(dir, 'events.db');
  const log = new EventLog(file);
  const commit = new GroupCommit(log);
  const registry = new Registry();
  const logLines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const worker = new SinkWorker({
    file, configs: sinkConfigs({ sinks }, sinkFactories()), version: VERSION, logger, registry,
    write: (writes) => commit.alongside(() => log.applySinkWrites(writes)),
    hosts: () => hosts.entries(),
    restart: { initialMs: 50, maxMs: 200 },
  });
  // One teardown, in order: the thread's last writes commit before the log closes.
  t.teardown(async () => {
    await worker.stop(1000);
    log.close();
  });
  return {
    log, dir, registry, worker, hosts, logLines,
    store(n, node = 'node-a') {
      storeEvents(log, Array.from({ length: n }, () => ({ node })), `agent-${node}`);
      worker.notify();
    },
  };
}

/** A webhook receiver that records the ids it was sent, answering each request after `delayMs`. */
async function webhookReceiver(t: Test, delayMs = 0): Promise<{ url: string; ids: string[]; requests: () => number }> {
  const ids: string[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      setTimeout(() => {
        for (const e of JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }[]) ids.push(e.id);
        res.writeHead(200).end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, ids, requests: () => requests };
}

const fileLines = (file: string): Record<string, unknown>[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
};

const sample = (text: string, name: string, labels: string): number | undefined => {
  const m = new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

t.test('the sinks deliver from their cursors in their own thread, while central\'s event loop is busy', async (t) => {
  const hook = await webhookReceiver(t);
  const archive = path.join(tempDirFor(t, 'out'), 'archive.jsonl');
  const h = harness(t, [
    { name: 'archive', type: 'jsonl', path: archive },
    { name: 'hook', type: 'webhook', url: hook.url, batch: { maxEvents: 100 } },
  ]);
  await h.worker.start();
  t.ok(h.worker.thread && h.worker.thread.threadId > 0, 'a worker thread runs the sinks');
  // /proc/<pid>/task/<tid>/stat: the scheduling policy is field 41 (SCHED_IDLE = 5).
  const stat = readFileSync(`/proc/self/task/${h.worker.tid}/stat`, 'utf8');
  t.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]), 5, 'it runs at idle CPU priority (SCHED_IDLE)');
  t.match(h.logLines.find((l) => l.component === 'sinks' && l.tid === h.worker.tid), { level: 30, msg: /at idle CPU priority/ }, 'and says so');
  t.same(h.worker.cursorNames, [fileCursor('jsonl', archive), 'hook'], 'the cursors retention must respect');

  // What follows is about the event loop, not the priority: at idle priority the thread runs only
  // on a CPU nobody else wants, which a machine busy with other work may not have for seconds.
  t.ok(restoreThreadPriority(h.worker.tid), 'normal priority for the rest of this test');
  h.store(3000);
  // Block this thread (central's event loop) until the file fills meanwhile.
  const until = Date.now() + 10_000;
  let sizeWhileBlocked = 0;
  while (Date.now() < until && sizeWhileBlocked === 0) {
    try {
      sizeWhileBlocked = statSync(archive).size;
    } catch {
      // not created yet
    }
  }
  t.ok(sizeWhileBlocked > 0, `the file sink wrote ${sizeWhileBlocked} bytes while central's event loop was blocked`);

  await waitFor('every event in the file and at the webhook', () => fileLines(archive).length === 3000 && hook.ids.length === 3000, 30_000);
  t.same(fileLines(archive).map((l) => l.id), Array.from({ length: 3000 }, (_, i) => `agent-node-a/${i + 1}`), 'each event once, in order');
  t.same(hook.ids, Array.from({ length: 3000 }, (_, i) => `agent-node-a/${i + 1}`));
  // Central wrote the cursors (the thread's connection is read-only).
  const head = h.log.head().rowid;
  await waitFor('both cursors at the head', () => h.log.getCursor('hook').rowid === head && h.log.getCursor(fileCursor('jsonl', archive)).rowid === head);
  t.equal(h.log.getCursor(fileCursor('jsonl', archive)).position, statSync(archive).size, 'the file sink\'s position is its file\'s size');
});

t.test('the thread\'s metrics appear on central\'s registry with their names and labels, its log lines in central\'s log with their sink', async (t) => {
  const hook = await webhookReceiver(t);
  const up = await webhookReceiver(t);
  const h = harness(t, [
    { name: 'hook', type: 'webhook', url: hook.url },
    // Plain http to a host that is not loopback: the factory warns at creation, in the thread.
    { name: 'plain', type: 'webhook', url: 'http://192.0.2.1:9/never', enabled: true, filter: { rules: ['no-such-rule'] } },
    // Two instances, one of them refusing connections: a per-sink metric of the factory's own.
    { name: 'oncall', type: 'alertmanager', urls: [up.url.replace('/hook', ''), 'http://127.0.0.1:9'] },
  ]);
  await h.worker.start();
  h.store(10);
  await waitFor('delivered', () => hook.ids.length === 10);
  const text = await waitFor('the metrics', async () => {
    const m = await h.registry.metrics();
    return sample(m, 'nodewarden_sink_events_delivered_total', 'sink="hook"') === 10 && sample(m, 'nodewarden_sink_lag_events', 'sink="hook"') === 0 ? m : null;
  });
  t.match(text, /# HELP nodewarden_sink_events_delivered_total Events delivered by each sink\.\n# TYPE nodewarden_sink_events_delivered_total counter/);
  t.equal(sample(text, 'nodewarden_sink_lag_seconds', 'sink="hook"'), 0);
  t.equal(sample(text, 'nodewarden_sink_lag_events', 'sink="plain"'), 0, 'a sink whose filter takes nothing is not behind');
  t.match(text, /# TYPE nodewarden_sink_send_failures_total counter/);
  t.match(text, /# TYPE nodewarden_sink_retries_total counter/);
  t.match(text, /# TYPE nodewarden_sink_dead_letters_total counter/);
  t.equal(sample(text, 'nodewarden_sink_thread_up', ''), undefined, 'the thread\'s own gauge has no labels');
  t.match(text, /^nodewarden_sink_thread_up 1$/m);
  // Alertmanager starts at the newest event: store one more for it.
  h.store(1);
  const failures = await waitFor('the instance failure counted', async () => sample(await h.registry.metrics(), 'nodewarden_sink_alertmanager_instance_failures_total', 'sink="oncall",instance="http://127.0.0.1:9"'));
  t.ok(failures >= 1, 'a factory\'s own metric, with its labels');
  const warning = h.logLines.find((l) => l.sink === 'plain' && /plain http/.test(String(l.msg)));
  t.ok(warning, 'the factory\'s warning, logged through central\'s logger with the sink\'s name');
  t.equal(warning?.level, 40, 'at its level (warn)');
});

t.test('a crashed thread is started again and its sinks resume from their cursors: nothing lost, the file exactly once', async (t) => {
  const hook = await webhookReceiver(t, 10);
  const dir = tempDirFor(t, 'out');
  const archive = path.join(dir, 'archive.jsonl');
  const h = harness(t, [
    { name: 'archive', type: 'jsonl', path: archive },
    { name: 'hook', type: 'webhook', url: hook.url, batch: { maxEvents: 200 } },
  ]);
  await h.worker.start();
  const stored = 20_000;
  h.store(stored);
  const size = () => {
    try {
      return statSync(archive).size;
    } catch {
      return 0;
    }
  };
  // Both sinks under way: the file partly written (maybe past its recorded cursor), a batch in flight.
  await waitFor('both sinks under way', () => size() > 0 && hook.requests() > 2, 20_000, 5);
  const before = sample(await h.registry.metrics(), 'nodewarden_sink_events_delivered_total', 'sink="hook"') ?? 0;
  const first = h.worker.thread!;
  // As an abrupt crash would.
  await first.terminate();
  t.ok(size() < 20_000 * 200, 'the file sink had not finished when the thread ended');
  await waitFor('a new thread', () => h.worker.thread && h.worker.thread !== first, 10_000);
  h.store(500);
  const total = stored + 500;
  await waitFor('every event at the webhook and in the file', () => new Set(hook.ids).size === total && fileLines(archive).length === total, 60_000, 100).catch((err: Error) => {
    t.comment(JSON.stringify({ hook: new Set(hook.ids).size, file: fileLines(archive).length, logs: h.logLines.slice(-10) }));
    throw err;
  });
  const ids = Array.from({ length: total }, (_, i) => `agent-node-a/${i + 1}`);
  t.same(fileLines(archive).map((l) => l.id), ids, 'the file holds each event exactly once, in order');
  t.same([...new Set(hook.ids)], ids, 'the webhook got every event, in order');
  t.ok(hook.ids.length - total <= 2 * 200, `at least once: ${hook.ids.length - total} events sent twice (at most the batches in flight)`);
  const m = await h.registry.metrics();
  t.match(m, /^nodewarden_sink_thread_crashes_total 1$/m, 'the crash is counted');
  t.ok((sample(m, 'nodewarden_sink_events_delivered_total', 'sink="hook"') ?? 0) >= before, 'the delivered counter did not go back');
  t.ok(h.logLines.some((l) => l.level === 50 && /sink thread ended unexpectedly/.test(String(l.msg))), 'the crash is logged');
});

t.test('host facts reach the formats: those central holds at start, those it posts, and those only in the log yet', async (t) => {
  const dir = tempDirFor(t, 'out');
  const out = path.join(dir, 'ocsf.jsonl');
  const facts = (name: string, version: string): HostFacts => ({
    hostname: `${name}.internal`, os: { name: 'Ubuntu', version, family: 'debian', platform: 'linux' }, kernel: '6.8.0-45-generic', architecture: 'x86_64', bootTime: 1_700_000_000_000, containerRuntime: 'containerd 1.7.24',
  });
  const h = harness(t, [{ name: 'lake', type: 'ocsf', path: out }], new Map([['node-a', facts('node-a', '22.04')]]));
  await h.worker.start();
  h.store(1, 'node-a');
  // As central does at a Hello: the facts stored, then posted to the thread, then the node's events.
  h.log.setNodeFacts('node-b', JSON.stringify(facts('node-b', '24.04')));
  h.worker.setHost('node-b', facts('node-b', '24.04'));
  h.store(1, 'node-b');
  // A node whose facts are in the log but whose message has not reached the thread yet.
  h.log.setNodeFacts('node-c', JSON.stringify(facts('node-c', '20.04')));
  h.store(1, 'node-c');
  const docs = await waitFor('three documents', () => (fileLines(out).length === 3 ? fileLines(out) : null));
  const device = (d: Record<string, unknown>) => d.device as { name: string; hostname: string; os: { version: string } };
  t.match(device(docs[0]!), { name: 'node-a', hostname: 'node-a.internal', os: { version: '22.04' } }, 'held at start');
  t.match(device(docs[1]!), { name: 'node-b', hostname: 'node-b.internal', os: { version: '24.04' } }, 'posted');
  t.match(device(docs[2]!), { name: 'node-c', hostname: 'node-c.internal', os: { version: '20.04' } }, 'read from the log');
});

t.test('stop ends the sinks within the deadline, and what they delivered is recorded before the log closes', async (t) => {
  const dir = tempDirFor(t, 'out');
  const archive = path.join(dir, 'archive.jsonl');
  const h = harness(t, [
    { name: 'archive', type: 'jsonl', path: archive },
    // Nobody listens: this sink retries until stopped.
    { name: 'down', type: 'webhook', url: 'http://127.0.0.1:9/hook', retry: { initialMs: 50, maxMs: 100 } },
  ]);
  await h.worker.start();
  h.store(20_000);
  await waitFor('the file sink under way', () => fileLines(archive).length > 0, 20_000);
  const t0 = Date.now();
  await h.worker.stop(500);
  const took = Date.now() - t0;
  t.ok(took < 500 + 1000 + 500, `stopped in ${took} ms with a sink still retrying`);
  t.equal(h.worker.thread, null, 'the thread is gone');
  const cursor = h.log.getCursor(fileCursor('jsonl', archive));
  const lines = fileLines(archive);
  t.equal(cursor.position, statSync(archive).size, 'the file ends where its recorded cursor says');
  t.equal(lines.at(-1)?.id, `agent-node-a/${cursor.rowid}`, 'the cursor names the last event written');
  t.equal(h.log.getCursor('down').rowid, 0, 'the sink that delivered nothing did not move');
  await h.worker.stop(500);
  t.pass('stop is idempotent');
});

t.test('a sink that cannot be created stops the start with its own error, naming it', async (t) => {
  const h = harness(t, [{ name: 'hook', type: 'webhook', url: 'https://hooks.example/nw', tls: { ca: '/nonexistent/ca.pem' } }]);
  const err = await h.worker.start().then(() => null, (e: unknown) => e);
  t.ok(isNwError(err, 'NW_ERR_CONFIG'), 'a configuration error');
  t.match((err as Error).message, /central\.sinks hook: tls\.ca: \/nonexistent\/ca\.pem cannot be read/);
  t.equal(h.worker.thread, null, 'no thread is left running');
});

t.test('with no sink configured no thread is started', async (t) => {
  const h = harness(t, []);
  await h.worker.start();
  t.equal(h.worker.thread, null);
  h.store(1);
  t.same(h.worker.cursorNames, []);
});
