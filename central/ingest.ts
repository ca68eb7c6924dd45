// Ingest.Stream: one bidirectional stream per node. Hello first (identity, checked against the
// peer's certificate or token), then batches; each batch is stored in one transaction and
// acknowledged only after it commits. A refusal (bad credential, another node's events, a
// malformed frame) ends that one stream with a status and a reason; other streams are untouched.
//
//   data ─▶ queue (≤ 2×window unacknowledged) ─▶ node's budget (wait) ─▶ group commit ─▶ Ack
//
// Fairness: each node identity has one live stream (a new one replaces the old) and an
// events-per-second budget. Over budget, central waits before storing and acknowledging, so the
// agent's window fills and its spool absorbs the flood: nothing is dropped, and other nodes'
// batches are never queued behind it.

import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import type { Logger } from 'pino';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { nodewarden } from '../gen/nodewarden.js';
import { CENTRAL_AGENT_ID, type EventLog, type IncomingEvent } from './event-log.js';
import { readAgentMessage, type AgentFrame } from './wire-reader.js';
import { describeError, NwError, type ErrorCode } from '../core/errors.js';
import { deny, type Authenticator, type Principal, type Refused } from './identity/authenticate.js';
import type { Budgets } from './budget.js';
import type { GroupCommit } from './group-commit.js';

export interface IngestMetrics {
  received: Counter;
  stored: Counter;
  duplicates: Counter;
  refused: Counter<'code'>;
  throttledSeconds: Counter;
  /** From a batch's arrival on central's event loop to its Ack written (its node's budget wait included). */
  ackSeconds: Histogram;
  replaced: Counter;
  streams: Gauge;
}

export interface IngestDeps {
  log: EventLog;
  logger: Logger;
  metrics: IngestMetrics;
  auth: Authenticator;
  budgets: Budgets;
  /** Stores batches of all streams together, one commit per turn of the event loop. */
  commit: GroupCommit;
  /** An authenticated agent told its node's host facts. */
  onHost?: (node: string, host: nodewarden.v1.IHostFacts) => void;
  /** Newly stored events, in order, for the feed and the sinks. */
  onStored: (events: IncomingEvent[]) => void;
  window?: number;
}

type Call = grpc.ServerDuplexStream<Buffer, nodewarden.v1.ICentralMessage>;
/** A batch as queued: with the time it arrived (performance.now(), ms), for the ack latency. */
type Batch = Extract<AgentFrame, { kind: 'batch' }> & { arrivedMs: number };

const MAX_NAME = 253;

