// The Elasticsearch transport: a batch as one `_bulk` request of `create` actions whose `_id` is the
// event id, so a batch sent again after a crash or a lost answer is a 409 version conflict for
// every document already indexed: delivered, not duplicated. Documents are ECS (central/formats).
//
//   POST {url}/{index}/_bulk?filter_path=…[&pipeline=…]      Content-Type: application/x-ndjson
//   {"create":{"_id":"<agent>/<seq>"}}\n{<ECS document>}\n …
//
// Answers, and why:
// - per item (`items[i].create.status`, in batch order): 2xx and 409 ok; 429 and 5xx retry; 401,
//   403, 404 and 408 retry (a role without `create_doc` on the index, an index that may not be
//   auto-created: the sink's configuration, not the document); any other 4xx (a mapping or
//   parsing error) permanent, with `error.type: error.reason`.
// - the whole request: 2xx read per item; 413 retry while the batch holds several events (lower
//   batch.maxEvents) and permanent for a lone event too large; everything else (401/403 bad
//   credentials, 404 wrong URL, 400 a bad pipeline name, 429, 5xx, network) retry, honouring
//   Retry-After. Such answers are about the request, not the documents: dead-lettering would move
//   the whole stream into the dead-letter table within minutes, while retrying keeps the events in
//   the log behind the cursor (retention waits for a lagging sink), the reason in the log and the
//   retry metrics, and delivery resumes by itself once the secret file or the cluster is fixed.
//
// HttpClient below is the sinks' small HTTP client (keep-alive, a CA file re-read when it changes,
// abort, bounded answers); the Splunk HEC transport uses it too.

import { describeError } from '../../../core/errors.js';
import { toEcs } from '../../formats/ecs.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';
import { HttpClient, joinUrl, retryAfterMs, type HttpAnswer } from '../http/client.js';
import { joinedBytes } from '../joined-bytes.js';

/** Bulk answers are small with filter_path (a status per item, errors' type and reason). */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
const MAX_REASON_CHARS = 1000;
const FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason,items.*.error.caused_by.type,items.*.error.caused_by.reason,error.type,error.reason';

export interface ElasticsearchTransportOptions {
  /** Base URL of the cluster (or a proxy path in front of it). */
  url: string;
  /** An index, alias or data stream (data streams take only `create`, which is all this sends). */
  index: string;
  pipeline?: string;
  /** The Authorization header value, read now (secrets rotate); throws when the secret is unreadable. */
  authorization?: () => string;
  /** A PEM CA bundle to trust instead of the system's roots. */
  caFile?: string;
  /** nodewarden's version, for the ECS documents. */
  version: string;
}

export class ElasticsearchTransport implements Transport {
  private readonly client: HttpClient;
  private readonly endpoint: URL;

  constructor(private readonly opts: ElasticsearchTransportOptions) {
    this.client = new HttpClient({ caFile: opts.caFile, maxResponseBytes: MAX_RESPONSE_BYTES });
    this.endpoint = joinUrl(opts.url, `${encodeURIComponent(opts.index)}/_bulk`);
    this.endpoint.searchParams.set('filter_path', FILTER_PATH);
    if (opts.pipeline) this.endpoint.searchParams.set('pipeline', opts.pipeline);
  }

  async send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    const headers: Record<string, string> = { 'content-type': 'application/x-ndjson', accept: 'application/json' };
    try {
      if (this.opts.authorization) headers.authorization = this.opts.authorization();
    } catch (err) {
      return { kind: 'retry', reason: `the Elasticsearch credentials cannot be read: ${describeError(err)}` };
    }
    let answer: HttpAnswer;
    try {
      answer = await this.client.post(this.endpoint, bulkBody(batch, this.opts.version), headers, signal);
    } catch (err) {
      return { kind: 'retry', reason: `Elasticsearch at ${this.endpoint.origin} did not answer: ${describeError(err)}` };
    }
    return bulkResult(answer, batch.length);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The NDJSON body: an action line and a document line per event, each ending in a newline. */
export function bulkBody(batch: SinkEvent[], version: string): Buffer {
  const lines: string[] = [];
  // The action line is JSON.stringify({ create: { _id } }) without building the object.
  for (const e of batch) lines.push(`{"create":{"_id":${JSON.stringify(e.event.id)}}}`, JSON.stringify(toEcs(e, { version })));
  return joinedBytes(lines, '\n', '', lines.length > 0 ? '\n' : '');
}

interface BulkItem {
  status?: number;
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } };
}

