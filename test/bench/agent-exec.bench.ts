// The whole agent's cost per exec, everything included: audit source, native reader, enrichment
// (cgroup → container → pod through the CRI inventory), scope, detections, spool. Execs run
// inside a kube-system pod of the node-box (a static C spawner copied into the container execs
// /bin/true with unique arguments), so every one of them is in scope. Central runs in the same
// process and is idle (no detections fire on /bin/true), so the CPU shown is the agent's.
// Bursts of 1k, 5k and 10k, then a sustained 1,000/s for 60 s (10 s with NW_BENCH_QUICK=1).
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Counter } from 'prom-client';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { SPAWNER_C } from '../collectors/process/sources/exec-fixtures.js';
import { startNodeBox } from '../e2e/node-box.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor } from '../helpers/pipeline.js';

const KEY = 'nw-bench-agent';

export default async function agentExecBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('skipped: needs root (the kernel audit stream)');
    return;
  }
  const native = loadNative();
  if ('error' in native) throw native.error;
  const box = await startNodeBox();
  if ('skip' in box) {
    console.log(`skipped: ${box.skip}`);
    return;
  }
  const dir = tempDir('bench-agent-exec');
  const port = await freePort();
  const cfg = testConfig({
    stateDir: path.join(dir, 'agent'), 'central.dataDir': path.join(dir, 'central'),
    'central.listen': `127.0.0.1:${port}`, 'agent.central': `127.0.0.1:${port}`,
    'agent.collectors': {
      runtime: { socket: box.socket, containerdStateDir: box.stateDir },
      process: { source: 'audit', ruleKey: KEY },
    },
  });
  const central = new Central(cfg, quietLogger);
  const agent = new Agent(cfg, quietLogger);
  try {
    const pod = await box.runPod({ name: 'bench-app-6d4f9', containerName: 'app' });
    await central.start();
    await agent.start();
    const c = await waitFor('the pod in the inventory', () => agent.facts.inventory.lookup(pod.containerId), 20_000);

    // A static spawner, dropped into the container's /tmp from the host.
    const src = path.join(dir, 'spawner.c');
    writeFileSync(src, SPAWNER_C);
    execFileSync('gcc', ['-O2', '-static', '-o', path.join(dir, 'spawner'), src]);
    const inside = `/proc/${c.pid}/root/tmp/nw-spawner`;
    copyFileSync(path.join(dir, 'spawner'), inside);
    chmodSync(inside, 0o755);

    const counter = agent.registry.getSingleMetric('nodewarden_exec_events_total') as Counter;
    const inScope = async () => (await counter.get()).values.filter((v) => v.labels.scope === 'in').reduce((n, v) => n + v.value, 0);
    const quick = process.env.NW_BENCH_QUICK === '1';
    const phases = [
      { name: 'burst 1k', n: 1000, rate: 0 },
      { name: 'burst 5k', n: 5000, rate: 0 },
      { name: 'burst 10k', n: 10000, rate: 0 },
      { name: `1000/s for ${quick ? 10 : 60} s`, n: quick ? 10_000 : 60_000, rate: 1000 },
    ];
    console.log('phase              expected  captured  ratio     exec/s  agent CPU µs/exec  kernel lost  RSS MB');
    let peakRss = 0;
    for (const ph of phases) {
      const lost0 = native.addon.auditStatus().lost;
      const seen0 = await inScope();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await box.execSync(pod.containerId, ['/tmp/nw-spawner', String(ph.n), String(ph.rate), '/bin/true', `nwb-${ph.n}`], 600);
      const elapsed = Number(r.stdout.trim()) || (performance.now() - t0) / 1000;
      const expected = ph.n + 1; // the spawner's own exec is in scope too
      let last = -1;
      await waitFor('the agent caught up', async () => {
        const now = await inScope();
        const done = now - seen0 >= expected || now === last;
        last = now;
        return done;
      }, 60_000, 500);
      const cpu = process.cpuUsage(cpu0);
      const captured = (await inScope()) - seen0;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      const us = (cpu.user + cpu.system) / captured;
      console.log(`${ph.name.padEnd(18)} ${String(expected).padStart(8)}  ${String(captured).padStart(8)}  ${(captured / expected * 100).toFixed(2).padStart(6)}%  ${(ph.n / elapsed).toFixed(0).padStart(7)}  ${us.toFixed(1).padStart(17)}  ${String(native.addon.auditStatus().lost - lost0).padStart(11)}  ${(process.memoryUsage().rss / 1048576).toFixed(0).padStart(6)}`);
    }
    console.log(`peak RSS of this process (agent + central + test harness): ${(peakRss / 1048576).toFixed(0)} MB`);
  } finally {
    await agent.stop();
    await central.stop();
    for (const r of native.addon.auditListRules()) if (r.key === KEY) native.addon.auditDelRule(r.raw);
    await box.close();
  }
}
