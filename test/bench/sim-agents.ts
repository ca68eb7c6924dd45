// What the benchmarks that drive the real `nodewarden central` share: central as a child process
// (its CPU and RSS from /proc/<pid>, apart from the load; extra YAML under `central:`), simulated
// agents in this process (each a real gRPC client with its own node certificate and its own
// HTTP/2 connection, sending batches as the shipper does), and the paced phase's core: agents
// together at a fixed total rate, ack latencies recorded.
//
//   this process: SimAgent × N ──gRPC/mTLS──▶ child: nodewarden central ──▶ (sinks, if configured)
//                 ◀──────────────── Ack{batch, stored_through} ──────────┘
//
// Not a benchmark itself (no *.bench.ts): ingest.bench.ts and sinks.bench.ts import it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { SHARED_FLAGS } from '../../bin/v8-settings.js';
import { createCa, issueCertificate, type Pem } from '../../core/tls/pki.js';
import { IngestClient, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { cliPath } from '../helpers/paths.js';
import { freePort, waitFor } from '../helpers/pipeline.js';

const pb = nodewarden.v1;
const TICK_US = 1e6 / 100; // USER_HZ: /proc/<pid>/stat counts CPU in 10 ms ticks
/** Agents connected at once (1,000 TLS handshakes at once only measure a queue). */
export const CONNECT_WAVE = 100;

export const quick = process.env.NW_BENCH_QUICK === '1';
export const n0 = (v: number): string => Math.round(v).toLocaleString('en-US');
export const f1 = (v: number): string => v.toFixed(1);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- central, as its own process ----------------------------------------------------------

export interface ProcUsage {
  cpuUs: number;
  rssMb: number;
  hwmMb: number;
  /** CPU of the main thread (ingest's event loop), of threads at idle priority (the sink thread), and of the rest. */
  mainUs: number;
  idleUs: number;
  otherUs: number;
  /** How long the main thread waited for a CPU while runnable (schedstat; NaN where the kernel keeps none). */
  mainWaitUs: number;
  /** CPU of each thread by id. */
  byThread: Map<string, number>;
}

const SCHED_IDLE = 5;

/** CPU (user + system, every thread, and split by thread) and memory of a process, from /proc. */
export function procUsage(pid: number): ProcUsage {
  const fieldsOf = (file: string) => {
    const stat = readFileSync(file, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  };
  const fields = fieldsOf(`/proc/${pid}/stat`);
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const cpuUs = (Number(fields[11]) + Number(fields[12])) * TICK_US;
  let mainUs = 0;
  let idleUs = 0;
  let mainWaitUs = NaN;
  const byThread = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let f: string[];
    try {
      f = fieldsOf(`/proc/${pid}/task/${tid}/stat`);
    } catch {
      continue; // the thread ended
    }
    // Fields from the state on: utime 11, stime 12, policy 38 (stat(5) numbers them 14, 15, 41).
    const us = (Number(f[11]) + Number(f[12])) * TICK_US;
    byThread.set(tid, us);
    if (tid === String(pid)) {
      mainUs = us;
      try {
        mainWaitUs = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[1]) / 1000;
      } catch {
        // no schedstat in this kernel
      }
    } else if (Number(f[38]) === SCHED_IDLE) idleUs += us;
  }
  // Threads that ended are in the process's total only.
  return { cpuUs, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024, mainUs, idleUs, otherUs: cpuUs - mainUs - idleUs, mainWaitUs, byThread };
}

/** Established loopback TCP connections to a local port: one per agent when nothing is shared. */
export function establishedTo(port: number): number {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[1]?.endsWith(hex) && cols[3] === '01') n++;
  }
  return n;
}

export interface Pki { ca: Pem; caFile: string; serverCert: string; serverKey: string; nodes: Pem[] }

