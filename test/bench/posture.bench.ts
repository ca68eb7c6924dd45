// Posture benchmark: the time for one full evaluation (discovery, every check, certificates) on
// each fixture host, and for discovery alone against this machine's real /proc, which is what
// the collector repeats when the kubelet restarts. Target: well under 20 ms per evaluation.

import { HostFs } from '../../collectors/host/host-fs.js';
import { evaluateNode, discoverNode } from '../../collectors/posture/index.js';
import { prepareHost } from '../collectors/posture/fixture-host.js';
import { readdirSync } from 'node:fs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { checkObservation } from '../../collectors/posture/collector.js';
import { RuleEngine } from '../../rules/engine.js';
import { loadRuleset } from '../../rules/ruleset.js';

const rules = (() => {
  const r = loadRuleset({ dirs: [] });
  if (!r.ok) throw new Error('the built-in rules do not load');
  return r;
})();
const engine = new RuleEngine(rules.ruleset, { sink: { emit: async () => undefined }, logger: pino({ level: 'silent' }), registry: new Registry(), stateDir: null, repeatWindowMs: 0 });

const WARMUP = 20;
const RUNS = 200;

function stats(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return `mean ${mean.toFixed(2)} ms, p50 ${q(0.5).toFixed(2)} ms, p95 ${q(0.95).toFixed(2)} ms, max ${s[s.length - 1]!.toFixed(2)} ms`;
}

async function time(fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

export default async function bench(): Promise<void> {
  for (const name of ['hardened-worker', 'misconfigured-worker', 'control-plane']) {
    const host = await prepareHost(name);
    try {
      const first = await evaluateNode(host.fs, { now: host.now });
      const samples = await time(() => evaluateNode(host.fs, { now: host.now }));
      console.log(`evaluateNode ${name} (${first.results.length} results): ${stats(samples)}`);
      // What the agent adds: every result judged by the posture rules (a fresh observation each
      // time, as the collector makes them, so nothing is memoised).
      const config = first.discovery.kubelet.configFile?.hostPath ?? '';
      const judge = await time(async () => {
        for (const r of first.results) engine.judgeState(checkObservation(r, 'bench', config));
      });
      console.log(`  judged by the ${rules.ruleset.rules.filter((x) => x.source === 'posture').length} posture rules: ${stats(judge)}`);
    } finally {
      await host.cleanup();
    }
  }
  const procs = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  const root = new HostFs('/');
  console.log(`discoverNode on this machine's /proc (${procs} processes): ${stats(await time(() => discoverNode(root)))}`);
  console.log(`evaluateNode on this machine (host root /): ${stats(await time(() => evaluateNode(root)))}`);
}