export function ingestHandler(deps: IngestDeps): (call: Call) => void {
  const window = deps.window ?? 8;
  /** The live stream of each node identity. */
  const live = new Map<string, { close: (r: Refused, code: ErrorCode) => void }>();

  return (call: Call) => {
    let agent: { id: string; node: string; principal: Principal } | null = null;
    let closed = false;
    let helloPending = false;
    const queue: Batch[] = [];
    /** Batches received and not yet acknowledged (queued, or stored and awaiting the commit). */
    let unacked = 0;
    let draining = false;
    let expiry: NodeJS.Timeout | null = null;
    /** The newest refreshed token not yet reviewed, and whether a review runs (one at a time). */
    let nextToken: string | null = null;
    let reviewing = false;
    /** Ends a wait for the node's budget early when the stream closes. */
    let wake: (() => void) | null = null;
    deps.metrics.streams.inc();
    let counted = true;

    const finish = () => {
      if (counted) deps.metrics.streams.dec();
      counted = false;
      if (expiry) clearTimeout(expiry);
      expiry = null;
      queue.length = 0;
      nextToken = null;
      wake?.();
      if (agent && live.get(agent.node)?.close === close) live.delete(agent.node);
    };
    const close = (r: Refused, code: ErrorCode) => {
      if (closed) return;
      closed = true;
      deps.metrics.refused.inc({ code });
      // A refused credential was logged (once per peer and reason) where it was judged: an agent
      // that keeps reconnecting with it must not repeat the line on every attempt.
      const judged = (code === 'NW_ERR_AUTH' || code === 'NW_ERR_AUTH_UNAVAILABLE') && r.reason !== 'internal';
      const log = judged ? deps.logger.debug.bind(deps.logger) : deps.logger.warn.bind(deps.logger);
      log({ code, reason: r.reason, agent: agent?.id, node: agent?.node, peer: call.getPeer() }, `Closed an agent stream: ${r.message}`);
      call.write({ refusal: { code, message: r.message, status: r.status } });
      call.emit('error', { code: r.status, details: r.message });
      finish();
    };
    const protocol = (message: string) => close({ ok: false, status: grpc.status.INVALID_ARGUMENT, reason: 'protocol', message }, 'NW_ERR_WIRE_PROTOCOL');
    const authFailed = (r: Refused) => close(r, r.status === grpc.status.UNAVAILABLE ? 'NW_ERR_AUTH_UNAVAILABLE' : 'NW_ERR_AUTH');

    /**
     * A credential's end is the stream's end (unless a refreshed token arrives first). Timers
     * hold at most ~24.8 days, so a longer life is waited for in steps.
     */
    const armExpiry = (p: Principal) => {
      if (expiry) clearTimeout(expiry);
      expiry = null;
      if (p.kind !== 'node' || p.expiresAt === undefined || closed) return;
      const ms = Math.max(0, p.expiresAt - Date.now());
      expiry = setTimeout(() => {
        if (Date.now() < p.expiresAt!) return armExpiry(p);
        authFailed(deps.auth.refuse('ingest', call, {
          ok: false, status: grpc.status.UNAUTHENTICATED, reason: `${p.via}-expired`,
          message: `the ${p.via === 'token' ? 'service account token' : 'client certificate'} of node ${p.node} expired during the stream`,
        }));
      }, Math.min(ms, 2 ** 31 - 1));
      expiry.unref();
    };

    const onHello = async (hello: nodewarden.v1.Hello) => {
      const id = hello.agentId;
      const node = hello.node;
      if (!id || id.length > 256) return protocol('hello without a valid agent id');
      if (id === CENTRAL_AGENT_ID) return protocol(`the agent id ${CENTRAL_AGENT_ID} is central's own`);
      if (!node || node.length > MAX_NAME) return protocol('hello without a valid node name');
      helloPending = true;
      const verdict = await deps.auth.agent(call, hello.token);
      helloPending = false;
      if (closed) return;
      if (!verdict.ok) return authFailed(verdict);
      const p = verdict.principal;
      if (p.kind === 'node' && !p.names.includes(node)) {
        return authFailed(deps.auth.refuse('ingest', call, deny('other-node', `the credential names node ${p.node} but the hello claims node ${JSON.stringify(node.slice(0, 64))}`)));
      }
      const known = deps.log.agentNode(id);
      if (known !== undefined && known !== node) {
        return authFailed(deps.auth.refuse('ingest', call, deny('agent-of-other-node', `agent ${JSON.stringify(id.slice(0, 64))} belongs to node ${known}, not ${node}`)));
      }
      agent = { id, node, principal: p };
      // One live stream per node: the newest wins (a restarted agent must not wait for the old
      // stream's keepalive to expire).
      const older = live.get(node);
      if (older) {
        deps.metrics.replaced.inc();
        older.close({ ok: false, status: grpc.status.ABORTED, reason: 'replaced', message: `a newer stream of node ${node} replaced this one` }, 'NW_ERR_STREAM_REPLACED');
      }
      live.set(node, { close });
      armExpiry(p);
      if (hello.host) deps.onHost?.(node, hello.host);
      call.write({ welcome: { storedThrough: Long.fromNumber(deps.log.storedThrough(id), true), window } });
      void drain();
    };

    const onToken = (token: string) => {
      if (!agent) return protocol('a token refresh before hello');
      // A stream proven by its certificate (or plaintext) has no token to renew: nothing to do.
      if (agent.principal.kind !== 'node' || agent.principal.via !== 'token') return;
      // Only the newest token matters: a sender repeating refreshes costs one review at a time.
      nextToken = token;
      if (!reviewing) void reviewTokens(agent.principal.node);
    };

    const reviewTokens = async (node: string) => {
      reviewing = true;
      try {
        while (nextToken !== null && !closed && agent) {
          const token = nextToken;
          nextToken = null;
          // A rotated token passes the same checks as the Hello's.
          const verdict = await deps.auth.agent(call, token);
          if (closed || !agent) return;
          if (!verdict.ok) return authFailed(verdict);
          const p = verdict.principal;
          if (p.kind !== 'node' || p.node !== node) {
            return authFailed(deps.auth.refuse('ingest', call, deny('other-node', `a refreshed token names node ${p.kind === 'node' ? p.node : '(none)'} on the stream of node ${node}`)));
          }
          agent.principal = p;
          armExpiry(p);
        }
      } catch (err) {
        authFailed({ ok: false, status: grpc.status.INTERNAL, reason: 'internal', message: describeError(err) });
      } finally {
        reviewing = false;
      }
    };

    /** Store queued batches in order, each when its node's budget allows. */
    const drain = async () => {
      if (draining) return;
      draining = true;
      try {
        while (!closed && agent && queue.length > 0) {
          const batch = queue[0]!;
          const wait = deps.budgets.take(agent.node, batch.events.length, batch.bytes);
          if (wait > 0) {
            deps.metrics.throttledSeconds.inc(wait / 1000);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(() => {
                wake = null;
                resolve();
              }, wait);
              wake = () => {
                clearTimeout(timer);
                wake = null;
                resolve();
              };
            });
            if (closed) return;
          }
          queue.shift();
          store(batch);
        }
      } finally {
        draining = false;
      }
    };

    /** Check a batch and hand it to the group commit; its Ack follows the commit, in order. */
    const store = (batch: Batch) => {
      if (!agent) return;
      const { id, node } = agent;
      for (const e of batch.events) {
        const h = e.header;
        if (h.agentId !== agent.id) {
          return protocol(`an event of agent ${JSON.stringify(h.agentId.slice(0, 64))} arrived on the stream of ${agent.id}`);
        }
        if (agent.principal.kind !== 'anonymous' && h.node !== agent.node) {
          return authFailed(deps.auth.refuse('ingest', call, deny('other-node', `an event claims node ${JSON.stringify(h.node.slice(0, 64))} on the stream of node ${agent.node}`)));
        }
        if (h.sequence < 1 || !Number.isSafeInteger(h.sequence)) return protocol(`an event with sequence ${String(e.event.sequence)}`);
      }
      deps.metrics.received.inc(batch.events.length);
      deps.commit.submit({ agentId: id, node, events: batch.events }, () => closed).then(
        (result) => {
          unacked--;
          deps.metrics.stored.inc(result.accepted.length);
          deps.metrics.duplicates.inc(result.duplicates);
          // Stored is stored: the feed and sinks hear of it even if this stream closed meanwhile.
          if (result.accepted.length > 0) deps.onStored(result.accepted);
          if (closed) return;
          call.write({
            ack: { batchId: Long.fromNumber(batch.batchId, true), storedThrough: Long.fromNumber(result.storedThrough, true), accepted: result.accepted.length, duplicates: result.duplicates },
          });
          deps.metrics.ackSeconds.observe((performance.now() - batch.arrivedMs) / 1000);
        },
        (err: unknown) => {
          unacked--;
          // Not acknowledged: the agent keeps the batch and sends it again after reconnecting.
          if (closed) return;
          deps.logger.error({ err: describeError(err), agent: id }, 'Storing a batch failed; closing the stream so the agent resends it.');
          closed = true;
          call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'store failed' });
          finish();
        },
      );
    };

    call.on('error', () => {
      closed = true;
      finish();
    });
    call.on('cancelled', () => {
      closed = true;
      finish();
    });
    call.on('end', () => {
      if (!closed) call.end();
      closed = true;
      finish();
    });
    call.on('close', finish);
    call.on('data', (buf: Buffer) => {
      if (closed) return;
      let frame;
      try {
        frame = readAgentMessage(buf);
      } catch (err) {
        return close({ ok: false, status: grpc.status.INVALID_ARGUMENT, reason: 'malformed', message: describeError(err) }, err instanceof NwError ? err.code : 'NW_ERR_WIRE_PROTOCOL');
      }
      if (frame.kind === 'hello') {
        if (agent || helloPending) return protocol('a second hello on one stream');
        void onHello(frame.hello).catch((err) => authFailed({ ok: false, status: grpc.status.INTERNAL, reason: 'internal', message: describeError(err) }));
        return;
      }
      if (frame.kind === 'token') return onToken(frame.token);
      // The agent sends nothing before its Welcome: a batch earlier is not from an agent, and is
      // not held while its sender's credential is being checked.
      if (!agent) return protocol('a batch arrived before the welcome');
      // The agent keeps at most `window` batches in flight; more is a broken or hostile sender.
      if (unacked >= 2 * window) return protocol(`more than ${2 * window} batches unacknowledged on one stream`);
      unacked++;
      queue.push({ ...frame, arrivedMs: performance.now() });
      if (agent) void drain();
    });
  };
}
