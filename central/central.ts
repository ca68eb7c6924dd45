// The central collector: Ingest (agents' streams) → event log (SQLite) → feed and sinks.
//
//   Ingest.Stream ──▶ EventLog.store (one transaction) ──▶ Ack to the agent
//                                   └──▶ Feed (live subscribers, bounded queues)
//                                   └──▶ sinks (each reads the log from its own cursor)

import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../core/config.js';
import { EventLog, type IncomingEvent } from './event-log.js';
import { ingestHandler } from './ingest.js';
import { Feed } from './feed.js';
import { JsonlSink } from './sinks/jsonl/sink.js';
import type { Sink } from './sinks/sink.js';
import { feedService, ingestService, channelOptions } from '../core/wire/services.js';
import { startHttp, type HttpEndpoint } from '../core/http.js';
import { droppedCounter } from '../core/metrics.js';
import { NwError } from '../core/errors.js';

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
  private readonly sinks: Sink[] = [];
  private boundPort = 0;
  private stopped = false;

  constructor(private readonly config: Config, private readonly logger: Logger, private readonly options: CentralOptions = {}) {}

  /** The port Ingest and Feed listen on (useful when configured as :0). */
  get port(): number {
    return this.boundPort;
  }

  get httpAddress(): HttpEndpoint['address'] | null {
    return this.http?.address ?? null;
  }

  async start(): Promise<void> {
    const cfg = this.config.central;
    collectDefaultMetrics({ register: this.registry, prefix: 'nodewarden_central_' });
    this.log = new EventLog(path.join(cfg.dataDir, 'events.db'));
    const reg = this.registry;
    const dropped = droppedCounter(reg);
    const delivered = new Counter({ name: 'nodewarden_sink_events_delivered_total', help: 'Events delivered by each sink.', labelNames: ['sink'], registers: [reg] });
    this.feed = new Feed(this.log, dropped, new Gauge({ name: 'nodewarden_feed_subscribers', help: 'Live Feed.Subscribe streams.', registers: [reg] }));
    if (cfg.jsonl) this.sinks.push(new JsonlSink({ target: cfg.jsonl, log: this.log, logger: this.logger.child({ sink: 'jsonl' }), delivered }));
    for (const s of this.sinks) await s.start();

    const onStored = (events: IncomingEvent[]) => {
      this.feed?.publish(events);
      for (const s of this.sinks) s.notify();
      this.options.onEvent?.(events);
    };
    this.server = new grpc.Server(channelOptions);
    this.server.addService(ingestService, {
      Stream: ingestHandler({
        log: this.log,
        logger: this.logger.child({ component: 'ingest' }),
        onStored,
        metrics: {
          received: new Counter({ name: 'nodewarden_ingest_events_received_total', help: 'Events received from agents (resends included).', registers: [reg] }),
          stored: new Counter({ name: 'nodewarden_ingest_events_stored_total', help: 'Events stored for the first time.', registers: [reg] }),
          duplicates: new Counter({ name: 'nodewarden_ingest_events_duplicate_total', help: 'Events received again and ignored (already stored).', registers: [reg] }),
          refused: new Counter({ name: 'nodewarden_ingest_streams_refused_total', help: 'Agent streams refused, by error code.', labelNames: ['code'], registers: [reg] }),
        },
      }) as grpc.handleBidiStreamingCall<Buffer, unknown>,
    });
    this.server.addService(feedService, { Subscribe: this.feed.handler() as grpc.handleServerStreamingCall<Buffer, unknown> });
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server!.bindAsync(cfg.listen, grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err) reject(new NwError('NW_ERR_CONFIG', `central cannot listen on ${cfg.listen}: ${err.message}`, { cause: err }));
        else resolve(port);
      });
    });
    this.http = await startHttp(cfg.http, reg, () => []);
    this.logger.info({ listen: cfg.listen, port: this.boundPort, dataDir: cfg.dataDir, jsonl: cfg.jsonl, stored: this.log.count() }, 'Central started.');
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.feed?.close();
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, deadlineMs);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    for (const s of this.sinks) await s.stop(deadlineMs);
    await this.http?.close();
    this.log?.close();
  }
}
