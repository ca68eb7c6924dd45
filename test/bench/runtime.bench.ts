// Inventory refresh cost with 200 containers in a real containerd (the node-box: 10 kube-system
// pods of 20 containers each, so 10 shims, not 200). Measures the whole collector refresh (Status,
// ListPodSandbox, ListContainers, the task scan, checks, lifecycle) as the agent runs it every
// pollIntervalMs: wall time, the agent's CPU, and containerd's CPU serving it.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { NodeFacts } from '../../collectors/node-facts.js';
import type { RuntimeCollector } from '../../collectors/runtime/collector.js';
import { runtimeCollectorFactory } from '../../collectors/runtime/factory.js';
import { startNodeBox } from '../e2e/node-box.js';
import { ruleSink } from '../helpers/rule-sink.js';

const PODS = 10;
const PER_POD = 20;
const ROUNDS = 50;
const PERIOD_S = 10;

/** utime+stime of a process in seconds, from /proc/PID/stat (clock ticks at 100 Hz on Linux). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export default async function bench(): Promise<void> {
  const box = await startNodeBox();
  if ('skip' in box) {
    console.log(`skipped: ${box.skip}`);
    return;
  }
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nw-rt-bench-'));
  let collector: RuntimeCollector | null = null;
  try {
    const t0 = Date.now();
    for (let p = 0; p < PODS; p++) {
      const pod = await box.runPod({ name: `bench-${p}`, containerName: 'c0', hostNetwork: false, privileged: p % 3 === 0 });
      for (let c = 1; c < PER_POD; c++) await box.addContainer(pod, `c${c}`);
    }
    const total = (await box.cri.listContainers()).length;
    console.log(`created ${total} containers in ${PODS} pods in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const cfg = runtimeCollectorFactory.validate({ socket: box.socket, containerdStateDir: box.stateDir, pollIntervalMs: 3_600_000, useEvents: false });
    if (!cfg.ok) throw new Error(cfg.errors.join('; '));
    let findings = 0;
    collector = runtimeCollectorFactory.create(cfg.config, {
      hostRoot: '/',
      stateDir,
      node: 'bench',
      // The real rule engine judges every refresh, as in the agent.
      sink: ruleSink({ collector: 'runtime', onEmit: (fs) => { findings += fs.length; } }).sink,
      logger: pino({ level: 'silent' }),
      metrics: new Registry(),
      facts: new NodeFacts(),
    }) as RuntimeCollector;

    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await collector.start(); // the first refresh: one verbose ContainerStatus per container
    const coldWall = Number(process.hrtime.bigint() - w0) / 1e6;
    const coldCpu = (() => {
      const d = process.cpuUsage(cpu0);
      return (d.user + d.system) / 1000;
    })();
    console.log(`cold refresh (${total} verbose statuses): ${coldWall.toFixed(1)} ms wall, ${coldCpu.toFixed(1)} ms agent CPU, ${findings} findings opened`);

    const ctrdPid = box.containerdPid!;
    const ctrd0 = procCpuSeconds(ctrdPid);
    const cpu1 = process.cpuUsage();
    const walls: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const s = process.hrtime.bigint();
      await collector.refreshNow();
      walls.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const d = process.cpuUsage(cpu1);
    const agentMs = (d.user + d.system) / 1000 / ROUNDS;
    const ctrdMs = ((procCpuSeconds(ctrdPid) - ctrd0) * 1000) / ROUNDS;
    walls.sort((a, b) => a - b);
    const p50 = walls[Math.floor(ROUNDS / 2)]!;
    const p95 = walls[Math.floor(ROUNDS * 0.95)]!;
    console.log(`steady refresh x${ROUNDS}: wall p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
    console.log(`  agent CPU per refresh: ${agentMs.toFixed(2)} ms -> ${((agentMs / (PERIOD_S * 1000)) * 100).toFixed(3)} % of a core at a ${PERIOD_S} s period`);
    console.log(`  containerd CPU per refresh (10 ms tick resolution): ${ctrdMs.toFixed(2)} ms -> ${((ctrdMs / (PERIOD_S * 1000)) * 100).toFixed(3)} % of a core`);
    console.log(`  inventory: ${collector.inventory.size} containers; findings emitted in steady state: ${findings} total (no repeats expected)`);
    console.log(`  agent RSS ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB`);
  } finally {
    await collector?.stop();
    await box.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
