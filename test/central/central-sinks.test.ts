// Central with sinks configured, wired end to end: an agent's events reach every sink through the
// sink thread, with the host facts of the agent's Hello in their formats; the sinks' metrics are
// on central's /metrics; retention keeps what a sink has not passed; stop leaves each file sink's
// cursor durable; and a sink that cannot be created stops central's start.
import t from 'tap';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { Central } from '../../central/central.js';
import { EventLog } from '../../central/event-log.js';
import { fileCursor } from '../../central/sinks/file/file-sink.js';
import { Agent } from '../../daemon/agent.js';
import { isNwError } from '../../core/errors.js';
import { freePort, pipelineConfig, quietLogger, tempDir, waitFor } from '../helpers/pipeline.js';

const lines = (file: string): Record<string, unknown>[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
};

t.test('an agent\'s events reach every sink through the sink thread, with its host facts; the sinks\' metrics are on /metrics', async (t) => {
  const ids: string[] = [];
  const hook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      for (const e of JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }[]) ids.push(e.id);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => hook.close(() => resolve())));

  const dir = tempDir('central-sinks');
  const lake = path.join(dir, 'ocsf.jsonl');
  const archive = path.join(dir, 'archive.jsonl');
  const cfg = pipelineConfig(dir, await freePort(), {
    'central.jsonl': archive,
    'central.sinks': [
      { name: 'lake', type: 'ocsf', path: lake },
      { name: 'hook', type: 'webhook', url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/nw` },
    ],
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  let stopped = false;
  t.teardown(() => (stopped ? undefined : central.stop()));
  t.same([...central.sinkWorker!.cursorNames].sort(), [fileCursor('jsonl', archive), fileCursor('ocsf', lake), 'hook'].sort(), 'retention respects every sink\'s cursor');
  const agent = new Agent(cfg, quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  await waitFor('the agent\'s host facts at central', () => central.log.nodeFacts().some((n) => n.node === cfg.node));
  await agent.sink.emit(Array.from({ length: 50 }, (_, i) => ({ source: 'agent' as const, ruleId: 'ops', severity: 'high' as const, title: `t${i}`, message: 'm', fingerprint: `f${i}` })));
  await waitFor('every sink delivered', () => ids.length === 50 && lines(lake).length === 50 && lines(archive).length === 50, 20_000);

  const device = lines(lake)[0]!.device as { name: string; os: { kernel_release: string } };
  t.equal(device.name, cfg.node);
  t.equal(device.os.kernel_release, os.release(), 'the agent\'s host facts, from its Hello, in the OCSF document');

  const addr = central.httpAddress!;
  // The thread's metrics reach central in snapshots, a moment after the files have the lines.
  const scrape = async () => (await fetch(`http://${addr.address}:${addr.port}/metrics`)).text();
  let metrics = '';
  await waitFor('the sink thread\'s metrics of the 50 deliveries', async () => {
    metrics = await scrape();
    return ['lake', 'hook', 'jsonl'].every((sink) => metrics.includes(`nodewarden_sink_events_delivered_total{sink="${sink}"} 50\n`)) && /^nodewarden_sink_lag_events\{sink="hook"\} 0$/m.test(metrics);
  }, 20_000);
  for (const sink of ['lake', 'hook', 'jsonl']) t.match(metrics, new RegExp(`^nodewarden_sink_events_delivered_total\\{sink="${sink}"\\} 50$`, 'm'), `${sink}'s deliveries`);
  t.match(metrics, /^nodewarden_sink_lag_events\{sink="hook"\} 0$/m);
  t.match(metrics, /^nodewarden_sink_thread_up 1$/m);
  t.match(metrics, /^nodewarden_ingest_events_stored_total 50$/m, 'beside central\'s own metrics');

  await agent.stop();
  await central.stop();
  stopped = true;
  const log = new EventLog(path.join(cfg.central.dataDir, 'events.db'));
  t.teardown(() => log.close());
  const cursor = log.getCursor(fileCursor('ocsf', lake));
  t.equal(cursor.rowid, log.head().rowid, 'the file sink\'s last cursor move was written before central closed the log');
  t.equal(cursor.position, readFileSync(lake).length);
});

t.test('a sink that cannot be created stops central\'s start, naming it', async (t) => {
  const dir = tempDir('central-bad-sink');
  const cfg = pipelineConfig(dir, await freePort(), {
    'central.sinks': [{ name: 'oncall', type: 'alertmanager', urls: ['https://am:9093'], tls: { ca: path.join(dir, 'missing-ca.pem') } }],
  });
  const central = new Central(cfg, quietLogger);
  t.teardown(() => central.stop());
  const err = await central.start().then(() => null, (e: unknown) => e);
  t.ok(isNwError(err, 'NW_ERR_CONFIG'));
  t.match((err as Error).message, /sink oncall: tls\.ca .*missing-ca\.pem cannot be read/);
  t.equal(central.port, 0, 'central did not start listening');
});