interface BulkAnswer {
  errors?: boolean;
  items?: Record<string, BulkItem>[];
  error?: { type?: string; reason?: string } | string;
}

/** What a `_bulk` answer means for a batch of `n` events. */
export function bulkResult(answer: HttpAnswer, n: number): SendResult {
  const { status } = answer;
  const parsed = parseJson<BulkAnswer>(answer.body);
  if (status < 200 || status >= 300) {
    const why = `Elasticsearch answered ${status}${errorText(parsed?.error) ? ` (${errorText(parsed?.error)})` : ''}`;
    if (status === 413) {
      return n > 1
        ? { kind: 'retry', reason: `${why}: the batch is larger than the cluster (or a proxy) takes; lower batch.maxEvents` }
        : { kind: 'permanent', reason: `${why}: this event alone is larger than the cluster (or a proxy) takes` };
    }
    return { kind: 'retry', reason: `${why}${HINTS[status] ? `: ${HINTS[status]}` : ''}`, afterMs: retryAfterMs(answer.headers['retry-after']) };
  }
  if (answer.truncated || !parsed) return { kind: 'retry', reason: `Elasticsearch answered ${status} with a body that is not a bulk response${answer.truncated ? ' (too large)' : ''}` };
  if (parsed.errors === false && !parsed.items) return { kind: 'ok' };
  const items = parsed.items ?? [];
  if (items.length !== n) return { kind: 'retry', reason: `Elasticsearch answered for ${items.length} of ${n} documents` };
  return { kind: 'items', items: items.map(itemOutcome) };
}

const HINTS: Record<number, string> = {
  401: 'the credentials were refused (check auth; the secret is read again on every send)',
  403: 'the credentials lack a privilege (create_doc on the index, or create_index/auto_configure for a new data stream)',
  404: 'check url and index (and that the index may be created)',
};

function itemOutcome(item: Record<string, BulkItem>): Outcome {
  const r = item.create ?? Object.values(item)[0];
  const status = r?.status;
  if (typeof status !== 'number') return { kind: 'retry', reason: 'Elasticsearch gave no status for this document' };
  // 409: a document with this _id is already indexed: an earlier attempt got there.
  if ((status >= 200 && status < 300) || status === 409) return { kind: 'ok' };
  const why = clip(`${errorText(r?.error) || `status ${status}`}`);
  if (status === 429 || status >= 500 || status === 401 || status === 403 || status === 404 || status === 408) {
    return { kind: 'retry', reason: `Elasticsearch could not take the document now (${status}): ${why}` };
  }
  return { kind: 'permanent', reason: why };
}

/** `type: reason`, with the cause when Elasticsearch gives one. */
function errorText(err: BulkItem['error'] | string | undefined): string {
  if (!err) return '';
  if (typeof err === 'string') return clip(err);
  const main = [err.type, err.reason].filter(Boolean).join(': ');
  const cause = err.caused_by ? [err.caused_by.type, err.caused_by.reason].filter(Boolean).join(': ') : '';
  return clip(cause ? `${main} (caused by ${cause})` : main);
}

function clip(s: string): string {
  return s.length > MAX_REASON_CHARS ? `${s.slice(0, MAX_REASON_CHARS)}…` : s;
}

function parseJson<T>(body: Buffer): T | undefined {
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' ? (v as T) : undefined;
  } catch {
    return undefined;
  }
}
