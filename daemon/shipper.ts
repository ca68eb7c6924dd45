// The shipper streams spooled events to central over Ingest.Stream and forgets them only when
// central acknowledges them as durably stored.
//
//   connect ─▶ Hello ─▶ Welcome{stored_through, window} ─▶ spool.ack(stored_through)
//      ▲            batches (≤ window in flight, read from the spool) ─▶ Ack ─▶ spool.ack
//      └── backoff with jitter ◀── stream error / end / refusal
//
// Batches are built from the spooled event bytes without decoding them. After a reconnect the
// shipper rewinds to the first unacknowledged sequence; central drops what it already holds.

import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import Long from 'long';
import type { Logger } from 'pino';
import type { Spool } from './spool.js';
import { IngestClient, channelOptions } from '../core/wire/services.js';
import { nodewarden } from '../gen/nodewarden.js';
import type { ShipperMetrics } from './metrics.js';
import { describeError } from '../core/errors.js';
import type { HostFacts } from '../core/host-facts.js';

const pb = nodewarden.v1;

export interface ShipperOptions {
  address: string;
  agentId: string;
  node: string;
  agentVersion: string;
  credentials?: grpc.ChannelCredentials;
  /** Extra channel options (the TLS server name override). */
  channelOptions?: grpc.ChannelOptions;
  /** The node's host facts, sent with every Hello. */
  host?: () => HostFacts;
  /** The agent's service account token, read fresh for every Hello ('' when it has none). */
  token?: () => Promise<string>;
  batchMaxEvents?: number;
  batchMaxBytes?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export class Shipper {
  private readonly client: grpc.Client & { Stream: () => grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage> };
  private call: grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage> | null = null;
  private stopped = false;
  private started = false;
  private connected = false;
  private nextToSend = 1;
  private window = 4;
  private readonly inFlight = new Map<number, { last: number; sentAt: number }>(); // batch id -> last sequence in it
  private batchId = 0;
  private pumping = false;
  private attempt = 0;
  private refused = false;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spool: Spool,
    private readonly opts: ShipperOptions,
    private readonly logger: Logger,
    private readonly metrics: ShipperMetrics,
  ) {
    const Ctor = IngestClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => typeof this.client;
    this.client = new Ctor(opts.address, opts.credentials ?? grpc.credentials.createInsecure(), {
      ...channelOptions,
      ...opts.channelOptions,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  /** New events are in the spool: send them if the window allows. */
  notify(): void {
    if (this.connected) void this.pump();
  }

  /** The kubelet rotated the token: hand it to central on the live stream. */
  refreshToken(token: string): void {
    if (!this.call || !this.connected || !token) return;
    const u8 = pb.AgentMessage.encode({ tokenRefresh: { token } }).finish();
    this.call.write(Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength));
  }

  /**
   * Stop: wait up to the deadline for in-flight batches to be acknowledged, then close.
   * Anything unacknowledged stays in the spool for the next start.
   */
  async stop(deadlineMs = 2_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const until = Date.now() + deadlineMs;
    while (this.connected && this.spool.pending > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.call?.end();
    this.call?.cancel();
    this.client.close();
  }

  private connect(): void {
    if (this.stopped) return;
    if (!this.opts.token) return this.open('');
    this.opts.token().then((t) => this.open(t), () => this.open(''));
  }

  private open(token: string): void {
    if (this.stopped) return;
    const call = this.client.Stream();
    this.call = call;
    this.inFlight.clear();
    this.nextToSend = this.spool.acked + 1;
    let closed = false;
    const onClosed = (why: string) => {
      if (closed) return;
      closed = true;
      if (this.call === call) this.call = null;
      if (this.connected && !this.stopped) this.logger.warn({ reason: why }, 'The stream to central closed; events stay in the spool until it is back.');
      this.connected = false;
      this.metrics.connected.set(0);
      this.scheduleReconnect();
    };
    call.on('data', (msg: nodewarden.v1.CentralMessage) => this.onMessage(msg));
    call.on('error', (err: Error) => onClosed(describeError(err)));
    call.on('end', () => onClosed('central ended the stream'));
    call.on('close', () => onClosed('stream closed'));
    call.write(encodeHello(this.opts, token));
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.attempt++;
    const base = this.opts.backoffInitialMs ?? 200;
    const cap = this.opts.backoffMaxMs ?? 10_000;
    const exp = Math.min(cap, base * 2 ** Math.min(this.attempt - 1, 16));
    const delay = Math.round(exp / 2 + Math.random() * (exp / 2)); // "equal jitter"
    this.metrics.reconnects.inc();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  private onMessage(msg: nodewarden.v1.CentralMessage): void {
    if (msg.welcome) {
      this.connected = true;
      if (!this.refused) this.attempt = 0; // after a refusal only a stored batch resets the backoff
      this.metrics.connected.set(1);
      this.window = Math.max(1, Math.min(msg.welcome.window || 4, 64));
      const held = Number(msg.welcome.storedThrough);
      this.logger.info({ storedThrough: held, pending: this.spool.pending }, 'Connected to central.');
      if (held > this.spool.lastSeq) {
        // Central holds more of this identity than this spool ever numbered: not ours to forget.
        this.logger.warn({ storedThrough: held, lastSeq: this.spool.lastSeq }, 'Central holds sequences this spool never wrote; its acknowledgement is ignored.');
      } else {
        // Skip what central holds at once; the ledger write that follows is not awaited here.
        this.nextToSend = Math.max(this.nextToSend, held + 1);
        this.ackSpool(held);
      }
      void this.pump();
    } else if (msg.ack) {
      const id = Number(msg.ack.batchId);
      const sent = this.inFlight.get(id);
      const sentThrough = sent?.last;
      this.inFlight.delete(id);
      if (sent) this.metrics.ackLatency.observe((performance.now() - sent.sentAt) / 1000);
      this.attempt = 0; // a stored batch proves the stream healthy
      this.refused = false;
      this.metrics.acked.inc((msg.ack.accepted ?? 0) + (msg.ack.duplicates ?? 0));
      // Never forget more than this stream actually sent.
      if (sentThrough !== undefined) this.ackSpool(Math.min(Number(msg.ack.storedThrough), sentThrough));
    } else if (msg.refusal) {
      this.refused = true;
      this.metrics.refusals.inc({ code: msg.refusal.code || 'unknown' });
      this.logger.error({ code: msg.refusal.code, status: msg.refusal.status }, `Central refused the stream: ${msg.refusal.message}`);
    }
  }

  private ackSpool(through: number): void {
    this.spool.ack(through).then(
      () => {
        this.nextToSend = Math.max(this.nextToSend, this.spool.acked + 1);
        this.metrics.spoolPending.set(this.spool.pending);
        void this.pump();
      },
      (err) => this.logger.error({ err: describeError(err) }, 'Recording an acknowledgement in the spool ledger failed; the events will be sent again.'),
    );
  }

  /** Send batches while the window has room and the spool has unsent events. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.connected && this.call && this.inFlight.size < this.window) {
        const records = await this.spool.read(this.nextToSend, this.opts.batchMaxEvents ?? 512, this.opts.batchMaxBytes ?? 1024 * 1024);
        if (records.length === 0 || !this.call || !this.connected) break;
        const id = ++this.batchId;
        const last = records[records.length - 1]!.seq;
        this.inFlight.set(id, { last, sentAt: performance.now() });
        this.nextToSend = last + 1;
        const w = protobuf.Writer.create();
        w.uint32(8).uint64(id);
        for (const r of records) w.uint32(18).bytes(r.payload);
        const batch = w.finish();
        const msg = protobuf.Writer.create().uint32(18).bytes(batch).finish();
        this.call.write(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
        this.metrics.sent.inc(records.length);
        this.metrics.batches.inc();
      }
    } catch (err) {
      this.logger.error({ err: describeError(err) }, 'Reading the spool failed; retrying on the next event.');
    } finally {
      this.pumping = false;
    }
  }
}

function encodeHello(o: ShipperOptions, token: string): Buffer {
  const h = o.host?.();
  const host = h ? {
    hostname: h.hostname, osName: h.os.name, osVersion: h.os.version, osFamily: h.os.family, osPlatform: h.os.platform,
    kernel: h.kernel, architecture: h.architecture, bootTimeUnixMs: Long.fromNumber(Math.trunc(h.bootTime)), containerRuntime: h.containerRuntime,
  } : undefined;
  const u8 = pb.AgentMessage.encode({ hello: { agentId: o.agentId, node: o.node, agentVersion: o.agentVersion, token, host } }).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