/** A CA, central's server certificate, and `nodes` node certificates (bench-node-0000…), as files in `dir`. */
export async function makePki(dir: string, nodes: number): Promise<Pki> {
  const ca = await createCa({ commonName: 'nodewarden bench CA' });
  const server = await issueCertificate(ca, { role: 'server', commonName: 'nodewarden-central', ipAddresses: ['127.0.0.1'] });
  const issued: Pem[] = [];
  for (let i = 0; i < nodes; i++) issued.push(await issueCertificate(ca, { role: 'node', commonName: `bench-node-${String(i).padStart(4, '0')}` }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  return { ca, caFile: file('ca.crt', ca.certPem), serverCert: file('server.crt', server.certPem), serverKey: file('server.key', server.keyPem), nodes: issued };
}

export interface CentralChild {
  pid: number;
  port: number;
  usage(): ProcUsage;
  /** /metrics as central serves it. */
  metrics(): Promise<string>;
  /** One sample of /metrics (`labels` picks a labelled series); throws when it is missing. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

export interface CentralOptions {
  /** Lines added under `central:` (indented by two spaces), e.g. `  sinks: [...]`. */
  yaml?: string[];
  /** The data directory's name under `dir` (default: the run's name); a later run may reuse one. */
  dataName?: string;
}

/** The value of one series in Prometheus' text format; undefined when it is absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let series: string[] = [];
    if (rest.startsWith('{')) {
      const end = rest.indexOf('} ');
      if (end < 0) continue;
      series = rest.slice(1, end).split(',');
    } else if (!rest.startsWith(' ')) {
      continue; // another metric whose name starts with this one
    }
    if (want.length === 0 ? series.length > 0 : !want.every((w) => series.includes(w))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

export async function startCentral(dir: string, name: string, pki: Pki | null, options: CentralOptions = {}): Promise<CentralChild> {
  const port = await freePort();
  const httpPort = await freePort();
  const config = path.join(dir, `${name}.yaml`);
  const tls = pki
    ? ['  tls:', `    cert: ${JSON.stringify(pki.serverCert)}`, `    key: ${JSON.stringify(pki.serverKey)}`, `    clientCa: ${JSON.stringify(pki.caFile)}`]
    : [];
  writeFileSync(config, [
    'node: bench-central',
    'logLevel: warn',
    `insecure: ${pki === null}`,
    'central:',
    `  listen: 127.0.0.1:${port}`,
    `  http: 127.0.0.1:${httpPort}`,
    `  dataDir: ${JSON.stringify(path.join(dir, options.dataName ?? name))}`,
    ...tls,
    '  tokenReview: { enabled: false }',
    // Far above what the benchmark sends per node: it measures capacity, not flow control.
    '  limits: { eventsPerSecond: 1000000, burst: 1000000 }',
    ...(options.yaml ?? []),
    '',
  ].join('\n'));
  // Only this config counts: no NODEWARDEN_* or KUBECONFIG from the caller's environment.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODEWARDEN_') && k !== 'KUBECONFIG' && k !== 'NODE_OPTIONS') env[k] = v;
  // Central's V8 flags as it runs in the image (where it restarts itself with them; Node 20 has no
  // process.execve), then NW_CENTRAL_NODE_ARGS: flags rather than NODE_OPTIONS, which refuses --cpu-prof.
  const nodeArgs = [...SHARED_FLAGS, ...(process.env.NW_CENTRAL_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, cliPath, 'central', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    if (!stopping) console.log(`central (${name}) exited unexpectedly (${signal ?? code}): ${stderr.trim()}`);
    resolve();
  }));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async () => {
    stopping = true;
    if (gone()) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  };
  try {
    await waitFor(`central (${name}) ready`, async () => {
      if (gone()) throw new Error(`central (${name}) exited at start: ${stderr.trim()}`);
      try {
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  const metrics = async () => {
    try {
      return await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new Error(`central (${name}): /metrics: ${(err as Error).message}${cause ? ` (${String(cause)})` : ''}${gone() ? `; central exited: ${stderr.trim()}` : ''}`, { cause: err });
    }
  };
  return {
    pid: child.pid!,
    port,
    usage: () => procUsage(child.pid!),
    metrics,
    metric: async (metricName, labels) => {
      const v = sample(await metrics(), metricName, labels);
      if (v === undefined) throw new Error(`central's /metrics has no ${metricName}${labels ? JSON.stringify(labels) : ''}`);
      return v;
    },
    stop,
  };
}

// ---- simulated agents ---------------------------------------------------------------------

function varintLength(v: number): number {
  let n = 1;
  for (; v >= 128; n++) v = Math.floor(v / 128);
  return n;
}

function writeVarint(buf: Buffer, pos: number, v: number): number {
  for (; v >= 128; v = Math.floor(v / 128)) buf[pos++] = (v % 128) | 128;
  buf[pos++] = v;
  return pos;
}

function bigVarint(v: bigint): Buffer {
  const out: number[] = [];
  for (; v >= 128n; v >>= 7n) out.push(Number(v & 127n) | 128);
  out.push(Number(v));
  return Buffer.from(out);
}

/**
 * Batches of one agent's events, built without protobufjs per event: the fields every event of
 * the agent shares are encoded once (the "tail"); each event adds its id, sequence and time in
 * front. Protobuf allows fields in any order, so central decodes these as any other event.
 * Every event is a high-severity detection (a shell in a container), as sinks filtering on
 * `minSeverity: high` (Alertmanager's) take it.
 */
export class BatchEncoder {
  private readonly tail: Buffer;
  private readonly idPrefix: string;
  // Headroom for the AgentMessage field header written in front once the batch length is known.
  private static readonly HEAD = 6;

  constructor(agentId: string, node: string, index: number) {
    const ns = ['payments', 'checkout', 'ledger', 'search'][index % 4]!;
    const pod = `${ns}-api-7d9f8b6c4-${(index * 7919).toString(36).padStart(5, 'x').slice(-5)}`;
    const argv = ['/bin/sh', '-c', 'curl -fsS http://10.0.3.7:8080/healthz | grep -q ok && echo healthy'];
    this.idPrefix = `${agentId}/`;
    this.tail = Buffer.from(pb.Event.encode({
      agentId, node, source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', severity: pb.Severity.SEVERITY_HIGH,
      title: 'A shell started in a container',
      message: `sh started in ${ns}/${pod}/api: ${argv.join(' ')}`,
      fingerprint: `exec-shell-in-container:${ns}/${pod}/api`, count: 1, tags: ['shell', 'container'], mitreTechniques: ['T1059.004'],
      process: { pid: 31_000 + index, ppid: 30_990 + index, auid: 4294967295, exe: '/bin/busybox', comm: 'sh', argv, cwd: '/app', capture: 'audit' },
      kubernetes: { namespace: ns, pod, podUid: `5b0c2a1e-9f4d-4c1b-8e2a-${String(index).padStart(12, '0')}`, container: 'api' },
      cluster: 'bench', agentVersion: '0.1.0-bench',
    }).finish());
  }

  /** An AgentMessage{batch} holding events first..first+n-1, all stamped with `timeNs`. */
  encode(batchId: number, first: number, n: number, timeNs: bigint): Buffer {
    const time = bigVarint(timeNs);
    const perEvent = 1 + 2 + this.idPrefix.length + 16 + 1 + 9 + 1 + time.length + this.tail.length + 3;
    const buf = Buffer.allocUnsafe(BatchEncoder.HEAD + 11 + n * perEvent);
    let pos = BatchEncoder.HEAD;
    buf[pos++] = 0x08; // batch_id
    pos = writeVarint(buf, pos, batchId);
    for (let seq = first; seq < first + n; seq++) {
      const id = this.idPrefix + seq;
      const body = 1 + varintLength(id.length) + id.length + 1 + varintLength(seq) + 1 + time.length + this.tail.length;
      buf[pos++] = 0x12; // events
      pos = writeVarint(buf, pos, body);
      buf[pos++] = 0x0a; // id
      pos = writeVarint(buf, pos, id.length);
      pos += buf.write(id, pos, 'latin1');
      buf[pos++] = 0x18; // sequence
      pos = writeVarint(buf, pos, seq);
      buf[pos++] = 0x28; // time_unix_nano
      pos += time.copy(buf, pos);
      pos += this.tail.copy(buf, pos);
    }
    const len = pos - BatchEncoder.HEAD;
    const start = BatchEncoder.HEAD - 1 - varintLength(len);
    buf[start] = 0x12; // AgentMessage.batch
    writeVarint(buf, start + 1, len);
    return buf.subarray(start, pos);
  }
}

/** The encoder's output is a valid AgentMessage whose events say what they should; returns one event's size. */
export function checkEncoding(): number {
  const enc = new BatchEncoder('bench-node-0000-check', 'bench-node-0000', 0);
  const msg = pb.AgentMessage.decode(enc.encode(7, 41, 3, 1_700_000_000_123_456_789n));
  const events = msg.batch?.events ?? [];
  const e = events[2];
  if (Number(msg.batch?.batchId) !== 7 || events.length !== 3 || !e || Number(e.sequence) !== 43 || e.id !== 'bench-node-0000-check/43'
    || e.agentId !== 'bench-node-0000-check' || e.node !== 'bench-node-0000' || String(e.timeUnixNano) !== '1700000000123456789' || e.process?.argv?.length !== 3) {
    throw new Error(`the benchmark's event encoder is wrong: ${JSON.stringify(msg.toJSON()).slice(0, 400)}`);
  }
  return pb.Event.encode(e).finish().length;
}

type IngestStub = grpc.Client & { Stream(): grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage> };
const IngestCtor = IngestClient as unknown as new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => IngestStub;

/**
 * One agent: Hello, Welcome{window}, then batches with at most `window` in flight, as the real
 * shipper does; sequences from 1 without gaps. Ack latency runs from writing a batch to its Ack.
 */
export class SimAgent {
  readonly node: string;
  readonly agentId: string;
  window = 0;
  /** The last sequence written. */
  sent = 0;
  /** Central's latest stored_through for this agent. */
  ackedThrough = 0;
  error: string | null = null;
  onAck: (agent: SimAgent, latencyMs: number) => void = () => undefined;
  private readonly client: IngestStub;
  private readonly encoder: BatchEncoder;
  private call: grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage> | null = null;
  private readonly inFlight = new Map<number, number>(); // batch id -> written at
  private batchId = 0;

  constructor(address: string, credentials: grpc.ChannelCredentials, index: number) {
    this.node = `bench-node-${String(index).padStart(4, '0')}`;
    this.agentId = `${this.node}-${Math.random().toString(36).slice(2, 8)}`;
    this.encoder = new BatchEncoder(this.agentId, this.node, index);
    // A pool of its own: agents are separate processes in reality, and grpc-js would otherwise
    // put every plaintext client (equal credentials) on one shared connection.
    this.client = new IngestCtor(address, credentials, { ...channelOptions, 'grpc.use_local_subchannel_pool': 1 });
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Open the stream; resolves at the Welcome. */
  connect(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.node}: no welcome within ${timeoutMs} ms`)), timeoutMs);
      const fail = (why: string) => {
        this.error ??= why;
        clearTimeout(timer);
        reject(new Error(`${this.node}: ${why}`));
      };
      const call = this.client.Stream();
      this.call = call;
      call.on('data', (msg: nodewarden.v1.CentralMessage) => {
        if (msg.welcome) {
          this.window = Math.max(1, Math.min(msg.welcome.window || 4, 64)); // as the shipper reads it
          clearTimeout(timer);
          resolve();
        } else if (msg.ack) {
          const at = this.inFlight.get(Number(msg.ack.batchId));
          this.inFlight.delete(Number(msg.ack.batchId));
          this.ackedThrough = Math.max(this.ackedThrough, Number(msg.ack.storedThrough));
          if (at !== undefined) this.onAck(this, performance.now() - at);
        } else if (msg.refusal) {
          fail(`refused: ${msg.refusal.code} ${msg.refusal.message}`);
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (err.code !== grpc.status.CANCELLED) fail(`stream failed: ${err.message}`);
      });
      call.on('end', () => undefined);
      const hello = pb.AgentMessage.encode({ hello: { agentId: this.agentId, node: this.node, agentVersion: '0.1.0-bench' } }).finish();
      call.write(Buffer.from(hello.buffer, hello.byteOffset, hello.byteLength));
    });
  }

  /** Write a batch of the next n events (the caller keeps to the window). */
  send(n: number, timeNs: bigint): void {
    const id = ++this.batchId;
    const msg = this.encoder.encode(id, this.sent + 1, n, timeNs);
    this.sent += n;
    this.inFlight.set(id, performance.now());
    this.call!.write(msg);
  }

  close(): void {
    this.call?.cancel();
    this.client.close();
  }
}

export const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

function agentCredentials(pki: Pki | null, index: number): grpc.ChannelCredentials {
  if (!pki) return grpc.credentials.createInsecure();
  const node = pki.nodes[index]!;
  return grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(node.keyPem), Buffer.from(node.certPem));
}

/** Connect `count` agents in waves of CONNECT_WAVE, adding each to `agents` (for the caller's cleanup). */
export async function connectAgents(central: CentralChild, pki: Pki | null, count: number, agents: SimAgent[]): Promise<void> {
  for (let i = 0; i < count; i += CONNECT_WAVE) {
    const wave: SimAgent[] = [];
    for (let k = i; k < Math.min(count, i + CONNECT_WAVE); k++) wave.push(new SimAgent(`127.0.0.1:${central.port}`, agentCredentials(pki, k), k));
    agents.push(...wave);
    await Promise.all(wave.map((a) => a.connect()));
  }
}

export function checkAgents(agents: SimAgent[]): void {
  const bad = agents.find((a) => a.error !== null);
  if (bad) throw new Error(`${bad.node}: ${bad.error}`);
}

/** Wait until every batch written is acknowledged. */
export async function drain(agents: SimAgent[]): Promise<void> {
  await waitFor('every batch acknowledged', () => {
    checkAgents(agents);
    return agents.every((a) => a.inFlightCount === 0);
  }, 60_000, 20);
}

export const sumAcked = (agents: SimAgent[]): number => agents.reduce((s, a) => s + a.ackedThrough, 0);

/** Central's own count against what the agents saw acknowledged; a mismatch fails the run. */
export async function verify(label: string, central: CentralChild, agents: SimAgent[]): Promise<void> {
  const acked = sumAcked(agents);
  const sent = agents.reduce((s, a) => s + a.sent, 0);
  const stored = await central.metric('nodewarden_ingest_events_stored_total');
  const ok = stored === acked && acked === sent;
  console.log(`${label}: check: ${n0(sent)} events sent, ${n0(acked)} acknowledged, central stored ${n0(stored)} (nodewarden_ingest_events_stored_total): ${ok ? 'ok' : 'MISMATCH'}`);
  if (!ok) process.exitCode = 1;
}

// ---- the paced phase ----------------------------------------------------------------------

export interface PacedOptions {
  /** Events per second, all agents together. */
  totalRate: number;
  /** Each agent sends what it owes this often. */
  everyMs: number;
  /** Sending before the measured window (connections warm, central's JIT done). */
  warmupMs: number;
  seconds: number;
  /** Awaited at the measured window's start (before its first reading) and end (after its last). */
  mark?: (when: 'start' | 'end') => Promise<void>;
}

export interface PacedResult {
  /** Events each agent sends every `everyMs`. */
  perBatch: number;
  /** The measured window's length. */
  seconds: number;
  /** Events acknowledged (stored) per second in the window. */
  eventsPerS: number;
  /** Ack latencies in the window, ascending. */
  latenciesMs: number[];
  /** Times an agent owed events but its window was full. */
  windowFull: number;
  /** Central's CPU in the window, and its memory at the end. */
  centralCpuUs: number;
  central: ProcUsage;
  /** Central's usage at the window's start (`central` is at its end). */
  centralStart: ProcUsage;
  /** This process's CPU (agents, and anything else it runs) in the window. */
  generatorCpuUs: number;
}

/** Latency at percentile `p` of an ascending list. */
export const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/**
 * Connected agents together at `totalRate`: each sends what it owes every `everyMs`, at most its
 * window in flight; ack latencies are recorded in the measured window. Ends once every batch
 * written is acknowledged.
 */
export async function runPaced(central: CentralChild, agents: SimAgent[], o: PacedOptions): Promise<PacedResult> {
  const latencies: number[] = [];
  let recording = false;
  let ticker: NodeJS.Timeout | undefined;
  try {
    const perAgent = o.totalRate / agents.length; // events/s
    const perBatch = (perAgent * o.everyMs) / 1000;
    for (const a of agents) {
      a.onAck = (_agent, ms) => {
        if (recording) latencies.push(ms);
      };
    }
    // Agents start spread over one period, so the load is even rather than in 10 Hz bursts.
    const offsets = agents.map((_, i) => (i * o.everyMs) / agents.length);
    const start = performance.now();
    let windowFull = 0;
    const tick = () => {
      const now = performance.now();
      const stamp = nowNs();
      agents.forEach((a, i) => {
        const since = now - start - offsets[i]!;
        if (since < 0) return;
        const owed = (Math.floor(since / o.everyMs) + 1) * perBatch - a.sent;
        if (owed <= 0) return;
        if (a.inFlightCount >= a.window) {
          windowFull++;
          return;
        }
        a.send(Math.min(owed, 512), stamp);
      });
    };
    ticker = setInterval(tick, 5);
    await sleep(o.warmupMs);
    await o.mark?.('start');
    recording = true;
    const c0 = central.usage();
    const g0 = process.cpuUsage();
    const e0 = sumAcked(agents);
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    recording = false;
    checkAgents(agents);
    const c1 = central.usage();
    const g = process.cpuUsage(g0);
    const seconds = (performance.now() - t0) / 1000;
    const eventsPerS = (sumAcked(agents) - e0) / seconds;
    await o.mark?.('end');
    clearInterval(ticker);
    await drain(agents);
    latencies.sort((x, y) => x - y);
    return {
      perBatch, seconds, eventsPerS, latenciesMs: latencies, windowFull,
      centralCpuUs: c1.cpuUs - c0.cpuUs, central: c1, centralStart: c0, generatorCpuUs: g.user + g.system,
    };
  } finally {
    clearInterval(ticker);
    for (const a of agents) a.onAck = () => undefined;
  }
}
