// Feed.Subscribe: live events for `nodewarden tail` and any gRPC client. Each subscriber has a
// bounded queue; when a subscriber cannot keep up, events are dropped for it alone, counted in
// nodewarden_events_dropped_total{component="feed"}, and it is told how many with a Dropped
// message once it catches up. Publishing never blocks ingest.

import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs/minimal.js';
import Long from 'long';
import type { Counter, Gauge } from 'prom-client';
import { nodewarden } from '../gen/nodewarden.js';
import type { EventLog, IncomingEvent } from './event-log.js';
import { headerOf, type EventHeader } from './received-event.js';

const pb = nodewarden.v1;
type Call = grpc.ServerWritableStream<Buffer, nodewarden.v1.IFeedMessage | Buffer>;

export interface FeedFilter {
  minSeverity: number;
  sources: Set<number>;
  rulePrefixes: string[];
  ruleIds: Set<string>;
  namespaces: Set<string>;
  node: string;
  nodes: Set<string>;
  /** A finding state (open, resolved); 0: any. */
  state: number;
}

export function toFilter(req: nodewarden.v1.ISubscribeRequest): FeedFilter {
  const rules = (req.ruleIds ?? []).map((r) => r.trim()).filter(Boolean);
  return {
    minSeverity: req.minSeverity ?? 0,
    sources: new Set(req.sources ?? []),
    rulePrefixes: rules.filter((r) => r.endsWith('*')).map((r) => r.slice(0, -1)),
    ruleIds: new Set(rules.filter((r) => !r.endsWith('*'))),
    namespaces: new Set(req.namespaces ?? []),
    node: req.node ?? '',
    nodes: new Set(req.nodes ?? []),
    state: req.state ?? 0,
  };
}

export function matches(f: FeedFilter, e: EventHeader): boolean {
  if (e.severity < f.minSeverity) return false;
  if (f.sources.size > 0 && !f.sources.has(e.source)) return false;
  if (f.ruleIds.size > 0 || f.rulePrefixes.length > 0) {
    if (!f.ruleIds.has(e.ruleId) && !f.rulePrefixes.some((p) => e.ruleId.startsWith(p))) return false;
  }
  if (f.namespaces.size > 0 && !f.namespaces.has(e.namespace)) return false;
  if (f.node && e.node !== f.node) return false;
  if (f.nodes.size > 0 && !f.nodes.has(e.node)) return false;
  if (f.state && e.state !== f.state) return false;
  return true;
}

/** FeedMessage{event} built around the stored event bytes, without re-encoding the event. */
function eventFrame(bytes: Buffer): Buffer {
  const u8 = protobuf.Writer.create().uint32(10).bytes(bytes).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

class Subscriber {
  private queue: Buffer[] = [];
  private dropped = 0;
  private writable = true;

  constructor(
    readonly call: Call,
    readonly filter: FeedFilter,
    private readonly maxQueue: number,
    private readonly droppedCounter: Counter<'component' | 'reason'>,
  ) {
    call.on('drain', () => {
      this.writable = true;
      this.flush();
    });
  }

  offer(frame: Buffer): void {
    if (this.queue.length >= this.maxQueue) {
      this.dropped++;
      this.droppedCounter.inc({ component: 'feed', reason: 'subscriber_slow' });
      return;
    }
    this.queue.push(frame);
    this.flush();
  }

  private flush(): void {
    while (this.writable && this.queue.length > 0) {
      if (this.dropped > 0) {
        this.writable = this.call.write({ dropped: { count: Long.fromNumber(this.dropped, true) } });
        this.dropped = 0;
        continue;
      }
      this.writable = this.call.write(this.queue.shift()!);
    }
  }
}

export class Feed {
  private readonly subscribers = new Set<Subscriber>();

  constructor(
    private readonly log: EventLog,
    private readonly droppedCounter: Counter<'component' | 'reason'>,
    private readonly subscribersGauge: Gauge,
    private readonly maxQueue = 1024,
  ) {}

  /** `authorize` resolves null to admit the caller, or the status that refuses it. */
  handler(authorize: (call: Call) => Promise<{ code: number; details: string } | null> = async () => null): (call: Call) => void {
    return (call: Call) => {
      authorize(call).then(
        (refusal) => (refusal ? call.emit('error', refusal) : this.subscribe(call)),
        (err: Error) => call.emit('error', { code: 13, details: err.message }),
      );
    };
  }

  private subscribe(call: Call): void {
    {
      let req: nodewarden.v1.SubscribeRequest;
      try {
        req = pb.SubscribeRequest.decode(call.request as unknown as Buffer);
      } catch (err) {
        call.emit('error', { code: 3, details: `malformed SubscribeRequest: ${(err as Error).message}` });
        return;
      }
      const sub = new Subscriber(call, toFilter(req), this.maxQueue, this.droppedCounter);
      // Replay first, then live: both go through the same bounded queue.
      // Bounded: the replay reads at most 5,000 stored rows (it runs on the ingest thread).
      const replay = Math.min(req.replay ?? 0, 1000);
      if (replay > 0) {
        const rows = this.log.query({ newest: true, limit: Math.min(Math.max(replay * 4, 1000), 5000), minSeverity: sub.filter.minSeverity });
        const picked: Buffer[] = [];
        for (const row of rows) {
          if (picked.length >= replay) break;
          if (matches(sub.filter, headerOf(pb.Event.decode(row.body)))) picked.push(row.body);
        }
        for (const body of picked.reverse()) sub.offer(eventFrame(body));
      }
      this.subscribers.add(sub);
      this.subscribersGauge.set(this.subscribers.size);
      const remove = () => {
        this.subscribers.delete(sub);
        this.subscribersGauge.set(this.subscribers.size);
      };
      call.on('cancelled', remove);
      call.on('close', remove);
      call.on('error', remove);
      if (call.cancelled) remove();
    }
  }

  publish(events: IncomingEvent[]): void {
    if (this.subscribers.size === 0) return;
    for (const e of events) {
      let frame: Buffer | null = null;
      for (const sub of this.subscribers) {
        if (!matches(sub.filter, e.header)) continue;
        frame ??= eventFrame(e.bytes);
        sub.offer(frame);
      }
    }
  }

  close(): void {
    for (const sub of this.subscribers) sub.call.end();
    this.subscribers.clear();
  }
}
