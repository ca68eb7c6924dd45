// The webhook transport: each batch as one POST of a JSON array (protobuf JSON mapping, OCSF or
// ECS documents), signed with an HMAC when a secret is configured.
//
//   POST {url}
//   Content-Type: application/json
//   Idempotency-Key: <first event id>+<event count>      the same for every attempt of a batch
//   X-Nodewarden-Timestamp: <unix seconds>              when signed, fresh on every attempt
//   X-Nodewarden-Signature: sha256=<hex>                when signed
//   [<event>, <event>, …]
//
// Verifying a delivery (receiver side):
//   1. Keep the raw body bytes as received; verify before parsing.
//   2. ts = X-Nodewarden-Timestamp; refuse it when it is more than 5 minutes from your clock
//      (a captured delivery cannot be replayed later).
//   3. expected = "sha256=" + hex(HMAC-SHA256(key = the secret, message = ts + "." + body)).
//   4. Compare expected with X-Nodewarden-Signature in constant time (crypto.timingSafeEqual,
//      hmac.compare_digest); refuse on a mismatch.
//   5. Deduplicate on Idempotency-Key: a batch sent again after a timeout or a crash keeps its
//      key (with a new timestamp and signature).
//   Node: createHmac('sha256', secret).update(`${ts}.`).update(rawBody).digest('hex')
//
// Answers: 2xx ok; 408, 425, 429 and 5xx retry (after Retry-After when given); any other status
// (including a redirect, which is not followed: a signed batch goes only where configured)
// permanent with the status and at most 512 bytes of the answer; no answer (network error,
// abort at the chain's timeout) retry. At most 64 KiB of an answer is ever read.

import { createHmac } from 'node:crypto';
import { describeError } from '../../../core/errors.js';
import { toEcs } from '../../formats/ecs.js';
import { toOcsf } from '../../formats/ocsf.js';
import { eventJsonText } from '../event-json.js';
import { HttpClient, retryAfterMs, type HttpAnswer } from '../http/client.js';
import { joinedBytes } from '../joined-bytes.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';

export type WebhookFormat = 'json' | 'ocsf' | 'ecs';

/** At most this much of a refusing answer goes into the reason (and the dead-letter table). */
export const MAX_EXCERPT_BYTES = 512;
/** Answers are read up to here (so a keep-alive connection can be reused), then cut. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface WebhookTransportOptions {
  url: URL;
  format: WebhookFormat;
  /** nodewarden's version (User-Agent, and the OCSF/ECS product version). */
  version: string;
  /** Extra headers from the configuration (never the ones this transport sets). */
  headers?: Record<string, string>;
  /** The HMAC key, read on every send so a rotated secret needs no restart; unset: unsigned. */
  secret?: () => string;
  /** A PEM CA bundle to trust instead of the system's roots (re-read when it changes). */
  caFile?: string;
  /** Unix milliseconds now (tests pin the clock). */
  now?: () => number;
}

export class WebhookTransport implements Transport {
  private readonly client: HttpClient;
  /** One event's JSON text. */
  private readonly encode: (e: SinkEvent) => string;

  constructor(private readonly opts: WebhookTransportOptions) {
    this.client = new HttpClient({ caFile: opts.caFile, maxResponseBytes: MAX_RESPONSE_BYTES });
    this.encode = encoderFor(opts.format, opts.version);
  }

  async send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    if (batch.length === 0) return { kind: 'ok' };
    // An event that cannot be encoded is refused alone; the rest of the batch still goes.
    const parts: string[] = [];
    const encoded: (Outcome | null)[] = batch.map((e) => {
      try {
        parts.push(this.encode(e));
        return null;
      } catch (err) {
        return { kind: 'permanent', reason: `the event cannot be encoded as ${this.opts.format}: ${describeError(err)}` };
      }
    });
    const sent = batch.filter((_, i) => encoded[i] === null);
    if (sent.length === 0) return { kind: 'items', items: encoded as Outcome[] };
    const body = joinedBytes(parts, ',', '[', ']');

