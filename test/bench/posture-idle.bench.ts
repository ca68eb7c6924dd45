// The posture collector's cost while nothing changes: every watch in place on a hardened worker
// tree, the default periodic re-evaluation, and nothing else running. Prints CPU as a share of
// one core, the number of directories watched, and RSS.
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { NodeFacts } from '../../collectors/node-facts.js';
import { PostureCollector } from '../../collectors/posture/collector.js';
import { postureFactory } from '../../collectors/posture/factory.js';
import { prepareHost } from '../collectors/posture/fixture-host.js';
import { tempDir } from '../helpers/pipeline.js';

export default async function postureIdleBench(): Promise<void> {
  const seconds = process.env.NW_BENCH_QUICK ? 5 : 30;
  const host = await prepareHost('hardened-worker');
  const collector = new PostureCollector(postureFactory.defaults(), {
    hostRoot: host.root, stateDir: tempDir('bench-idle'), node: 'bench', facts: new NodeFacts(),
    sink: { observe: () => undefined, state: async () => [], report: async () => undefined }, logger: pino({ level: 'silent' }), metrics: new Registry(),
  });
  await collector.start();
  await new Promise((r) => setTimeout(r, 500)); // let start-up work settle
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const share = ((cpu.user + cpu.system) / 1000 / wall) * 100;
  console.log(`idle for ${seconds} s with watches in place: ${collector.status().detail}`);
  console.log(`CPU: ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms = ${share.toFixed(3)} % of one core (periodic re-evaluation every ${postureFactory.defaults().intervalMs / 1000} s included)`);
  console.log(`RSS: ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
  await collector.stop();
  await host.cleanup();
}
