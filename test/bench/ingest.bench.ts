// Trusted ingest capacity: the real `nodewarden central` in its own process (so its CPU and RSS
// come from /proc/<pid>, apart from the load), fed by simulated agents in this process, each a
// real gRPC client with its own node certificate and its own HTTP/2 connection.
//   throughput  100 agents sending as fast as their windows allow, over mTLS and in plaintext
//   latency     100 agents paced at 10,000 events/s in total: ack latency percentiles
//   idle        1,000 agents connected over mTLS, no events: central's RSS
// Each phase starts a fresh central (its own data dir) and checks at the end that central stored
// exactly what the agents saw acknowledged. NW_BENCH_QUICK=1 shortens the timed phases;
// NW_CENTRAL_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) are node flags for central.
// Central as a child, the simulated agents and the paced phase's core live in sim-agents.ts.
import { rmSync } from 'node:fs';
import {
  CONNECT_WAVE, checkAgents, checkEncoding, connectAgents, drain, establishedTo, f1, makePki, n0, nowNs, percentile, quick, runPaced,
  startCentral, sumAcked, verify, type Pki, type SimAgent,
} from './sim-agents.js';
import { tempDir } from '../helpers/pipeline.js';

const AGENTS = 100;
const IDLE_AGENTS = 1_000;
const FLOOD_BATCH = 256;
const PACED_TOTAL_RATE = 10_000;
const PACED_EVERY_MS = 100;
const SECONDS = quick ? 5 : 20;
const WARMUP_MS = quick ? 1_000 : 2_000;
const IDLE_HOLD_MS = quick ? 3_000 : 5_000;
// The floors on a 2-core machine.
const FLOOR_EVENTS_PER_S = 30_000;
const FLOOR_P99_MS = 50;
const FLOOR_IDLE_RSS_MB = 300;

// ---- phases -------------------------------------------------------------------------------

interface FloodResult { eventsPerS: number; cpuUsPerEvent: number }

/** 100 agents, each refilling its window on every Ack. */
async function flood(dir: string, label: string, pki: Pki | null): Promise<FloodResult> {
  const central = await startCentral(dir, `flood-${label}`, pki);
  const agents: SimAgent[] = [];
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  try {
    await connectAgents(central, pki, AGENTS, agents);
    const connections = establishedTo(central.port);
    let stamp = nowNs();
    timers.push(setInterval(() => (stamp = nowNs()), 10));
    const fill = (a: SimAgent) => {
      while (!stopping && a.inFlightCount < a.window) a.send(FLOOD_BATCH, stamp);
    };
    for (const a of agents) {
      a.onAck = fill;
      fill(a);
    }
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const c0 = central.usage();
    const g0 = process.cpuUsage();
    const e0 = sumAcked(agents);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    checkAgents(agents);
    const c1 = central.usage();
    const g = process.cpuUsage(g0);
    const e1 = sumAcked(agents);
    const seconds = (performance.now() - t0) / 1000;
    stopping = true;
    await drain(agents);
    const events = e1 - e0;
    const result = { eventsPerS: events / seconds, cpuUsPerEvent: (c1.cpuUs - c0.cpuUs) / events };
    const floor = pki ? ` (floor ≥ ${n0(FLOOR_EVENTS_PER_S)}: ${result.eventsPerS >= FLOOR_EVENTS_PER_S ? 'met' : 'MISSED'})` : '';
    console.log(`${label}: ${AGENTS} agents (${connections} connections), ${FLOOD_BATCH}-event batches, window ${agents[0]!.window}, ${SECONDS} s: ${n0(result.eventsPerS)} events/s stored${floor}`);
    console.log(`${label}: ${f1(result.cpuUsPerEvent)} µs central CPU/event, central at ${n0(((c1.cpuUs - c0.cpuUs) / 1e6 / seconds) * 100)}% of a core, central RSS peak ${n0(c1.hwmMb)} MB (VmHWM); generator at ${n0(((g.user + g.system) / 1e6 / seconds) * 100)}% of a core`);
    await verify(label, central, agents);
    return result;
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    for (const a of agents) a.close();
    await central.stop();
  }
}

