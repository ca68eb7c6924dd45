// Delivery promises of the pipeline: at-least-once on the wire, exactly-once in the store and in
// the JSON-lines file, across a central outage.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import type { Finding } from '../../core/finding.js';
import { freePort, quietLogger, storedEvents, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

const finding = (i: number): Finding => ({
  source: 'agent', ruleId: 'test-delivery', severity: 'low', title: `event ${i}`,
  message: `test event ${i}`, fingerprint: `test:${i}`, attributes: { i: String(i) },
});

t.test('1,000 events made while central is down arrive exactly once after it restarts', async (t) => {
  const dir = tempDir('delivery');
  const port = await freePort();
  const jsonl = path.join(dir, 'events.jsonl');
  const cfg = pipelineConfig(dir, port, {
    'central.jsonl': jsonl,
  });
  let central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
  });
  await agent.start();
  await agent.sink.emit([finding(0)]);
  await waitFor('the first event stored', () => central.log.count() === 1);

  await central.stop();
  for (let i = 1; i <= 1000; i += 50) {
    await agent.sink.emit(Array.from({ length: 50 }, (_, k) => finding(i + k)));
  }
  t.equal(agent.pending, 1000, 'all 1,000 wait in the spool while central is down');

  central = new Central(cfg, quietLogger);
  await central.start();
  await waitFor('1,001 events stored', () => central.log.count() === 1001, 20_000);
  await waitFor('the spool drained', () => agent.pending === 0);
  const events = storedEvents(central.log);
  const seqs = events.map((e) => Number(e.sequence));
  t.equal(new Set(seqs).size, 1001, 'each sequence stored once');
  t.same(seqs, Array.from({ length: 1001 }, (_, i) => i + 1), 'sequences 1..1001, in order');
  const lines = await waitFor('1,001 JSON lines', () => {
    const l = readFileSync(jsonl, 'utf8').trim().split('\n');
    return l.length === 1001 ? l : null;
  });
  const ids = lines.map((l) => (JSON.parse(l) as { id: string }).id);
  t.equal(new Set(ids).size, 1001, 'each event written to the JSON-lines file once');
  const first = JSON.parse(lines[1]!) as Record<string, unknown>;
  t.equal(first.ruleId, 'test-delivery', 'camelCase protobuf JSON names');
  t.equal(first.source, 'SOURCE_AGENT', 'enums by name');
  t.equal(first.sequence, '2', '64-bit integers as strings');
});

t.test('after a restart that lost its acknowledgement, the agent skips what central holds', async (t) => {
  const dir = tempDir('dup');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port);
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  await agent.start();
  await agent.sink.emit([finding(1), finding(2), finding(3)]);
  await waitFor('three stored', () => central.log.count() === 3);
  await agent.stop();
  // Forget the acknowledgement: central's Welcome tells the agent what it already holds.
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path.join(dir, 'agent', 'spool', 'ledger.json'), JSON.stringify({ ackedThrough: 0 }));
  const again = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await again.stop();
    await central.stop();
  });
  await again.start();
  await again.sink.emit([finding(4)]);
  await waitFor('the fourth stored', () => central.log.count() === 4);
  await waitFor('the spool drained', () => again.pending === 0);
  t.equal(central.log.count(), 4, 'each event stored once');
});
