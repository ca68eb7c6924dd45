// What an operator touches: /metrics, /healthz and /readyz on both processes, `nodewarden tail`,
// and a bad configuration refused at start by the real command.
import t from 'tap';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { cliPath } from '../helpers/paths.js';
import { freePort, quietLogger, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

async function get(addr: { address: string; port: number }, p: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://${addr.address}:${addr.port}${p}`);
  return { status: res.status, body: await res.text() };
}

t.test('metrics, health and readiness on agent and central', async (t) => {
  const dir = tempDir('ops');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port);
  const agent = new Agent(cfg, quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  const a = agent.httpAddress!;
  t.equal((await get(a, '/healthz')).status, 200);
  const notReady = await get(a, '/readyz');
  t.equal(notReady.status, 503, 'not ready while central is unreachable');
  t.match(notReady.body, /not connected to central/);

  const central = new Central(cfg, quietLogger);
  t.teardown(() => central.stop());
  await central.start();
  await waitFor('ready once connected', async () => (await get(a, '/readyz')).status === 200, 15_000, 100);
  await agent.sink.emit([{ source: 'agent', ruleId: 'ops', severity: 'info', title: 't', message: 'm', fingerprint: 'f' }]);
  await waitFor('stored', () => central.log.count() === 1);
  const c = central.httpAddress!;
  t.equal((await get(c, '/healthz')).status, 200);
  t.equal((await get(c, '/readyz')).status, 200);
  const cm = await get(c, '/metrics');
  t.match(cm.body, /nodewarden_ingest_events_stored_total 1/);
  // The batch's acknowledgement was timed on central's side, within the histogram's range.
  const acks = Number(/^nodewarden_ingest_ack_seconds_count (\d+)$/m.exec(cm.body)?.[1]);
  t.ok(acks >= 1, `central timed ${acks} acknowledgements`);
  t.equal(Number(/^nodewarden_ingest_ack_seconds_bucket\{le="\+Inf"\} (\d+)$/m.exec(cm.body)?.[1]), acks);
  t.equal(Number(/^nodewarden_ingest_ack_seconds_bucket\{le="10"\} (\d+)$/m.exec(cm.body)?.[1]), acks, 'each within 10 s');
  const am = await get(a, '/metrics');
  t.match(am.body, /nodewarden_events_emitted_total\{source="agent"\} 1/);
  t.match(am.body, /nodewarden_shipper_connected 1/);
  t.equal((await get(a, '/nope')).status, 404);
});

t.test('nodewarden tail prints stored events live, as JSON lines with --json', async (t) => {
  const dir = tempDir('tail');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port);
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  await agent.start();
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
  });
  await agent.sink.emit([{ source: 'agent', ruleId: 'before', severity: 'high', title: 'before tail', message: 'm', fingerprint: 'f0' }]);
  await waitFor('stored', () => central.log.count() === 1);

  const tail = spawn(process.execPath, [cliPath, 'tail', '--insecure', '--central', `127.0.0.1:${port}`, '--json', '--replay', '5', '--min-severity', 'medium']);
  t.teardown(() => tail.kill());
  let out = '';
  tail.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the replayed event', () => out.includes('"before"'), 10_000);
  await agent.sink.emit([
    { source: 'agent', ruleId: 'too-low', severity: 'low', title: 'filtered', message: 'm', fingerprint: 'f1' },
    { source: 'agent', ruleId: 'live', severity: 'critical', title: 'live one', message: 'm', fingerprint: 'f2' },
  ]);
  await waitFor('the live event', () => out.includes('"live"'), 10_000);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { ruleId: string; severity: string });
  t.same(lines.map((l) => l.ruleId), ['before', 'live'], 'replay first, then live, low severity filtered out');
  t.equal(lines[1]!.severity, 'SEVERITY_CRITICAL');
});

t.test('the agent refuses a bad configuration at start, naming the key', async (t) => {
  const dir = tempDir('badcfg');
  const f = path.join(dir, 'agent.yaml');
  writeFileSync(f, 'agent:\n  collectors:\n    process:\n      source: ebpf\n    nosuch: {}\n');
  const r = spawnSync(process.execPath, [cliPath, 'agent', '--config', f, '--state-dir', path.join(dir, 's')], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 2);
  t.match(r.stderr, /agent\.collectors\.process\.source: /);
  t.match(r.stderr, /agent\.collectors\.nosuch: no such collector/);
});
