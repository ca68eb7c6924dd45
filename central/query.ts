// Query.Events and Query.Findings: stored history for `nodewarden events` / `findings` and any
// gRPC client. Each call is authorized first, then its request decoded (malformed or absurd →
// INVALID_ARGUMENT), then the matching stored event bytes are streamed as they are, oldest
// first, honouring the client's flow control, and the stream ends with OK.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { nodewarden } from '../gen/nodewarden.js';
import { describeError } from '../core/errors.js';
import type { EventLog, EventsQuery, FindingsQuery, StoredRow } from './event-log.js';

const pb = nodewarden.v1;
type Call = grpc.ServerWritableStream<Buffer, unknown>;
export type Verdict = { ok: true } | { ok: false; code: grpc.status; message: string };

export interface QueryDeps {
  log: EventLog;
  /** Who may read: decided by central's identity layer; called before anything else. */
  authorize: (call: Call) => Promise<Verdict>;
  logger: Logger;
}

/** A request central will not run: its message goes back with INVALID_ARGUMENT. */
class BadRequest extends Error {}

// Each value becomes one SQL parameter; a thousand names is more than any cluster filters by.
const MAX_VALUES = 1000;

function list<T>(field: string, values: T[]): T[] {
  if (values.length > MAX_VALUES) throw new BadRequest(`${field} has ${values.length} values; at most ${MAX_VALUES} are accepted`);
  return values;
}

function filters(req: nodewarden.v1.FindingsRequest | nodewarden.v1.EventsRequest): FindingsQuery {
  return {
    nodes: list('nodes', req.nodes),
    minSeverity: req.minSeverity,
    sources: list('sources', req.sources).map(Number),
    ruleIds: list('rule_ids', req.ruleIds),
    namespaces: list('namespaces', req.namespaces),
    limit: req.limit,
  };
}

/** EventsRequest → the log's query; throws BadRequest for a request that cannot mean anything. */
export function eventsQuery(req: nodewarden.v1.EventsRequest): EventsQuery {
  const sinceNs = BigInt(req.sinceUnixNano.toString());
  const untilNs = BigInt(req.untilUnixNano.toString());
  if (sinceNs < 0n || untilNs < 0n) throw new BadRequest('since_unix_nano and until_unix_nano cannot be negative');
  if (sinceNs && untilNs && sinceNs > untilNs) throw new BadRequest('since_unix_nano is after until_unix_nano');
  if (pb.FindingState[req.state] === undefined) throw new BadRequest(`state ${req.state} is not a FindingState`);
  return { ...filters(req), sinceNs, untilNs, state: req.state };
}

export function findingsQuery(req: nodewarden.v1.FindingsRequest): FindingsQuery {
  return filters(req);
}

function fail(call: Call, code: grpc.status, details: string): void {
  // grpc-js turns an 'error' on a server stream into the call's status and ends it.
  call.emit('error', { code, details });
}

/** Write every row, waiting for 'drain' when the client is slow; stop if it goes away. */
async function writeAll(call: Call, rows: StoredRow[]): Promise<void> {
  for (const row of rows) {
    if (call.cancelled) return;
    if (!call.write(row.body)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          call.off('drain', done);
          call.off('cancelled', done);
          resolve();
        };
        call.on('drain', done);
        call.on('cancelled', done);
      });
    }
  }
}

function handler<Q>(deps: QueryDeps, name: string, decode: (b: Buffer) => Q, read: (q: Q) => StoredRow[]): (call: Call) => void {
  return (call: Call) => {
    void (async () => {
      let verdict: Verdict;
      try {
        verdict = await deps.authorize(call);
      } catch (err) {
        deps.logger.error({ err: describeError(err), rpc: name }, 'Authorizing a query failed.');
        return fail(call, grpc.status.INTERNAL, 'authorization failed inside central');
      }
      if (!verdict.ok) return fail(call, verdict.code, verdict.message);
      let q: Q;
      try {
        q = decode(call.request as unknown as Buffer);
      } catch (err) {
        return fail(call, grpc.status.INVALID_ARGUMENT, err instanceof BadRequest ? err.message : `malformed ${name}Request: ${describeError(err)}`);
      }
      let rows: StoredRow[];
      try {
        rows = read(q);
      } catch (err) {
        deps.logger.error({ err: describeError(err), rpc: name }, 'Reading the event log for a query failed.');
        return fail(call, grpc.status.INTERNAL, `reading the event log failed: ${describeError(err)}`);
      }
      deps.logger.debug({ rpc: name, peer: call.getPeer(), rows: rows.length }, 'Answering a query.');
      await writeAll(call, rows);
      if (!call.cancelled) call.end();
    })();
  };
}

/** Dead letters as events: the stored event with where and why it was refused in its attributes. */
function deadLetterRows(log: EventLog, req: nodewarden.v1.EventsRequest): StoredRow[] {
  return log.deadLetters({ sink: req.sink || undefined, limit: req.limit || undefined }).map((d) => {
    const ev = pb.Event.decode(d.body);
    ev.attributes = { ...ev.attributes, 'dead_letter.sink': d.sink, 'dead_letter.reason': d.reason, 'dead_letter.at': new Date(d.at).toISOString() };
    return { rowid: d.rowid, body: Buffer.from(pb.Event.encode(ev).finish()) };
  });
}

export function queryHandlers(deps: QueryDeps): { Events: (call: Call) => void; Findings: (call: Call) => void } {
  return {
    Events: handler(deps, 'Events', (b) => {
      const req = pb.EventsRequest.decode(b);
      // Checked while decoding, so a request that cannot mean anything is INVALID_ARGUMENT.
      return { req, query: req.deadLetter ? null : eventsQuery(req) };
    }, ({ req, query }) => (query ? deps.log.events(query) : deadLetterRows(deps.log, req))),
    Findings: handler(deps, 'Findings', (b) => findingsQuery(pb.FindingsRequest.decode(b)), (q) => deps.log.openFindings(q)),
  };
}