    let secret: string | undefined;
    try {
      secret = this.opts.secret?.();
    } catch (err) {
      // Unreadable now (mid-rotation, a missing mount): the events wait, nothing is dead-lettered.
      return { kind: 'retry', reason: `the webhook secret cannot be read: ${describeError(err)}` };
    }
    const headers: Record<string, string> = {
      ...this.opts.headers,
      'content-type': 'application/json',
      'user-agent': `nodewarden/${this.opts.version}`,
      'idempotency-key': `${sent[0]!.event.id}+${sent.length}`,
    };
    if (secret !== undefined) {
      const ts = String(Math.floor((this.opts.now?.() ?? Date.now()) / 1000));
      headers['x-nodewarden-timestamp'] = ts;
      headers['x-nodewarden-signature'] = `sha256=${sign(secret, ts, body)}`;
    }

    let answer: HttpAnswer;
    try {
      answer = await this.client.post(this.opts.url, body, headers, signal);
    } catch (err) {
      const why = signal.aborted ? 'no answer before the send timed out' : describeError(err);
      return { kind: 'retry', reason: `the webhook at ${this.opts.url.origin} did not answer: ${why}` };
    }
    let outcome = outcomeOf(answer, secret);
    // A refusal of a whole batch may be about one event in it: find it by sending them alone.
    if (outcome.kind === 'permanent' && sent.length > 1) outcome = { kind: 'retry', reason: outcome.reason, split: true };
    if (sent.length === batch.length) return outcome;
    return { kind: 'items', items: encoded.map((o) => o ?? outcome) };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The signature's hex digest: HMAC-SHA256 with the secret over "<timestamp>.<body>". */
export function sign(secret: string, timestamp: string, body: Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

function encoderFor(format: WebhookFormat, version: string): (e: SinkEvent) => string {
  switch (format) {
    case 'ocsf':
      return (e) => JSON.stringify(toOcsf(e, { version }));
    case 'ecs':
      return (e) => JSON.stringify(toEcs(e, { version }));
    case 'json':
      return (e) => eventJsonText(e.event);
  }
}

const RETRYABLE = new Set([408, 425, 429]);
/** Answers about the request's content: anything else (auth, a moved route, a redirect) is about the receiver, and retried. */
const REFUSES_CONTENT = new Set([400, 413, 415, 422]);

/** What a receiver's answer means for the batch. */
export function outcomeOf(answer: HttpAnswer, secret?: string): Outcome {
  const { status } = answer;
  if (status >= 200 && status < 300) return { kind: 'ok' };
  const excerpt = excerptOf(answer.body, secret);
  const reason = `the webhook answered ${status}${excerpt ? `: ${excerpt}` : ''}`;
  if (RETRYABLE.has(status) || status >= 500) return { kind: 'retry', reason, afterMs: retryAfterMs(answer.headers['retry-after']) };
  if (status >= 300 && status < 400 && answer.headers.location) {
    return { kind: 'retry', reason: `${reason} (a redirect to ${answer.headers.location}, not followed: fix the url)` };
  }
  // 401/403/404/405…: the receiver's configuration, not the events; retrying keeps them until it is fixed.
  if (!REFUSES_CONTENT.has(status)) return { kind: 'retry', reason };
  return { kind: 'permanent', reason };
}

/**
 * At most MAX_EXCERPT_BYTES of an answer as one line: the secret masked (should a receiver echo
 * it; before cutting, so no prefix of it survives a cut), control characters blanked, cut on a
 * character boundary.
 */
export function excerptOf(body: Buffer, secret?: string): string {
  let text = body.toString('utf8');
  if (secret) text = text.split(secret).join('***');
  const bytes = Buffer.from(text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim(), 'utf8');
  let end = Math.min(bytes.length, MAX_EXCERPT_BYTES);
  // Back off over a UTF-8 sequence the cut would split (continuation bytes are 10xxxxxx).
  if (end < bytes.length) {
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  }
  return bytes.subarray(0, end).toString('utf8');
}
