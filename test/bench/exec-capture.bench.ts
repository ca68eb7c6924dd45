// Exec capture, source by source (bpf, audit, connector, poller): bursts of 1k, 5k and 10k
// short-lived execs with unique arguments, then a sustained 1,000 execs/s for 60 s (10 s with
// NW_BENCH_QUICK=1). The execs come from a small C spawner (fork, exec, wait) in a child
// process, so Node is not the bottleneck. Reports captured-with-argv / expected, losses
// counted by the kernel and by the agent, this process's CPU per 1,000 execs and peak RSS.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { AuditSource } from '../../collectors/process/sources/audit-source.js';
import { BpfSource } from '../../collectors/process/sources/bpf-source.js';
import { ConnectorSource } from '../../collectors/process/sources/connector-source.js';
import type { ExecEvent, ExecSource, SourceNotice } from '../../collectors/process/sources/exec-source.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { PollerSource } from '../../collectors/process/sources/poller-source.js';
import { SPAWNER_C, copyTrue, isRoot, removeRulesWithKey, tempDir, uniqueKey } from '../collectors/process/sources/exec-fixtures.js';


interface Row {
  source: string;
  phase: string;
  expected: number;
  withArgv: number;
  withCgroup: number;
  seen: number;
  kernelLost: number;
  agentLost: number;
  cpuPer1k: number;
  readerCpuPer1k: number;
  rssMb: number;
  rate: number;
}

function auditLost(): number {
  const loaded = loadNative();
  if ('error' in loaded) return 0;
  try {
    return loaded.addon.auditStatus().lost;
  } catch {
    return 0;
  }
}

async function runSpawner(spawner: string, n: number, rate: number, bin: string, prefix: string): Promise<{ pid: number; seconds: number }> {
  const child = spawn(spawner, [String(n), String(rate), bin, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve());
  });
  return { pid: child.pid!, seconds: Number(out.trim()) };
}

