// Decodes what agents send (AgentMessage) while keeping each event's original bytes, so the
// event log stores exactly what the agent spooled. Anything malformed throws an NwError
// (NW_ERR_WIRE_PROTOCOL) naming what was wrong; the caller refuses that one stream.

import protobuf from 'protobufjs/minimal.js';
import { nodewarden } from '../gen/nodewarden.js';
import type { IncomingEvent } from './event-log.js';
import { ReceivedEvent } from './received-event.js';
import { NwError } from '../core/errors.js';

const pb = nodewarden.v1;
/** More events than an agent ever batches (512): a frame past it is refused before decoding on. */
export const MAX_EVENTS_PER_BATCH = 4096;
/** The agent's spool never holds a larger record; a bigger event is not from an agent. */
export const MAX_EVENT_BYTES = 4 * 1024 * 1024;

export type AgentFrame =
  | { kind: 'hello'; hello: nodewarden.v1.Hello }
  | { kind: 'token'; token: string }
  | { kind: 'batch'; batchId: number; events: IncomingEvent[]; bytes: number };

export function readAgentMessage(buf: Buffer): AgentFrame {
  try {
    const r = protobuf.Reader.create(buf);
    let frame: AgentFrame | null = null;
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3;
      if (field === 1 && (tag & 7) === 2) {
        frame = { kind: 'hello', hello: pb.Hello.decode(r.bytes()) };
      } else if (field === 2 && (tag & 7) === 2) {
        frame = readBatch(r.bytes() as Uint8Array);
      } else if (field === 3 && (tag & 7) === 2) {
        frame = { kind: 'token', token: pb.TokenRefresh.decode(r.bytes()).token };
      } else {
        r.skipType(tag & 7);
      }
    }
    if (!frame) throw new Error('the message holds neither a hello, a batch nor a token refresh');
    return frame;
  } catch (err) {
    if (err instanceof NwError) throw err;
    throw new NwError('NW_ERR_WIRE_PROTOCOL', `malformed AgentMessage (${buf.length} bytes): ${(err as Error).message}`, { cause: err });
  }
}

function readBatch(frame: Uint8Array): AgentFrame {
  const r = protobuf.Reader.create(frame);
  let batchId = 0;
  const events: IncomingEvent[] = [];
  let bytes = 0;
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 0) {
      batchId = Number(r.uint64());
    } else if (field === 2 && (tag & 7) === 2) {
      if (events.length >= MAX_EVENTS_PER_BATCH) throw new NwError('NW_ERR_WIRE_PROTOCOL', `a batch holds more than ${MAX_EVENTS_PER_BATCH} events`);
      const raw = r.bytes() as Uint8Array;
      if (raw.length > MAX_EVENT_BYTES) throw new NwError('NW_ERR_WIRE_PROTOCOL', `an event of ${raw.length} bytes is larger than ${MAX_EVENT_BYTES}`);
      bytes += raw.length;
      const copy = Buffer.from(raw); // detach from the frame so the frame can be freed
      events.push(ReceivedEvent.fromBytes(copy));
    } else {
      r.skipType(tag & 7);
    }
  }
  return { kind: 'batch', batchId, events, bytes };
}
