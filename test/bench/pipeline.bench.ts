// Pipeline cost: findings → spool (fdatasync per group) → gRPC → central's SQLite, in one
// process. Prints events/s end to end and CPU µs per event (agent and central together, so an
// upper bound for the agent alone), plus RSS.
import path from 'node:path';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import type { Finding } from '../../core/finding.js';
import { freePort, quietLogger, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

export default async function pipelineBench(): Promise<void> {
  const dir = tempDir('bench-pipeline');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port);
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  await agent.start();
  const N = 20_000;
  const f = (i: number): Finding => ({
    source: 'process', ruleId: 'exec-shell-in-container', severity: 'medium', title: 'A shell started in a container',
    message: `sh started in kube-system/coredns-1/coredns: sh -c echo ${i}`, fingerprint: `bench:${i % 100}`,
    process: { pid: 1000 + i, ppid: 1, uid: 0, euid: 0, gid: 0, egid: 0, auid: 4294967295, exe: '/bin/busybox', comm: 'sh', argv: ['sh', '-c', `echo ${i}`], argvTruncated: false, cwd: '/', ancestors: [], capture: 'audit' },
    kubernetes: { namespace: 'kube-system', pod: 'coredns-1', podUid: 'u', container: 'coredns' },
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // Emit in groups of 100 as an exec burst would, without waiting for each.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < N; i += 100) pending.push(agent.sink.emit(Array.from({ length: 100 }, (_, k) => f(i + k))));
  await Promise.all(pending);
  const spooled = performance.now();
  await waitFor('all stored', () => central.log.count() === N, 120_000, 5);
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const us = (cpu.user + cpu.system) / N;
  console.log(`events: ${N}`);
  console.log(`spooled: ${(N / ((spooled - t0) / 1000)).toFixed(0)} events/s`);
  console.log(`stored end to end: ${(N / ((t1 - t0) / 1000)).toFixed(0)} events/s`);
  console.log(`CPU per event (agent + central in one process): ${us.toFixed(1)} µs`);
  console.log(`RSS: ${(process.memoryUsage().rss / 1048576).toFixed(0)} MB`);
  await agent.stop();
  await central.stop();
}