/** One phase against a running source: run the execs, let the events settle, measure. */
async function phase(
  name: string,
  source: ExecSource,
  tally: { reset(): void; match: (prefix: string, ppid: number) => { withArgv: number; withCgroup: number; seen: number } },
  spawner: string,
  bin: string,
  n: number,
  rate: number,
): Promise<Row> {
  const prefix = `arg-${name.replace(/\W/g, '')}-${Date.now()}`;
  tally.reset();
  const lost0 = auditLost();
  const s0 = source.stats();
  const cpu0 = process.cpuUsage();
  const { pid, seconds } = await runSpawner(spawner, n, rate, bin, prefix);
  // Settle: until all arrived, or no progress for a second (15 s at most).
  let last = -1;
  let still = 0;
  for (let waited = 0; waited < 15_000; waited += 100) {
    const { seen } = tally.match(prefix, pid);
    if (seen >= n) {
      await new Promise((r) => setTimeout(r, 200)); // stragglers of a batch
      break;
    }
    if (seen === last) {
      still += 100;
      if (still >= 1000) break;
    } else still = 0;
    last = seen;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cpu = process.cpuUsage(cpu0);
  const s1 = source.stats();
  const { withArgv, withCgroup, seen } = tally.match(prefix, pid);
  return {
    source: source.name,
    phase: name,
    expected: n,
    withArgv,
    withCgroup,
    seen,
    kernelLost: source.name === 'audit' ? auditLost() - lost0 : s1.lostKernel - s0.lostKernel,
    agentLost: s1.lostAgent - s0.lostAgent + (s1.lostSocket - s0.lostSocket),
    cpuPer1k: (cpu.user + cpu.system) / 1e6 / (n / 1000),
    readerCpuPer1k: ((s1.readerCpuSeconds ?? 0) - (s0.readerCpuSeconds ?? 0)) / (n / 1000),
    rssMb: process.resourceUsage().maxRSS / 1024,
    rate: n / seconds,
  };
}

function printTable(rows: Row[]): void {
  const head = ['source', 'phase', 'with argv / expected', 'with cgroup', 'seen', 'kernel lost', 'agent lost', 'CPU s/1k execs', 'of which reader thread', 'peak RSS MB', 'exec/s'];
  const body = rows.map((r) => [
    r.source,
    r.phase,
    `${r.withArgv} / ${r.expected} (${((100 * r.withArgv) / r.expected).toFixed(1)}%)`,
    String(r.withCgroup),
    String(r.seen),
    String(r.kernelLost),
    String(r.agentLost),
    r.cpuPer1k.toFixed(3),
    r.readerCpuPer1k.toFixed(3),
    r.rssMb.toFixed(0),
    r.rate.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

export default async function execCaptureBench(): Promise<void> {
  if (!isRoot) {
    console.log('exec-capture needs root (audit rules, process connector); skipped');
    return;
  }
  const quick = process.env.NW_BENCH_QUICK === '1';
  const sustainedSeconds = quick ? 10 : 60;
  const dir = tempDir('nw-bench-');
  const bin = copyTrue(dir, 'nw-bench-true');
  const spawner = path.join(dir, 'nw-bench-spawner');
  writeFileSync(`${spawner}.c`, SPAWNER_C);
  execFileSync('cc', ['-O2', '-o', spawner, `${spawner}.c`]);

  const rows: Row[] = [];
  // Baseline: the exec rate with no source listening.
  {
    const { seconds } = await runSpawner(spawner, 5000, 0, bin, 'arg-baseline');
    rows.push({ source: 'none', phase: 'burst 5k', expected: 5000, withArgv: 0, withCgroup: 0, seen: 0, kernelLost: 0, agentLost: 0, cpuPer1k: 0, readerCpuPer1k: 0, rssMb: process.resourceUsage().maxRSS / 1024, rate: 5000 / seconds });
  }

  const key = uniqueKey('nwbench');
  const makers: [string, () => ExecSource][] = [
    ['bpf', () => new BpfSource({ ruleKey: key })],
    ['audit', () => new AuditSource({ ruleKey: key })],
    ['connector', () => new ConnectorSource()],
    ['poller', () => new PollerSource()],
  ];
  for (const [name, make] of makers) {
    const source = make();
    // Index events by argument prefix as they come, so tallies stay cheap.
    const byPrefix = new Map<string, { withArgv: number; withCgroup: number }>();
    const byPpid = new Map<number, number>();
    const notices: SourceNotice[] = [];
    const onBatch = (batch: ExecEvent[]) => {
      for (const e of batch) {
        byPpid.set(e.ppid, (byPpid.get(e.ppid) ?? 0) + 1);
        const a = e.argv[1];
        if (a === undefined || !a.startsWith('arg-')) continue;
        const p = a.slice(0, a.lastIndexOf('-'));
        const t = byPrefix.get(p) ?? { withArgv: 0, withCgroup: 0 };
        t.withArgv++;
        if (e.cgroup !== null) t.withCgroup++;
        byPrefix.set(p, t);
      }
    };
    const tally = {
      // Pids wrap around over tens of thousands of execs: count per phase only.
      reset: () => {
        byPpid.clear();
        byPrefix.clear();
      },
      match: (prefix: string, ppid: number) => ({
        withArgv: byPrefix.get(prefix)?.withArgv ?? 0,
        withCgroup: byPrefix.get(prefix)?.withCgroup ?? 0,
        // Every exec the spawner made has it as parent, argv or not.
        seen: byPpid.get(ppid) ?? 0,
      }),
    };
    try {
      await source.start(onBatch, (n) => notices.push(n));
    } catch (err) {
      console.log(`${name}: cannot start: ${(err as Error).message}`);
      continue;
    }
    try {
      for (const n of [1000, 5000, 10000]) rows.push(await phase(`burst ${n / 1000}k`, source, tally, spawner, bin, n, 0));
      rows.push(await phase(`1000/s for ${sustainedSeconds}s`, source, tally, spawner, bin, 1000 * sustainedSeconds, 1000));
    } finally {
      await source.stop();
      if (name === 'audit') {
        const loaded = loadNative();
        if ('addon' in loaded) removeRulesWithKey(loaded.addon, key);
      }
    }
    const losses = notices.filter((n) => n.kind === 'loss');
    if (losses.length > 0) console.log(`${name}: ${losses.length} loss notice(s), e.g. ${losses[0]!.kind === 'loss' ? losses[0]!.detail : ''}`);
    console.log(`${name} limits: ${source.limits}`);
  }
  console.log('');
  printTable(rows);
  console.log(
    '\nwith cgroup: of those with argv, how many had /proc/PID/cgroup read before the process began to exit. ' +
      'seen: execs reported with the spawner as parent (argv or not). CPU: this whole process (JS + native reader thread), ' +
      'including every other exec on the machine the source reported meanwhile; the reader thread column is the native part.',
  );
}
