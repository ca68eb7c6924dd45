// Ingest.Stream: one bidirectional stream per agent. Hello first (identity), then batches;
// each batch is stored in one transaction and acknowledged only after it commits. A malformed
// frame, a batch before Hello or an event claiming another agent's identity gets a Refusal and
// the stream is closed: other agents' streams are untouched.

import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { nodewarden } from '../gen/nodewarden.js';
import type { EventLog, IncomingEvent } from './event-log.js';
import { readAgentMessage } from './wire-reader.js';
import { describeError, NwError, type ErrorCode } from '../daemon/errors.js';

export interface IngestMetrics {
  received: Counter;
  stored: Counter;
  duplicates: Counter;
  refused: Counter<'code'>;
}

export interface IngestDeps {
  log: EventLog;
  logger: Logger;
  metrics: IngestMetrics;
  /** Newly stored events, in order, for the feed and the sinks. */
  onStored: (events: IncomingEvent[]) => void;
  window?: number;
}

type Call = grpc.ServerDuplexStream<Buffer, nodewarden.v1.ICentralMessage>;

export function ingestHandler(deps: IngestDeps): (call: Call) => void {
  return (call: Call) => {
    let agent: { id: string; node: string } | null = null;
    let closed = false;
    const refuse = (code: ErrorCode, message: string) => {
      if (closed) return;
      closed = true;
      deps.metrics.refused.inc({ code });
      deps.logger.warn({ code, agent: agent?.id, peer: call.getPeer() }, `Refused an agent stream: ${message}`);
      call.write({ refusal: { code, message } });
      call.end();
    };
    call.on('error', () => {
      closed = true;
    });
    call.on('end', () => {
      if (!closed) call.end();
      closed = true;
    });
    call.on('data', (buf: Buffer) => {
      if (closed) return;
      let frame;
      try {
        frame = readAgentMessage(buf);
      } catch (err) {
        refuse(err instanceof NwError ? err.code : 'NW_ERR_WIRE_PROTOCOL', describeError(err));
        return;
      }
      if (frame.kind === 'hello') {
        if (agent) return refuse('NW_ERR_WIRE_PROTOCOL', 'a second hello on one stream');
        const id = frame.hello.agentId;
        if (!id || id.length > 256) return refuse('NW_ERR_WIRE_PROTOCOL', 'hello without a valid agent id');
        agent = { id, node: frame.hello.node.slice(0, 256) };
        call.write({ welcome: { storedThrough: Long.fromNumber(deps.log.storedThrough(id), true), window: deps.window ?? 8 } });
        return;
      }
      if (!agent) return refuse('NW_ERR_WIRE_PROTOCOL', 'a batch arrived before hello');
      for (const e of frame.events) {
        if (e.event.agentId !== agent.id) {
          return refuse('NW_ERR_WIRE_PROTOCOL', `an event of agent ${JSON.stringify(e.event.agentId.slice(0, 64))} arrived on the stream of ${agent.id}`);
        }
        const seq = Number(e.event.sequence);
        if (seq < 1 || !Number.isSafeInteger(seq)) return refuse('NW_ERR_WIRE_PROTOCOL', `an event with sequence ${String(e.event.sequence)}`);
      }
      deps.metrics.received.inc(frame.events.length);
      let result;
      try {
        result = deps.log.store(agent.id, agent.node, frame.events);
      } catch (err) {
        // Not acknowledged: the agent keeps the batch and sends it again after reconnecting.
        deps.logger.error({ err: describeError(err), agent: agent.id }, 'Storing a batch failed; closing the stream so the agent resends it.');
        closed = true;
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'store failed' });
        return;
      }
      deps.metrics.stored.inc(result.accepted.length);
      deps.metrics.duplicates.inc(result.duplicates);
      call.write({
        ack: { batchId: Long.fromNumber(frame.batchId, true), storedThrough: Long.fromNumber(result.storedThrough, true), accepted: result.accepted.length, duplicates: result.duplicates },
      });
      if (result.accepted.length > 0) deps.onStored(result.accepted);
    });
  };
}
