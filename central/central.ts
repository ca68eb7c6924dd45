// The central collector: Ingest (agents' streams) → event log (SQLite) → feed and sinks.
//
//   TLS + identity ─▶ Ingest.Stream ─▶ budget ─▶ group commit (EventLog.storeMany) ─▶ Ack
//                                                   ├──▶ Feed (live subscribers, bounded queues)
//                                                   ├──▶ sink thread: every sink, each from its own
//                                                   │    cursor, off this event loop (sinks/worker/)
//                                                   └──▶ Query (history, open findings)
//
// Every call is authenticated (a node's certificate or token for Ingest; an operator's for Feed
// and Query) unless `insecure` is set explicitly.

import path from 'node:path';
import { statfsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../core/config.js';
import { EventLog, type IncomingEvent } from './event-log.js';
import { ingestHandler } from './ingest.js';
import { Feed } from './feed.js';
import { sinkFactories } from './sinks/index.js';
import { sinkConfigs } from './sinks/config.js';
import { SinkWorker } from './sinks/worker/sink-worker.js';
import { Checkpointer, SAFETY_PAGES } from './checkpoint/checkpointer.js';
import type { HostFacts } from '../core/host-facts.js';
import { VERSION } from '../core/version.js';
import { nodewarden } from '../gen/nodewarden.js';
import { feedService, ingestService, queryService, channelOptions } from '../core/wire/services.js';
import { queryHandlers } from './query.js';
import { Retention } from './retention.js';
import { startHttp, type HttpEndpoint } from '../core/http.js';
import { droppedCounter } from '../core/metrics.js';
import { NwError, describeError } from '../core/errors.js';
import { serverCredentials } from '../core/tls/credentials.js';
import type { CertFiles } from '../core/tls/cert-files.js';
import { Authenticator } from './identity/authenticate.js';
import type { TokenReviewer } from './identity/token-review.js';
import { Budgets } from './budget.js';
import { GroupCommit } from './group-commit.js';

export interface CentralOptions {
  /** Live callback for every newly stored event (the terminal printer of `nodewarden run`). */
  onEvent?: (events: IncomingEvent[]) => void;
}

export class Central {
  readonly registry = new Registry();
  log!: EventLog;
  private server: grpc.Server | null = null;
  private feed: Feed | null = null;
  private http: HttpEndpoint | null = null;
  private tlsFiles: CertFiles[] = [];
  /** Each node's host facts from its agent's latest Hello. */
  private readonly hosts = new Map<string, HostFacts>();
  private retention: Retention | null = null;
  private probedAt = 0;
  private writeProblem: string | null = null;
  /** Every sink, in its own thread; null until start (and when none is configured, idle). */
  sinkWorker: SinkWorker | null = null;
  /** Checkpoints the event log off the event loop (central/checkpoint/). */
  checkpointer: Checkpointer | null = null;
  private boundPort = 0;
  /** Feed and Query's own server, when central.readListen is set. */
  private readServer: grpc.Server | null = null;
  private boundReadPort = 0;
  private stopped = false;

  constructor(private readonly config: Config, private readonly logger: Logger, private readonly options: CentralOptions = {}) {}

  /** The port Ingest listens on (useful when configured as :0), and Feed and Query unless readListen is set. */
  get port(): number {
    return this.boundPort;
  }

  /** The port Feed and Query listen on. */
  get readPort(): number {
    return this.readServer ? this.boundReadPort : this.boundPort;
  }

  get httpAddress(): HttpEndpoint['address'] | null {
    return this.http?.address ?? null;
  }

  async start(): Promise<void> {
    const cfg = this.config.central;
    collectDefaultMetrics({ register: this.registry, prefix: 'nodewarden_central_' });
    const file = path.join(cfg.dataDir, 'events.db');
    this.log = new EventLog(file, { autocheckpointPages: SAFETY_PAGES });
    this.checkpointer = new Checkpointer({ file, logger: this.logger, registry: this.registry });
    await this.checkpointer.start();
    const reg = this.registry;
    const dropped = droppedCounter(reg);
    this.feed = new Feed(this.log, dropped, new Gauge({ name: 'nodewarden_feed_subscribers', help: 'Live Feed.Subscribe streams.', registers: [reg] }));
    for (const { node, facts } of this.log.nodeFacts()) {
      try {
        this.hosts.set(node, JSON.parse(facts) as HostFacts);
      } catch {
        // A row written by a broken agent: the node has no facts until its next Hello.
      }
    }
    const commitSeconds = new Histogram({ name: 'nodewarden_event_log_commit_seconds', help: 'Time of one group commit (store and fsync).', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [reg] });
    const commitBatches = new Histogram({ name: 'nodewarden_event_log_commit_batches', help: 'Agent batches stored by one group commit.', buckets: [1, 2, 5, 10, 25, 50, 100, 250], registers: [reg] });
    const commit = new GroupCommit(this.log, {
      onCommit: (batches, _events, ms) => {
        commitSeconds.observe(ms / 1000);
        commitBatches.observe(batches);
      },
    });
    // Validated here, so a bad configuration stops central before anything starts; created and
    // run in the sink thread, whose cursor moves and dead letters ride on ingest's commits.
    this.sinkWorker = new SinkWorker({
      file,
      configs: sinkConfigs(cfg, sinkFactories()),
      version: VERSION,
      logger: this.logger,
      registry: reg,
      write: (writes) => commit.alongside(() => this.log.applySinkWrites(writes)),
      hosts: () => this.hosts.entries(),
    });
    await this.sinkWorker.start();

    const onStored = (events: IncomingEvent[]) => {
      this.feed?.publish(events);
      this.sinkWorker?.notify();
      this.options.onEvent?.(events);
    };
    const tlsLog = this.logger.child({ component: 'tls' });
    const tls = await serverCredentials(cfg.tls, this.config.insecure, (c) => (c.ok ? tlsLog.info(c.message) : tlsLog.error(`${c.message} The previous material stays in use.`)));
    this.tlsFiles = [tls.identity, tls.clientCa].filter((f): f is CertFiles => f !== null);
    const reviewEnabled = cfg.tokenReview.enabled ?? (Boolean(process.env.KUBERNETES_SERVICE_HOST) || Boolean(this.config.kube.kubeconfig));
    // @kubernetes/client-node (~75 MB of RSS) is loaded only when tokens are reviewed.
    let reviewer: TokenReviewer | null = null;
    if (reviewEnabled) {
      const { TokenReviewer: Reviewer, kubeConfigFor } = await import('./identity/token-review.js');
      reviewer = new Reviewer({ kubeConfig: kubeConfigFor(this.config.kube.kubeconfig), audience: cfg.tokenReview.audience });
    }
    if (!this.config.insecure && !tls.clientCa && !reviewer) {
      throw new NwError('NW_ERR_CONFIG', 'no agent could prove its node: set central.tls.clientCa (client certificates) or central.tokenReview (Kubernetes tokens)');
    }
    if (this.config.insecure) this.logger.warn({ listen: cfg.listen }, 'insecure: true — central listens in plaintext and accepts any agent as any node.');
    const auth = new Authenticator({
      insecure: this.config.insecure,
      clientCa: tls.clientCa,
      reviewer,
      serviceAccounts: cfg.tokenReview.serviceAccounts,
      readers: cfg.tokenReview.readers,
      refused: new Counter({ name: 'nodewarden_auth_refused_total', help: 'Calls refused for their credential, by service and reason.', labelNames: ['service', 'reason'], registers: [reg] }),
      logger: this.logger.child({ component: 'auth' }),
    });
    const readerCheck = (service: string) => async (call: Parameters<Authenticator['reader']>[0]) => {
      const v = await auth.reader(call, service);
      return v.ok ? null : { code: v.status, details: v.message };
    };

    // Streams per connection are bounded: an agent needs one, a reader a few.
    this.server = new grpc.Server({ ...channelOptions, 'grpc.max_concurrent_streams': 32 });
    this.server.addService(ingestService, {
      Stream: ingestHandler({
        log: this.log,
        logger: this.logger.child({ component: 'ingest' }),
        onStored,
        auth,
        onHost: (node, h) => this.rememberHost(node, h),
        budgets: new Budgets({ eventsPerSecond: cfg.limits.eventsPerSecond, burst: cfg.limits.burst, bytesPerSecond: cfg.limits.bytesPerSecond }),
        commit,
        metrics: {
          received: new Counter({ name: 'nodewarden_ingest_events_received_total', help: 'Events received from agents (resends included).', registers: [reg] }),
          stored: new Counter({ name: 'nodewarden_ingest_events_stored_total', help: 'Events stored for the first time.', registers: [reg] }),
          duplicates: new Counter({ name: 'nodewarden_ingest_events_duplicate_total', help: 'Events received again and ignored (already stored).', registers: [reg] }),
          refused: new Counter({ name: 'nodewarden_ingest_streams_refused_total', help: 'Agent streams refused or closed, by error code.', labelNames: ['code'], registers: [reg] }),
          throttledSeconds: new Counter({ name: 'nodewarden_ingest_flow_control_seconds_total', help: 'Time batches waited for their node\'s events-per-second budget (acknowledgement withheld).', registers: [reg] }),
          // Fine buckets: what operators (and the sinks benchmark) read percentiles from.
          ackSeconds: new Histogram({
            name: 'nodewarden_ingest_ack_seconds', help: 'Time from a batch\'s arrival at central to its acknowledgement (node budget wait, group commit and fsync included).',
            buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10], registers: [reg],
          }),
          replaced: new Counter({ name: 'nodewarden_ingest_streams_replaced_total', help: 'Streams closed because a newer stream of the same node arrived.', registers: [reg] }),
          streams: new Gauge({ name: 'nodewarden_ingest_streams', help: 'Open agent streams.', registers: [reg] }),
        },
      }) as grpc.handleBidiStreamingCall<Buffer, unknown>,
    });
    // Readers on their own port when central.readListen is set, else beside Ingest.
    const readServer = cfg.readListen ? new grpc.Server({ ...channelOptions, 'grpc.max_concurrent_streams': 32 }) : this.server;
    this.readServer = cfg.readListen ? readServer : null;
    readServer.addService(feedService, { Subscribe: this.feed.handler(readerCheck('feed')) as grpc.handleServerStreamingCall<Buffer, unknown> });
    readServer.addService(queryService, queryHandlers({
      log: this.log,
      logger: this.logger.child({ component: 'query' }),
      authorize: async (call) => {
        const v = await auth.reader(call, 'query');
        return v.ok ? { ok: true } : { ok: false, code: v.status, message: v.message };
      },
    }));
    const bind = (server: grpc.Server, address: string) => new Promise<number>((resolve, reject) => {
      server.bindAsync(address, tls.credentials, (err, port) => {
        if (err) reject(new NwError('NW_ERR_CONFIG', `central cannot listen on ${address}: ${err.message}`, { cause: err }));
        else resolve(port);
      });
    });
    this.boundPort = await bind(this.server, cfg.listen);
    if (this.readServer && cfg.readListen) this.boundReadPort = await bind(this.readServer, cfg.readListen);
    this.retention = new Retention({
      log: this.log, limits: cfg.retention, sinks: this.sinkWorker.cursorNames, registry: reg,
      logger: this.logger.child({ component: 'retention' }), onStored, node: this.config.node,
    });
    this.retention.start();
    this.http = await startHttp(cfg.http, reg, () => ({
      problems: this.readiness(),
      notes: this.config.insecure ? ['insecure: plaintext gRPC, agents are not authenticated'] : [],
    }));
    this.logger.info({ listen: cfg.listen, port: this.boundPort, readListen: cfg.readListen, dataDir: cfg.dataDir, jsonl: cfg.jsonl, stored: this.log.count(), tls: !this.config.insecure, tokenReview: reviewer !== null }, 'Central started.');
  }

  /** Keep a node's host facts (bounded strings: they come from the wire) for the sinks' formats. */
  private rememberHost(node: string, h: nodewarden.v1.IHostFacts): void {
    const str = (v: string | null | undefined) => (v ?? '').slice(0, 256);
    const facts: HostFacts = {
      hostname: str(h.hostname),
      os: { name: str(h.osName), version: str(h.osVersion), family: str(h.osFamily), platform: str(h.osPlatform) },
      kernel: str(h.kernel), architecture: str(h.architecture), bootTime: Number(h.bootTimeUnixMs ?? 0), containerRuntime: str(h.containerRuntime),
    };
    const json = JSON.stringify(facts);
    if (json === JSON.stringify(this.hosts.get(node))) return;
    this.hosts.set(node, facts);
    this.sinkWorker?.setHost(node, facts);
    try {
      this.log.setNodeFacts(node, json);
    } catch (err) {
      this.logger.warn({ node, err: describeError(err) }, "A node's host facts could not be stored; they stay in memory.");
    }
  }

  /** Why central cannot do its job right now: /readyz answers 503 with these. */
  readiness(): string[] {
    const problems: string[] = [];
    const cfg = this.config.central;
    // The write probe costs an fsync: probe at most every 5 s, however often /readyz is asked.
    if (Date.now() - this.probedAt > 5_000) {
      this.probedAt = Date.now();
      this.writeProblem = this.log.writableProblem();
    }
    if (this.writeProblem) problems.push(`the event log cannot be written: ${this.writeProblem}`);
    try {
      const fs = statfsSync(cfg.dataDir);
      const free = fs.bavail * fs.bsize;
      if (free < cfg.minFreeDiskBytes) problems.push(`the disk of ${cfg.dataDir} is nearly full: ${free} bytes free, below central.minFreeDiskBytes (${cfg.minFreeDiskBytes})`);
    } catch (err) {
      problems.push(`the free space of ${cfg.dataDir} cannot be read: ${describeError(err)}`);
    }
    for (const f of this.tlsFiles) {
      const p = f.problem();
      if (p) problems.push(p);
    }
    return problems;
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.feed?.close();
    await Promise.all([this.server, this.readServer].map((server) => server && new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, deadlineMs);
      server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    })));
    // Sinks drain up to the deadline; their last cursor moves commit before the log closes.
    await this.sinkWorker?.stop(deadlineMs);
    await this.retention?.stop(deadlineMs);
    await this.http?.close();
    for (const f of this.tlsFiles) f.stop();
    await this.checkpointer?.stop();
    this.log?.close();
  }
}
