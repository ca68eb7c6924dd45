// What sinks cost ingest, and how fast each one delivers: the real `nodewarden central` as a child
// process fed by 100 simulated agents over mTLS (sim-agents.ts), with a receiver for every sink
// type in a third process (receivers.ts), so that their parsing does not share an event loop with
// the agents whose ack latencies are measured.
//   baseline  no sinks; agents paced at 10,000 events/s: events/s stored, ack p50/p99, central CPU, RSS
//   sinks     the same with all seven sink types attached and the webhook's receiver down (503):
//             the ratio to the baseline (target: within 20%), and what each sink delivered meanwhile
//   drain     a backlog of 100,000 stored events, then each sink alone from a fresh cursor against
//             its receiver (down until central is ready, then up): events/s until it has delivered
//             them all, central CPU per event; then all seven at once
// The receivers count events and keep no bodies (the sinks send ~100 MB/s at 10,000 events/s, so
// test/helpers/http-recorder.ts, which keeps every request, cannot be used here); each answers as
// its real service does on success. NW_BENCH_QUICK=1 shortens the timed phases and the backlog;
// NW_CENTRAL_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) are node flags for central.
// Each paced phase prints central's CPU by thread (ingest's, the idle-priority sink thread's, the
// rest) and how long ingest's thread waited for a CPU; NW_BENCH_THREADS=1 adds every thread's share.
//
//   agents ─mTLS─▶ central ─┬─ jsonl, ocsf ──────────▶ files in the temp dir
//                           ├─ webhook ──────────────▶ HTTP counter (503 in the "sinks" phase)
//                           ├─ elastic (_bulk) ──────▶ HTTP counter (items: 201 each)
//                           ├─ splunk (HEC) ─────────▶ HTTP counter ({"code":0})
//                           ├─ oncall (Alertmanager) ▶ HTTP counter (200)
//                           └─ syslog (TCP) ─────────▶ octet-counted frame counter
import { createReadStream, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkAgents, checkEncoding, connectAgents, f1, makePki, n0, nowNs, percentile, quick, runPaced, sample, sleep, startCentral, sumAcked, verify,
  type CentralChild, type Pki, type SimAgent,
} from './sim-agents.js';
import { tempDir, waitFor } from '../helpers/pipeline.js';
import { type ReceiverName, type Receivers, occurrences, startReceivers } from './receivers.js';

const AGENTS = 100;
const RATE = 10_000;
const EVERY_MS = 100;
const SECONDS = quick ? 5 : 20;
const WARMUP_MS = quick ? 1_000 : 2_000;
const BACKLOG = quick ? 20_000 : 100_000;
const BACKLOG_BATCH = 250;
/** A sink still draining after this long is reported with what it delivered by then. */
const DRAIN_TIMEOUT_MS = 300_000;
const SCRAPE_EVERY_MS = 50;
// The issue's target: ingest with every sink attached (one of them down) within 20% of no sinks.
const TARGET_SHARE = 0.2;
/** Alternating baseline/sinks runs (their medians are compared). */
const ROUNDS = quick ? 1 : 3;

const DELIVERED = 'nodewarden_sink_events_delivered_total';

/** Lines in a file (a file sink's events), read in a stream. */
async function lines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) n += occurrences(chunk as Buffer, Buffer.from('\n'));
  return n;
}

/** A file sink's file. */
const outFile = (dir: string, sink: string) => path.join(dir, `sink-${sink}.jsonl`);

/** One sink of the seven: its config under a run's name, and what its receiver counted. */
interface SinkSpec {
  /** The sink's name in the issue's list (and its metric label in the "sinks" phase). */
  name: string;
  type: string;
  config(name: string, dir: string): Record<string, unknown>;
  /** Events the receiver counted (a file: its lines). */
  received(name: string, dir: string): Promise<number>;
  reset(): Promise<void>;
  /** Take the receiver down (503, or refusing connections) or up; a file is always up. */
  setDown(down: boolean): Promise<void>;
  /** A new cursor of this type starts at the newest event (Alertmanager's: it pages from now on). */
  startsAtNewest?: boolean;
}

