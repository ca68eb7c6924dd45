// An event as central holds it between the wire and the event log: its bytes as the agent sent
// them (stored as they are, never re-encoded) and the few header fields central routes on.
// The full message is decoded once on arrival, to refuse a malformed event, and then let go:
// holding thousands of decoded events until their commit made the garbage collector central's
// largest cost. `event` decodes again, lazily, for the rare reader that needs all of it.

import type Long from 'long';
import { nodewarden } from '../gen/nodewarden.js';
import type { WireEvent } from '../core/event.js';

const pb = nodewarden.v1;

export interface EventHeader {
  agentId: string;
  /** As a number; above 2^53 it is not a safe integer (ingest refuses those). */
  sequence: number;
  node: string;
  timeUnixNano: bigint;
  source: number;
  ruleId: string;
  severity: number;
  fingerprint: string;
  state: number;
  namespace: string;
}

export class ReceivedEvent {
  private decoded: WireEvent | undefined;

  constructor(readonly bytes: Buffer, readonly header: EventHeader) {}

  /** Decode (and so check) the whole event; throws on malformed bytes. */
  static fromBytes(bytes: Buffer): ReceivedEvent {
    return new ReceivedEvent(bytes, headerOf(pb.Event.decode(bytes)));
  }

  /** An event built here (central's own, tests): its bytes are its encoding. */
  static fromEvent(event: WireEvent): ReceivedEvent {
    const u8 = pb.Event.encode(event).finish();
    const r = new ReceivedEvent(Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength), headerOf(event));
    r.decoded = event;
    return r;
  }

  get event(): WireEvent {
    return (this.decoded ??= pb.Event.decode(this.bytes));
  }
}

export function headerOf(e: WireEvent): EventHeader {
  return {
    agentId: e.agentId,
    sequence: Number(e.sequence),
    node: e.node,
    timeUnixNano: nanos(e.timeUnixNano),
    source: e.source,
    ruleId: e.ruleId,
    severity: e.severity,
    fingerprint: e.fingerprint,
    state: e.state,
    namespace: e.kubernetes?.namespace ?? '',
  };
}

function nanos(v: Long | number | string | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  return typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v.toString());
}