/** 100 agents together at 10,000 events/s: each sends what it owes every 100 ms. */
async function paced(dir: string, pki: Pki): Promise<void> {
  const central = await startCentral(dir, 'paced', pki);
  const agents: SimAgent[] = [];
  try {
    await connectAgents(central, pki, AGENTS, agents);
    const r = await runPaced(central, agents, { totalRate: PACED_TOTAL_RATE, everyMs: PACED_EVERY_MS, warmupMs: WARMUP_MS, seconds: SECONDS });
    const { latenciesMs: latencies, seconds, eventsPerS: rate } = r;
    const pct = (p: number) => percentile(latencies, p);
    const p99 = pct(99);
    console.log(`latency (tls): ${AGENTS} agents paced at ${n0(PACED_TOTAL_RATE)} events/s (${r.perBatch} events every ${PACED_EVERY_MS} ms each), ${SECONDS} s: ${n0(rate)} events/s stored, ${n0(latencies.length / seconds)} acks/s, ${f1((rate * seconds) / latencies.length)} events per batch`);
    console.log(`latency (tls): ack p50 ${f1(pct(50))} ms, p99 ${f1(p99)} ms, max ${f1(latencies[latencies.length - 1] ?? NaN)} ms (floor p99 < ${FLOOR_P99_MS} ms: ${p99 < FLOOR_P99_MS ? 'met' : 'MISSED'}); ${n0(r.windowFull)} times an agent owed events but its window was full`);
    console.log(`latency (tls): central at ${n0((r.centralCpuUs / 1e6 / seconds) * 100)}% of a core, ${f1(r.centralCpuUs / (rate * seconds))} µs/event, RSS ${n0(r.central.rssMb)} MB; generator at ${n0((r.generatorCpuUs / 1e6 / seconds) * 100)}% of a core`);
    await verify('latency (tls)', central, agents);
  } finally {
    for (const a of agents) a.close();
    await central.stop();
  }
}

/** 1,000 agents connected over mTLS, welcomed, sending nothing. */
async function idle(dir: string, pki: Pki): Promise<void> {
  const central = await startCentral(dir, 'idle', pki);
  const agents: SimAgent[] = [];
  try {
    const before = central.usage();
    const t0 = performance.now();
    await connectAgents(central, pki, IDLE_AGENTS, agents);
    const connectS = (performance.now() - t0) / 1000;
    const c0 = central.usage();
    await new Promise((r) => setTimeout(r, IDLE_HOLD_MS));
    checkAgents(agents);
    const c1 = central.usage();
    const streams = await central.metric('nodewarden_ingest_streams');
    const connections = establishedTo(central.port);
    console.log(`idle (tls): ${n0(IDLE_AGENTS)} agents connected in ${f1(connectS)} s (waves of ${CONNECT_WAVE}; central ${f1((c0.cpuUs - before.cpuUs) / IDLE_AGENTS / 1000)} ms CPU per handshake + hello); ${connections} connections, ${n0(streams)} streams open at central`);
    console.log(`idle (tls): central RSS ${n0(c1.rssMb)} MB after ${IDLE_HOLD_MS / 1000} s held (${n0(before.rssMb)} MB before any agent, peak ${n0(c1.hwmMb)} MB) (floor < ${FLOOR_IDLE_RSS_MB} MB: ${c1.hwmMb < FLOOR_IDLE_RSS_MB ? 'met' : 'MISSED'}); central CPU while idle ${f1(((c1.cpuUs - c0.cpuUs) / 1e6 / (IDLE_HOLD_MS / 1000)) * 100)}% of a core; generator RSS ${n0(process.memoryUsage().rss / 1048576)} MB`);
    if (streams !== IDLE_AGENTS) process.exitCode = 1;
  } finally {
    for (const a of agents) a.close();
    await central.stop();
  }
}

// ---- the benchmark ------------------------------------------------------------------------

export default async function ingestBench(): Promise<void> {
  const dir = tempDir('bench-ingest');
  try {
    const eventBytes = checkEncoding();
    const t0 = performance.now();
    const pki = await makePki(dir, IDLE_AGENTS);
    console.log(`note: 2 cores: this process (the load generator) competes with central for CPU; central's CPU and RSS are its own, from /proc/<pid>`);
    console.log(`setup: events of ${eventBytes} bytes; CA, server and ${n0(IDLE_AGENTS)} node certificates issued in ${f1((performance.now() - t0) / 1000)} s; every agent has its own certificate and connection`);
    const tls = await flood(dir, 'tls', pki);
    const plain = await flood(dir, 'plaintext', null);
    console.log(`tls/plaintext: events/s ${(tls.eventsPerS / plain.eventsPerS).toFixed(2)}×, central CPU/event ${(tls.cpuUsPerEvent / plain.cpuUsPerEvent).toFixed(2)}×`);
    await paced(dir, pki);
    await idle(dir, pki);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
