// The Splunk HTTP Event Collector transport: a batch as one POST to /services/collector/event of
// concatenated HEC envelopes, `event` holding the protobuf JSON mapping (the same objects as the
// JSON-lines sink and `--jsonl`, so one set of searches reads both) and `fields` a few indexed
// fields to filter on without parsing the event.
//
// With indexer acknowledgement (ack: true) a 200 only means "received": the transport then polls
// /services/collector/ack with the answer's ackId on its channel until Splunk says the batch is
// indexed, and only then answers ok, so the cursor moves past events Splunk holds for sure. If the
// chain's timeout ends the wait first, the batch is sent again: Splunk may then index it twice,
// which HEC's documentation accepts for unacknowledged events (at-least-once; no _id to dedupe on).
//
// Answers, and why:
// - 200 → ok (after the acknowledgement when ack is on).
// - 400 with code 6 (invalid data format), 12/13 (event field missing or blank), 15 (indexed
//   fields) → the data is wrong and will stay wrong: permanent. With `invalid-event-number` only
//   that event is dead-lettered; the others are sent again, since HEC does not say whether it
//   indexed those before the bad one (a duplicate is better than a loss).
// - 400 with code 7 (index not allowed), 10/11 (channel), 14 (ack disabled), any other 400 → the
//   sink's configuration: retry with the reason.
// - 401/403 (codes 1–4, the token) → retry with the reason, not permanent: a wrong or disabled
//   token would otherwise dead-letter every event; retrying keeps them in the log, says why in the
//   log and the metrics, and delivery resumes by itself once the token file is fixed.
// - 413 → retry while the batch holds several events (lower batch.maxEvents); a lone event too
//   large is permanent.
// - 503 (code 9 busy, 18–20 unhealthy), other 5xx, 429, network → retry, honouring Retry-After.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { describeError } from '../../../core/errors.js';
import { eventToJson, severityName, sourceName } from '../../../core/event.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';
import { isLong, longNanosToMs } from '../../formats/time.js';
import { eventJsonText } from '../event-json.js';
import { HttpClient, joinUrl, retryAfterMs, type HttpAnswer } from '../http/client.js';
import { joinedBytes } from '../joined-bytes.js';

const MAX_RESPONSE_BYTES = 64 * 1024;
/** Waits between acknowledgement polls; the last one repeats until the chain's timeout. */
const ACK_POLL_MS = [100, 250, 500, 1000, 2000];

/** HEC codes that mean the data itself is bad. */
const INVALID_DATA = new Set([6, 12, 13, 15]);

const HINTS: Record<number, string> = {
  1: 'the token is disabled',
  2: 'no token was sent',
  3: 'the Authorization header was refused',
  4: 'the token is not known to Splunk (check token; the secret is read again on every send)',
  5: 'Splunk saw no data',
  7: 'the token may not write to this index (check index, or the token\'s allowed indexes)',
  10: 'the token has indexer acknowledgement on and needs a channel: set ack: true',
  11: 'the channel was refused (channel must be a GUID)',
  14: 'ack: true but the token has indexer acknowledgement off: enable it on the token or set ack: false',
};

export interface SplunkHecTransportOptions {
  /** Base URL of the HEC endpoint (https://splunk.example:8088). */
  url: string;
  /** The token, read now (secrets rotate); throws when the secret is unreadable. */
  token: () => string;
  index?: string;
  source: string;
  sourcetype: string;
  ack: boolean;
  /** Sent as X-Splunk-Request-Channel; required with ack. */
  channel?: string;
  caFile?: string;
  logger: Logger;
}

interface HecAnswer {
  text?: string;
  code?: number;
  ackId?: number;
  'invalid-event-number'?: number;
  acks?: Record<string, boolean>;
}

export class SplunkHecTransport implements Transport {
  private readonly client: HttpClient;
  private readonly eventUrl: URL;
  private readonly ackUrl: URL;
  private warnedNoAckId = false;

  constructor(private readonly opts: SplunkHecTransportOptions) {
    if (opts.ack && !opts.channel) throw new Error('indexer acknowledgement needs a channel');
    this.client = new HttpClient({ caFile: opts.caFile, maxResponseBytes: MAX_RESPONSE_BYTES });
    this.eventUrl = joinUrl(opts.url, 'services/collector/event');
    this.ackUrl = joinUrl(opts.url, 'services/collector/ack');
  }

  async send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    let headers: Record<string, string>;
    try {
      headers = { authorization: `Splunk ${this.opts.token()}`, 'content-type': 'application/json' };
    } catch (err) {
      return { kind: 'retry', reason: `the Splunk HEC token cannot be read: ${describeError(err)}` };
    }
    if (this.opts.channel) headers['x-splunk-request-channel'] = this.opts.channel;

    let answer: HttpAnswer;
    try {
      answer = await this.client.post(this.eventUrl, hecBody(batch, this.opts), headers, signal);
    } catch (err) {
      return { kind: 'retry', reason: `Splunk HEC at ${this.eventUrl.origin} did not answer: ${describeError(err)}` };
    }
    const result = hecResult(answer, batch.length);
    if (result.kind !== 'ok' || !this.opts.ack) return result;

