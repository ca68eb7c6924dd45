// Fair limits per node: a node flooding at 10× its events-per-second budget is slowed by
// withheld acknowledgements (its spool absorbs the flood) and loses nothing, while another
// node's acknowledgements stay fast. Token buckets are unit-tested below.
import t from 'tap';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { Budgets } from '../../central/budget.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor } from '../helpers/pipeline.js';

t.test('a budget lets a burst through at once and paces what follows', async (t) => {
  let now = 0;
  const b = new Budgets({ eventsPerSecond: 1000, burst: 500, now: () => now });
  t.equal(b.take('a', 500), 0, 'the burst is free');
  t.equal(b.take('a', 100), 100, '100 more events wait 100 ms');
  t.equal(b.take('b', 500), 0, 'another node has its own bucket');
  now += 1000;
  t.equal(b.take('a', 100), 0, 'a second later the debt is paid and the bucket refilled');
});

t.test('a batch larger than the burst waits for its share and is never refused', async (t) => {
  let now = 0;
  const b = new Budgets({ eventsPerSecond: 100, burst: 10, now: () => now });
  t.equal(b.take('a', 60), 500);
  now += 500;
  t.equal(b.take('a', 0), 0);
});

t.test('a node sending few but huge events is paced by its bytes budget', async (t) => {
  let now = 0;
  const b = new Budgets({ eventsPerSecond: 1000, burst: 1000, bytesPerSecond: 1_000_000, burstBytes: 1_000_000, now: () => now });
  t.equal(b.take('a', 1, 1_000_000), 0, 'the byte burst is free');
  t.equal(b.take('a', 1, 500_000), 500, 'half a megabyte more waits half a second');
  now += 2000;
  t.equal(b.take('a', 1, 1000), 0);
});

t.test('idle buckets are forgotten', async (t) => {
  let now = 0;
  const b = new Budgets({ eventsPerSecond: 100, burst: 10, now: () => now, idleMs: 1000 });
  b.take('a', 1);
  now = 5000;
  b.take('b', 1);
  t.equal(b.size, 1);
});

const metric = async (reg: { getSingleMetricAsString: (n: string) => Promise<string> }, name: string): Promise<string> => reg.getSingleMetricAsString(name);

t.test('a node flooding at 10× its budget loses nothing; the other node is never held back', async (t) => {
  const dir = tempDir('fair');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const common = { 'central.listen': `127.0.0.1:${port}`, 'agent.central': `127.0.0.1:${port}`, 'central.dataDir': path.join(dir, 'central') };
  const budget = 1000;
  const central = new Central(testConfig({ ...common, 'central.limits.eventsPerSecond': budget, 'central.limits.burst': budget }), quietLogger);
  await central.start();
  t.teardown(() => central.stop());
  const flooder = new Agent(testConfig({ ...common, node: 'flooder', stateDir: path.join(dir, 'flooder') }), quietLogger);
  const quiet = new Agent(testConfig({ ...common, node: 'quiet', stateDir: path.join(dir, 'quiet') }), quietLogger);
  t.teardown(() => flooder.stop());
  t.teardown(() => quiet.stop());
  await flooder.start();
  await quiet.start();

  const finding = (node: string, i: number) => ({ source: 'agent' as const, ruleId: 'flood', severity: 'info' as const, title: 't', message: `${node} ${i}`, fingerprint: `${node}:${i}` });
  const floodTotal = 10 * budget; // one second at 10× the budget
  let quietSent = 0;
  let maxPending = 0;
  const quietEmits: Promise<void>[] = [];
  const quietTicker = setInterval(() => {
    quietEmits.push(quiet.sink.emit([finding('quiet', quietSent++)]));
    maxPending = Math.max(maxPending, flooder.pending);
  }, 20);
  for (let i = 0; i < floodTotal; i += 500) {
    await flooder.sink.emit(Array.from({ length: 500 }, (_, k) => finding('flooder', i + k)));
    await new Promise((r) => setTimeout(r, 50));
  }
  await waitFor('the flood stored', () => central.log.events({ nodes: ['flooder'], limit: 1 }).length > 0 && flooder.pending === 0, 30_000, 50);
  clearInterval(quietTicker);
  await Promise.all(quietEmits);
  await waitFor('the quiet node stored', () => quiet.pending === 0, 10_000);

  const count = (node: string) => central.log.events({ nodes: [node], limit: 10_000 }).length;
  t.equal(count('flooder'), floodTotal, 'every flood event is stored');
  t.equal(count('quiet'), quietSent, 'every quiet event is stored');
  t.ok(maxPending > budget, `the flooder's spool absorbed the flood (${maxPending} pending at most)`);
  t.match(await metric(central.registry, 'nodewarden_ingest_flow_control_seconds_total'), /total [1-9]/, 'central withheld acknowledgements');
  t.notMatch(await metric(central.registry, 'nodewarden_events_dropped_total'), /\} [1-9]/, 'nothing dropped');

  // The quiet node's acknowledgement latency, from its shipper's histogram.
  const hist = (await quiet.registry.getMetricsAsJSON()).find((m) => m.name === 'nodewarden_shipper_ack_latency_seconds')!;
  const values = hist.values as { metricName?: string; value: number; labels: { le?: number | string } }[];
  const total = values.find((v) => v.metricName?.endsWith('_count'))!.value;
  const under = (le: number) => values.find((v) => v.metricName?.endsWith('_bucket') && Number(v.labels.le) === le)!.value;
  t.ok(total > 50, `the quiet node sent ${total} batches`);
  // Withheld acknowledgements wait for the flooder's budget to refill: a second and more. The
  // quiet node's must not: its p99 under 100 ms, as the issue asks, and none anywhere near a
  // withheld one.
  t.equal(under(0.5), total, `every acknowledgement of the quiet node within 500 ms (${under(0.1)}/${total} within 100 ms)`);
  t.ok(under(0.1) / total >= 0.99, `p99 within 100 ms (${under(0.1)}/${total})`);
});
