// The sink thread's entry point (started by sink-worker.ts): it creates every configured sink
// from the registry, as central did on its own loop, and runs them here, so that formatting,
// encoding and sending never take a turn from ingest. Events come from this thread's own
// read-only connection to the event log (decoded once for all sinks, shared-reads.ts); cursor
// moves and dead letters go to central, which writes them (thread-source.ts).

import { parentPort, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { nodewarden } from '../../../gen/nodewarden.js';
import { NwError, describeError } from '../../../core/errors.js';
import type { HostFacts } from '../../../core/host-facts.js';
import { EventLog } from '../../event-log.js';
import { ChainSink, sinkMetrics } from '../chain/chain-sink.js';
import { sinkFactories } from '../index.js';
import { readSecret } from '../secret.js';
import type { Sink, SinkContext, SinkDriver, SinkEvent } from '../sink.js';
import { threadLogger } from './log-relay.js';
import { lowerThreadPriority, threadId } from './priority.js';
import type { FamilySnapshot, FromThread, ThreadInit, ToThread } from './protocol.js';
import { SharedReads } from './shared-reads.js';
import { ThreadSource } from './thread-source.js';

const pb = nodewarden.v1;
const port = parentPort;
if (!port) throw new Error('central/sinks/worker/thread.js runs only as central\'s sink thread');
const init = workerData as ThreadInit;
const post = (m: FromThread) => port.postMessage(m);

const logger = threadLogger(init.logLevel, (line) => post({ t: 'log', line }));
const reader = new EventLog(init.file, { readOnly: true });
const sinks: Sink[] = [];
const reads = new SharedReads(reader, init.cacheBytes, () => sinks.reduce((low, s) => Math.min(low, s.cursor ?? 0), Infinity));
const source = new ThreadSource(reader, reads, post);
// Each node's host facts: those central held at start, then its updates. A node the thread has
// not heard of is looked up in the log: central stores a node's facts at its Hello, before any
// of its events, and a message may still be on its way when a sink reads those events.
const hosts = new Map<string, HostFacts | null>(init.hosts);
const host = (node: string): HostFacts | undefined => {
  let facts = hosts.get(node);
  if (facts === undefined) {
    facts = parseFacts(reader.factsOf(node));
    hosts.set(node, facts);
  }
  return facts ?? undefined;
};
const registry = new Registry();
// Lag is measured from the thread's cursors against the log as this connection sees it.
const metrics = sinkMetrics(registry, reader, () => new Map(sinks.map((s) => [s.name, s.cursor ?? 0])));

let stopping: Promise<void> | null = null;
/** Until every sink has started, a "stored" note is kept for after (a sink started early would miss it). */
let ready = false;
let storedMeanwhile = false;

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'stored':
      if (!ready) storedMeanwhile = true;
      else for (const s of sinks) s.notify();
      break;
    case 'host':
      hosts.set(m.node, m.facts);
      break;
    case 'written':
      source.written(m.id, m.error);
      break;
    case 'metrics':
      void snapshot().then((metrics) => post({ t: 'metrics', id: m.id, metrics }));
      break;
    case 'stop':
      stopping ??= stop(m.deadlineMs);
      break;
  }
});

try {
  create();
  for (const s of sinks) {
    if (stopping) break; // central is stopping before everything started: start nothing more
    try {
      await s.start();
    } catch (err) {
      throw new NwError(err instanceof NwError ? err.code : 'NW_ERR_CONFIG', `sink ${s.name} could not start: ${describeError(err)}`, { cause: err });
    }
  }
  ready = true;
  if (storedMeanwhile) for (const s of sinks) s.notify();
  // Created and started at central's priority (a start must not wait for idle CPU); from now on
  // the sinks take only what ingest leaves.
  const priority = lowerThreadPriority();
  post({ t: 'ready', cursors: sinks.map((s) => s.cursorName ?? s.name), metrics: await snapshot(), priority, tid: threadId() });
} catch (err) {
  // A sink that cannot be created or started: central reports it (and, at start, refuses to run).
  post({ t: 'failed', code: err instanceof NwError ? err.code : 'NW_ERR_CONFIG', message: describeError(err) });
  await Promise.all(sinks.map((s) => s.stop(1000).catch(() => undefined)));
  reader.close();
  port.close();
}

/** Every configured sink, from its factory (the same code central ran on its own loop before). */
function create(): void {
  const factories = sinkFactories();
  for (const sc of init.configs) {
    const factory = factories.get(sc.type);
    if (!factory) throw new NwError('NW_ERR_CONFIG', `sink ${sc.name}: no sink type ${sc.type}`);
    const sinkLogger = logger.child({ sink: sc.name });
    const ctx: SinkContext = {
      name: sc.name,
      logger: sinkLogger,
      registry,
      secret: (ref) => readSecret(ref),
      version: init.version,
      openFindings: (minSeverity) => reader.allOpenFindings(minSeverity).map((row): SinkEvent => {
        const event = pb.Event.decode(row.body);
        return { rowid: row.rowid, event, bytes: row.body, host: host(event.node) };
      }),
      log: source,
      delivered: metrics.delivered,
      host,
    };
    let made: SinkDriver | Sink;
    try {
      made = (factory.create as (c: unknown, ctx: SinkContext) => SinkDriver | Sink)(sc, ctx);
    } catch (err) {
      // The factories' own errors name the sink and the key; anything else gets the sink's name.
      if (err instanceof NwError) throw err;
      throw new NwError('NW_ERR_CONFIG', `sink ${sc.name} could not be created: ${describeError(err)}`, { cause: err });
    }
    sinks.push('transport' in made ? new ChainSink({ config: sc, driver: made, source, logger: sinkLogger, metrics, host }) : made);
  }
}

async function snapshot(): Promise<FamilySnapshot[]> {
  return (await registry.getMetricsAsJSON()) as unknown as FamilySnapshot[];
}

/** Stop every sink (each drains up to the deadline), close the log, say so. */
async function stop(deadlineMs: number): Promise<void> {
  await Promise.all(sinks.map((s) => s.stop(deadlineMs).catch((err: unknown) => {
    logger.warn({ sink: s.name, err: describeError(err) }, 'The sink did not stop cleanly.');
  })));
  reader.close();
  post({ t: 'stopped' });
}

/** Facts as central stored them (JSON); null when there are none or they do not parse. */
function parseFacts(json: string | undefined): HostFacts | null {
  if (json === undefined) return null;
  try {
    return JSON.parse(json) as HostFacts;
  } catch {
    return null; // a row written by a broken agent: none until its next Hello
  }
}