function sinkSpecs(rx: Receivers, tokenFile: string): SinkSpec[] {
  const file = (type: string): SinkSpec => ({
    name: type, type,
    config: (name, dir) => ({ name, type, path: outFile(dir, name) }),
    received: (name, dir) => lines(outFile(dir, name)),
    reset: async () => undefined,
    setDown: async () => undefined,
  });
  const remote = (name: string, type: string, r: ReceiverName, keys: Record<string, unknown>): SinkSpec => ({
    name, type,
    config: (n) => ({ name: n, type, ...keys }),
    received: () => rx.count(r),
    reset: () => rx.reset(r),
    setDown: (down) => rx.setDown(r, down),
  });
  return [
    file('jsonl'),
    file('ocsf'),
    remote('webhook', 'webhook', 'webhook', { url: `${rx.urls.webhook}/nodewarden` }),
    remote('elastic', 'elasticsearch', 'elastic', { url: rx.urls.elastic }),
    remote('splunk', 'splunk-hec', 'splunk', { url: rx.urls.splunk, token: { file: tokenFile } }),
    remote('syslog', 'syslog', 'syslog', { address: rx.syslogAddress, transport: 'tcp' }),
    // Every benchmark event is high: the filter passes them all, so on-call carries the full load.
    { ...remote('oncall', 'alertmanager', 'oncall', { urls: [rx.urls.oncall], filter: { minSeverity: 'high' } }), startsAtNewest: true },
  ];
}

const sinksYaml = (configs: Record<string, unknown>[]): string[] => (configs.length === 0 ? [] : [`  sinks: ${JSON.stringify(configs)}`]);

// ---- paced ingest, with and without sinks -------------------------------------------------

interface IngestFigures { eventsPerS: number; p50: number; p99: number; cpuUsPerEvent: number; centralP50: number; centralP99: number; commitP50: number; commitP99: number }

/** Central's histograms read here: acknowledgement latency, and the group commit's time (store and fsync). */
const ACK_HISTOGRAM = 'nodewarden_ingest_ack_seconds';
const COMMIT_HISTOGRAM = 'nodewarden_event_log_commit_seconds';

/** The cumulative buckets (upper bound in ms → count) of one of central's histograms in one scrape. */
function buckets(text: string, histogram: string): Map<number, number> {
  const out = new Map<number, number>();
  const prefix = `${histogram}_bucket{le="`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const m = /^"?([^"]+)"\} (\d+)$/.exec(line.slice(prefix.length));
    if (m) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]) * 1000, Number(m[2]));
  }
  return out;
}

/**
 * A percentile (ms) of what a histogram of central's observed between two scrapes, interpolated
 * within its bucket as Prometheus's histogram_quantile does; NaN without any observation.
 */