    const ackId = parse(answer.body)?.ackId;
    if (typeof ackId !== 'number') {
      // The token has acknowledgement off: the events were received, and resending would only
      // duplicate them. Said once, since every batch is the same.
      if (!this.warnedNoAckId) {
        this.warnedNoAckId = true;
        this.opts.logger.warn({ url: this.eventUrl.origin }, 'Splunk HEC answered without an ackId although ack is on: the token has indexer acknowledgement off, so delivery is confirmed on receipt only.');
      }
      return { kind: 'ok' };
    }
    return this.awaitAck(ackId, headers, signal);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  /** Polls until Splunk says `ackId` is indexed; retry when the chain's timeout ends the wait. */
  private async awaitAck(ackId: number, headers: Record<string, string>, signal: AbortSignal): Promise<Outcome> {
    const body = JSON.stringify({ acks: [ackId] });
    for (let i = 0; ; i++) {
      try {
        await sleep(ACK_POLL_MS[Math.min(i, ACK_POLL_MS.length - 1)]!, undefined, { signal });
      } catch {
        return unacknowledged(ackId);
      }
      let answer: HttpAnswer;
      try {
        answer = await this.client.post(this.ackUrl, body, headers, signal);
      } catch (err) {
        if (signal.aborted) return unacknowledged(ackId);
        // The batch was received; the acknowledgement service is out of reach for now. Asking again
        // is cheaper than resending, and the timeout still bounds the wait.
        this.opts.logger.debug({ err: describeError(err), ackId }, 'A Splunk HEC acknowledgement poll failed; polling again.');
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) {
        if (parse(answer.body)?.acks?.[String(ackId)] === true) return { kind: 'ok' };
        continue;
      }
      if (answer.status >= 500 || answer.status === 429) continue;
      const outcome = hecResult(answer, 1);
      return outcome.kind === 'ok' || outcome.kind === 'items' ? unacknowledged(ackId) : { kind: 'retry', reason: `while waiting for indexer acknowledgement: ${outcome.reason}` };
    }
  }
}

function unacknowledged(ackId: number): Outcome {
  return {
    kind: 'retry',
    reason: `Splunk did not acknowledge indexing ackId ${ackId} within the send timeout; the batch is sent again (Splunk may index it twice)`,
  };
}

/** One HEC envelope per event, concatenated (HEC's batch format: no separator needed). */
export function hecBody(batch: SinkEvent[], opts: Pick<SplunkHecTransportOptions, 'index' | 'source' | 'sourcetype'>): Buffer {
  return joinedBytes(batch.map((e) => hecEnvelopeText(e, opts)));
}

/**
 * JSON.stringify(hecEnvelope(e, opts)), with the event's JSON text shared with the other sinks
 * that send it (event-json.ts) spliced in where `event` goes: between the keys before it and
 * `fields`, as the envelope's key order has it.
 */
export function hecEnvelopeText(e: SinkEvent, opts: Pick<SplunkHecTransportOptions, 'index' | 'source' | 'sourcetype'>): string {
  const { event: _event, fields, ...head } = hecEnvelope(e, opts, false);
  const before = JSON.stringify(head);
  return `${before.slice(0, -1)}${before.length > 2 ? ',' : ''}"event":${eventJsonText(e.event)},"fields":${JSON.stringify(fields)}}`;
}

/** One event's HEC envelope (`withEvent` false: without the `event` object, which is costly to build). */
export function hecEnvelope(e: SinkEvent, opts: Pick<SplunkHecTransportOptions, 'index' | 'source' | 'sourcetype'>, withEvent = true): Record<string, unknown> {
  const ev = e.event;
  const ms = isLong(ev.timeUnixNano) ? longNanosToMs(ev.timeUnixNano) : BigInt(String(ev.timeUnixNano)) / 1_000_000n;
  // Indexed fields. nodewarden's source is `event_source`: `source` is a Splunk default field
  // (the envelope's source, "nodewarden"), and an indexed field of that name would make it multivalued.
  const fields: Record<string, string> = {
    rule: ev.ruleId,
    severity: severityName(ev.severity),
    node: ev.node,
    event_source: sourceName(ev.source),
  };
  const ns = ev.kubernetes?.namespace;
  if (ns) fields.namespace = ns;
  return {
    // Epoch seconds with the milliseconds as a fraction, HEC's `time` format.
    time: Number(ms) / 1000,
    host: ev.node,
    source: opts.source,
    sourcetype: opts.sourcetype,
    ...(opts.index ? { index: opts.index } : {}),
    event: withEvent ? eventToJson(ev) : undefined,
    fields,
  };
}

/** What an answer to /services/collector/event means for a batch of `n` events. */
export function hecResult(answer: HttpAnswer, n: number): SendResult {
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  const hec = parse(answer.body);
  const code = typeof hec?.code === 'number' ? hec.code : undefined;
  const why = `Splunk HEC answered ${status}${code !== undefined ? ` (code ${code}${hec?.text ? `: ${hec.text}` : ''})` : ''}`;
  const hint = code !== undefined ? HINTS[code] : undefined;
  const reason = hint ? `${why}: ${hint}` : why;

  if (status === 413) {
    return n > 1
      ? { kind: 'retry', reason: `${why}: the batch is larger than HEC takes (max_content_length); lower batch.maxEvents` }
      : { kind: 'permanent', reason: `${why}: this event alone is larger than HEC takes` };
  }
  if (status === 400 && code !== undefined && INVALID_DATA.has(code)) {
    const bad = hec?.['invalid-event-number'];
    if (typeof bad === 'number' && Number.isInteger(bad) && bad >= 0 && bad < n && n > 1) {
      return {
        kind: 'items',
        items: Array.from({ length: n }, (_, i): Outcome => i === bad
          ? { kind: 'permanent', reason }
          : { kind: 'retry', reason: `another event in the batch was refused (${why}); sent again without it` }),
      };
    }
    // Splunk did not say which event: send them one at a time to find it.
    return n > 1 ? { kind: 'retry', reason, split: true } : { kind: 'permanent', reason };
  }
  return { kind: 'retry', reason, afterMs: retryAfterMs(answer.headers['retry-after']) };
}

function parse(body: Buffer): HecAnswer | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as HecAnswer) : undefined;
  } catch {
    return undefined;
  }
}