function histogramPercentile(start: Map<number, number>, end: Map<number, number>, p: number): number {
  const bounds = [...end.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (end.get(b) ?? 0) - (start.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const rank = (p / 100) * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    const below = i === 0 ? 0 : counts[i - 1]!;
    if (bounds[i] === Infinity) return lower;
    return lower + (bounds[i]! - lower) * ((rank - below) / Math.max(1, counts[i]! - below));
  }
  return NaN;
}

async function pacedPhase(dir: string, pki: Pki, id: string, label: string, specs: SinkSpec[], rx: Receivers | null): Promise<IngestFigures> {
  const central = await startCentral(dir, id, pki, { yaml: sinksYaml(specs.map((s) => s.config(s.name, dir))) });
  const agents: SimAgent[] = [];
  try {
    await connectAgents(central, pki, AGENTS, agents);
    const at: Record<'start' | 'end', string> = { start: '', end: '' };
    const rxCpu: Record<'start' | 'end', number> = { start: 0, end: 0 };
    const r = await runPaced(central, agents, {
      totalRate: RATE, everyMs: EVERY_MS, warmupMs: WARMUP_MS, seconds: SECONDS,
      mark: async (when) => {
        if (rx) rxCpu[when] = rx.cpuSeconds();
        at[when] = await central.metrics();
      },
    });
    const lat = r.latenciesMs;
    const [b0, b1] = [buckets(at.start, ACK_HISTOGRAM), buckets(at.end, ACK_HISTOGRAM)];
    const [c0, c1] = [buckets(at.start, COMMIT_HISTOGRAM), buckets(at.end, COMMIT_HISTOGRAM)];
    const figures = {
      eventsPerS: r.eventsPerS, p50: percentile(lat, 50), p99: percentile(lat, 99), cpuUsPerEvent: r.centralCpuUs / (r.eventsPerS * r.seconds),
      centralP50: histogramPercentile(b0, b1, 50), centralP99: histogramPercentile(b0, b1, 99),
      commitP50: histogramPercentile(c0, c1, 50), commitP99: histogramPercentile(c0, c1, 99),
    };
    console.log(`${label}: ${AGENTS} agents over mTLS paced at ${n0(RATE)} events/s, ${SECONDS} s: ${n0(r.eventsPerS)} events/s stored; ack p50 ${f1(figures.p50)} ms, p99 ${f1(figures.p99)} ms, max ${f1(lat[lat.length - 1] ?? NaN)} ms (in central, from a batch's arrival to its ack: p50 ${f1(figures.centralP50)} ms, p99 ${f1(figures.centralP99)} ms, of which group commits p50 ${f1(figures.commitP50)} ms, p99 ${f1(figures.commitP99)} ms; write-ahead log ${n0((sample(at.end, 'nodewarden_event_log_wal_frames') ?? NaN) * 4 / 1024)} MiB at the end); ${n0(r.windowFull)} times an agent's window was full`);
    console.log(`${label}: central at ${n0((r.centralCpuUs / 1e6 / r.seconds) * 100)}% of a core, ${f1(figures.cpuUsPerEvent)} µs/event, RSS ${n0(r.central.rssMb)} MB (peak ${n0(r.central.hwmMb)} MB); this process (agents) at ${n0((r.generatorCpuUs / 1e6 / r.seconds) * 100)}% of a core${rx ? `, the receivers at ${n0(((rxCpu.end - rxCpu.start) / r.seconds) * 100)}%` : ''}`);
    // Where central's CPU went, and whether ingest's thread was kept waiting for a CPU.
    const share = (a: number, b: number) => `${n0(((a - b) / 1e6 / r.seconds) * 100)}%`;
    const [u0, u1] = [r.centralStart, r.central];
    console.log(`${label}: central's threads: main (ingest) ${share(u1.mainUs, u0.mainUs)} of a core, idle-priority (sinks) ${share(u1.idleUs, u0.idleUs)}, the others (V8's helpers, libuv's pool, the checkpointer) ${share(u1.otherUs, u0.otherUs)}; main waited for a CPU ${n0((u1.mainWaitUs - u0.mainWaitUs) / 1000 / r.seconds)} ms a second`);
    if (process.env.NW_BENCH_THREADS) console.log(`${label}: by thread: ${[...u1.byThread].map(([tid, us]) => `${tid} ${share(us, u0.byThread.get(tid) ?? 0)}`).join(', ')}`);
    await verify(label, central, agents);
    if (rx) await sinksDuring(dir, label, central, specs, rx, at, r.seconds);
    return figures;
  } finally {
    for (const a of agents) a.close();
    await central.stop();
    // Hundreds of MB each: gone once read.
    rmSync(path.join(dir, id), { recursive: true, force: true });
    for (const s of specs) if (s.type === 'jsonl' || s.type === 'ocsf') rmSync(outFile(dir, s.name), { force: true });
  }
}

/** What each sink delivered in the measured window, how far behind it is, and what its receiver saw. */
async function sinksDuring(dir: string, label: string, central: CentralChild, specs: SinkSpec[], rx: Receivers, at: Record<'start' | 'end', string>, seconds: number): Promise<void> {
  // The paced run ends once every batch is acknowledged; give the sinks that keep up a moment to
  // pass the last of them before reading their lag.
  await sleep(1_000);
  const now = await central.metrics();
  const stored = sample(now, 'nodewarden_ingest_events_stored_total') ?? NaN;
  const parts: string[] = [];
  const short: string[] = [];
  for (const s of specs) {
    const d = (text: string) => sample(text, DELIVERED, { sink: s.name }) ?? 0;
    const rate = (d(at.end) - d(at.start)) / seconds;
    const delivered = d(now);
    const down = s.name === 'webhook' ? ` (down: ${n0(await rx.unavailable('webhook'))} requests answered 503)` : '';
    // Every event passes every filter and the log is fresh: a sink's lag is what it has not delivered.
    parts.push(`${s.name} ${n0(rate)}/s${down}, lag ${n0(stored - delivered)}`);
    // At-least-once: a receiver counts an event before its sink hears that it was taken.
    const received = await s.received(s.name, dir);
    if (received < delivered) short.push(`${s.name} counted ${n0(received)} of ${n0(delivered)}`);
  }
  console.log(`${label}: each sink's deliveries in the window and lag 1 s after the last ack: ${parts.join('; ')}`);
  console.log(`${label}: check: every receiver counted at least what its sink delivered: ${short.length === 0 ? 'ok' : `MISMATCH (${short.join('; ')})`}`);
  if (short.length > 0 || (await rx.malformed()) > 0) process.exitCode = 1;
}

// ---- draining a backlog -------------------------------------------------------------------

/** `total` events from the agents as fast as their windows allow. */
async function storeBacklog(agents: SimAgent[], total: number): Promise<number> {
  const perAgent = Math.ceil(total / agents.length);
  const t0 = performance.now();
  const fill = (a: SimAgent) => {
    while (a.inFlightCount < a.window && a.sent < perAgent) a.send(Math.min(BACKLOG_BATCH, perAgent - a.sent), nowNs());
  };
  for (const a of agents) {
    a.onAck = fill;
    fill(a);
  }
  await waitFor('the backlog stored', () => {
    checkAgents(agents);
    return sumAcked(agents) >= perAgent * agents.length;
  }, 120_000, 20);
  return (performance.now() - t0) / 1000;
}

interface Drain {
  /** Events per second from the receivers' coming up to the last event (NaN when too fast to time). */
  eventsPerS: number;
  /** Events the rate covers: the backlog, less what a file sink wrote before the first reading. */
  timed: number;
  seconds: number;
  /** Central's CPU per event timed (when the sink drains alone). */
  cpuUsPerEvent: number;
  delivered: number;
  received: number;
  done: boolean;
}

/**
 * Central on the backlog's event log with `specs` attached under fresh names (so each starts at
 * the oldest event), its receivers down until central is ready; then they come up and /metrics is
 * read until every sink has delivered `total` events. A file cannot be down: a file sink writes
 * from its start, and is timed from the first reading on.
 */
async function drainRun(dir: string, pki: Pki, run: string, specs: SinkSpec[], total: number): Promise<Map<string, Drain>> {
  const name = (s: SinkSpec) => drainName(s, run);
  for (const s of specs) {
    await s.reset();
    await s.setDown(true);
  }
  // Retries every 10-100 ms: a sink starts within 100 ms of its receiver coming up.
  const configs = specs.map((s) => ({ ...s.config(name(s), dir), retry: { initialMs: 10, maxMs: 100 } }));
  const result = new Map<string, Drain>();
  let central: CentralChild | null = null;
  try {
    central = await startCentral(dir, `drain-${run}`, pki, { dataName: 'backlog', yaml: sinksYaml(configs) });
    const first = await central.metrics();
    for (const s of specs) await s.setDown(false);
    const t0 = performance.now();
    const c0 = central.usage();
    const d0 = new Map(specs.map((s) => [s.name, sample(first, DELIVERED, { sink: name(s) }) ?? 0]));
    const until = Date.now() + DRAIN_TIMEOUT_MS;
    const finish = (s: SinkSpec, delivered: number, done: boolean) => {
      const seconds = (performance.now() - t0) / 1000;
      const timed = delivered - d0.get(s.name)!;
      // Less than a tenth of the backlog left at the first reading: too little to time.
      const ok = timed >= total / 10;
      const cpuUs = central!.usage().cpuUs - c0.cpuUs;
      result.set(s.name, {
        eventsPerS: ok ? timed / seconds : NaN, timed, seconds, cpuUsPerEvent: ok && specs.length === 1 ? cpuUs / timed : NaN,
        delivered, received: 0, done,
      });
    };
    let failures = 0;
    for (;;) {
      let text: string;
      try {
        text = await central.metrics();
        failures = 0;
      } catch (err) {
        // A busy central may drop a reused keep-alive connection: say so, and read again.
        if (++failures === 1) console.log(`drain (${run}): ${(err as Error).message}; reading again`);
        if (failures >= 20) throw err;
        await sleep(SCRAPE_EVERY_MS);
        continue;
      }
      for (const s of specs) {
        if (result.has(s.name)) continue;
        const delivered = sample(text, DELIVERED, { sink: name(s) }) ?? 0;
        if (delivered >= total) finish(s, delivered, true);
        else if (Date.now() > until) finish(s, delivered, false);
      }
      if (result.size === specs.length) break;
      await sleep(SCRAPE_EVERY_MS);
    }
  } finally {
    await central?.stop();
    for (const s of specs) await s.setDown(false);
  }
  for (const s of specs) {
    result.get(s.name)!.received = await s.received(name(s), dir);
    if (s.type === 'jsonl' || s.type === 'ocsf') rmSync(outFile(dir, name(s)), { force: true });
  }
  return result;
}

const DRAIN_RUNS = ['alone', 'together'];
const drainName = (s: SinkSpec, run: string) => `${s.name}-${run}`;

async function drainPhase(dir: string, pki: Pki, specs: SinkSpec[], ingestUsPerEvent: number): Promise<void> {
  // A sink type that starts a new cursor at the newest event would skip the backlog: its drain
  // runs' cursors are recorded on the empty log first, so that they start at the oldest event.
  const newest = specs.filter((s) => s.startsAtNewest).flatMap((s) => DRAIN_RUNS.map((run) => s.config(drainName(s, run), dir)));
  if (newest.length > 0) await (await startCentral(dir, 'cursors', pki, { dataName: 'backlog', yaml: sinksYaml(newest) })).stop();
  const central = await startCentral(dir, 'backlog', pki);
  const agents: SimAgent[] = [];
  try {
    await connectAgents(central, pki, AGENTS, agents);
    const s = await storeBacklog(agents, BACKLOG);
    console.log(`drain: a backlog of ${n0(sumAcked(agents))} events stored (no sinks) in ${f1(s)} s; then central restarted on it with sinks under new names (they start at its oldest event), receivers down until central is ready, then up`);
    await verify('drain', central, agents);
  } finally {
    for (const a of agents) a.close();
    await central.stop();
  }
  const alone = new Map<string, Drain>();
  for (const spec of specs) alone.set(spec.name, (await drainRun(dir, pki, 'alone', [spec], BACKLOG)).get(spec.name)!);
  const together = await drainRun(dir, pki, 'together', specs, BACKLOG);
  const rate = (d: Drain) => {
    if (!d.done) return `NOT DONE after ${DRAIN_TIMEOUT_MS / 1000} s (${n0(d.delivered)} delivered)`;
    if (Number.isNaN(d.eventsPerS)) return `too fast to time (${n0(d.delivered - d.timed)} of ${n0(BACKLOG)} written before central was ready)`;
    return `${n0(d.eventsPerS)} events/s${d.timed < BACKLOG ? ` (timed over the last ${n0(d.timed)})` : ''}`;
  };
  for (const spec of specs) {
    const a = alone.get(spec.name)!;
    const t = together.get(spec.name)!;
    const cpu = Number.isNaN(a.cpuUsPerEvent) ? '' : `, ${f1(a.cpuUsPerEvent)} µs central CPU/event`;
    const receiver = a.received >= a.delivered ? `receiver counted ${n0(a.received)}` : `receiver counted only ${n0(a.received)} of ${n0(a.delivered)}: MISMATCH`;
    if (a.received < a.delivered || t.received < t.delivered) process.exitCode = 1;
    console.log(`drain ${spec.name} (${spec.type}): alone ${rate(a)}${cpu}, done at ${f1(a.seconds)} s, ${receiver}; with all seven at once ${rate(t)}, done at ${f1(t.seconds)} s`);
  }
  const slowest = [...together.entries()].reduce((x, y) => (y[1].seconds > x[1].seconds ? y : x));
  console.log(`drain: all seven at once: every sink through ${n0(BACKLOG)} events in ${f1(slowest[1].seconds)} s (the last: ${slowest[0]})`);
  // What the per-event figures above say about the "sinks" phase: central runs ingest and every
  // sink on one event loop, so keeping all seven up costs their CPU per event, summed, per event.
  const timed = [...alone.values()].filter((d) => !Number.isNaN(d.cpuUsPerEvent));
  const sinksUs = timed.reduce((sum, d) => sum + d.cpuUsPerEvent, 0);
  const core = (us: number) => `${n0((us * RATE) / 1e4)}%`;
  console.log(`drain: keeping ${timed.length === specs.length ? 'all seven' : `the ${timed.length} timed`} sinks up at ${n0(RATE)} events/s takes ${f1(sinksUs)} µs of central CPU per event (${core(sinksUs)} of a core), on top of ingest's ${f1(ingestUsPerEvent)} µs (${core(ingestUsPerEvent)} of a core)`);
}

// ---- the benchmark ------------------------------------------------------------------------

const ratio = (x: number) => `${x.toFixed(2)}×`;

function renice(pid: number, nice: number): boolean {
  try {
    os.setPriority(pid, nice);
    console.log(`receivers (pid ${pid}) at nice ${nice}${nice > 0 ? ' while ingest is measured with sinks: they stand in for remote services' : ''}`);
    return true;
  } catch (err) {
    console.log(`receivers' priority unchanged (${(err as Error).message}): they compete with central as equals`);
    return false;
  }
}

export default async function sinksBench(): Promise<void> {
  const dir = tempDir('bench-sinks');
  const closers: (() => Promise<void>)[] = [];
  try {
    const eventBytes = checkEncoding();
    const pki = await makePki(dir, AGENTS);
    const tokenFile = path.join(dir, 'hec-token');
    writeFileSync(tokenFile, '6f1c7a8e-bench-hec-token\n', { mode: 0o600 });
    const rx = await startReceivers();
    closers.push(() => rx.close());
    const specs = sinkSpecs(rx, tokenFile);
    console.log(`note: 2 cores: this process (the agents) and the receivers' process (pid ${rx.pid}) compete with central for CPU; central's CPU and RSS are its own, from /proc/<pid>`);
    console.log(`setup: events of ${eventBytes} bytes, severity high; receivers count events and keep no bodies`);

    // Baseline and sinks alternate, ROUNDS times each: on a shared virtual machine one pair of
    // runs moved by 2× from one minute to the next; the medians of alternating runs do not.
    const bases: IngestFigures[] = [];
    const withs: IngestFigures[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const tag = ROUNDS > 1 ? ` [round ${round}/${ROUNDS}]` : '';
      const base = await pacedPhase(dir, pki, `baseline-${round}`, `baseline (no sinks)${tag}`, [], null);
      await rx.setDown('webhook', true);
      // The receivers stand in for SIEMs and Alertmanager on other machines: while ingest is
      // measured they run at the lowest priority, so that their parsing (a third of a core at
      // 10,000 events/s) is not counted as what sinks cost ingest on this 2-core machine. They get
      // normal priority back for the drain phase, where their speed is part of what is measured.
      const niced = renice(rx.pid, 19);
      const with7 = await pacedPhase(dir, pki, `sinks-${round}`, `sinks (7, webhook down)${tag}`, specs, rx);
      if (niced) renice(rx.pid, 0);
      await rx.setDown('webhook', false);
      bases.push(base);
      withs.push(with7);
      if (ROUNDS > 1) console.log(`round ${round}: events/s ${ratio(with7.eventsPerS / base.eventsPerS)}, ack p99 ${ratio(with7.p99 / base.p99)} (${f1(base.p99)} → ${f1(with7.p99)} ms; in central ${f1(base.centralP99)} → ${f1(with7.centralP99)} ms)`);
    }
    const mid = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);
    const median = (runs: IngestFigures[]) => Object.fromEntries(
      (Object.keys(runs[0]!) as (keyof IngestFigures)[]).map((k) => [k, mid(runs.map((f) => f[k]))]),
    ) as unknown as IngestFigures;
    const base = median(bases);
    const with7 = median(withs);
    const rateRatio = with7.eventsPerS / base.eventsPerS;
    const p99Ratio = with7.p99 / base.p99;
    const met = rateRatio >= 1 - TARGET_SHARE && p99Ratio <= 1 + TARGET_SHARE;
    console.log(`sinks/baseline${ROUNDS > 1 ? ` (medians of ${ROUNDS} alternating rounds)` : ''}: events/s ${ratio(rateRatio)}, ack p99 ${ratio(p99Ratio)} (${f1(base.p99)} → ${f1(with7.p99)} ms), p50 ${ratio(with7.p50 / base.p50)}; in central alone ack p99 ${ratio(with7.centralP99 / base.centralP99)} (${f1(base.centralP99)} → ${f1(with7.centralP99)} ms); central CPU ${f1(base.cpuUsPerEvent)} → ${f1(with7.cpuUsPerEvent)} µs per stored event (target within ${TARGET_SHARE * 100}%: ${met ? 'met' : 'MISSED'})`);

    await drainPhase(dir, pki, specs, base.cpuUsPerEvent);
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
