// A small client of the Kubernetes API server for what the agent does with it: GET a list, watch a
// collection, apply one object. Every request takes its TLS options and headers from the
// credentials: in a pod, its service account (read here: the CA once, the token again once it is
// a minute old, as client-go does); from a kubeconfig file, @kubernetes/client-node (its CA,
// client certificates, token files and exec plugins), loaded only then: it costs ~27 MB of heap
// and ~70 MB of RSS, more than the rest of the agent. The requests themselves are made here,
// because the answers come from outside and are bounded here: client-node's Watch reads each
// line with readline without a length limit, drops lines that are not JSON without a word, and
// has no idle timeout (its AbortSignal.timeout is overwritten by the next statement, v1.4.0);
// its generated list calls buffer any body whole.
//
//   list:  GET  <path>?fieldSelector=…&limit=…&continue=…        one JSON body, at most maxBodyBytes
//   watch: GET  <path>?watch=1&resourceVersion=…&allowWatchBookmarks=true
//          → newline-delimited WatchEvents {type, object}; each line at most maxLineBytes;
//            a silent stream is ended after idleTimeoutMs
//   apply: PATCH <path>?fieldManager=nodewarden&force=true  (server-side apply)

import http from 'node:http';
import https from 'node:https';
import { existsSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import path from 'node:path';
// client-node is loaded only for a kubeconfig file.
import type { KubeConfig } from '@kubernetes/client-node';
import { NwError, describeError } from '../../core/errors.js';
import { readFileHead } from '../../core/file-head.js';
import { readTokenFile } from '../../core/identity/token-file.js';

/** Where a pod's service account token and CA are mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How every request proves who the agent is and checks the server: TLS options and headers. */
export interface ApiCredentials {
  apply(opts: https.RequestOptions): Promise<void>;
}

/** A kubeconfig file's credentials, through client-node. */
export function kubeConfigCredentials(kc: KubeConfig): ApiCredentials {
  return { apply: (opts) => kc.applyToHTTPSOptions(opts) };
}

/** A CA bundle is a few KiB; a service account's ca.crt larger than this is a wrong file. */
const MAX_CA_BYTES = 1024 * 1024;
/** How old a token read from the file may be before it is read again (client-go's interval). */
const TOKEN_REREAD_MS = 60_000;

/**
 * The pod's service account: its CA bundle (read once) verifies the API server, its token (read
 * again once a minute old: the kubelet rotates projected tokens well before they expire) goes
 * in every request's Authorization header. The token is a secret: never logged.
 */
export class ServiceAccountCredentials implements ApiCredentials {
  private token = '';
  private readAt = -Infinity;

  private constructor(private readonly tokenFile: string, private readonly ca: Buffer, private readonly now: () => number) {}

  /** Reads the CA bundle and the token now: a folder that holds neither usable fails here, naming the file. */
  static async load(dir: string, now: () => number = Date.now): Promise<ServiceAccountCredentials> {
    const caFile = path.join(dir, 'ca.crt');
    let ca: Buffer;
    try {
      ca = await readFileHead(caFile, MAX_CA_BYTES + 1);
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `The service account's CA bundle ${caFile} cannot be read: ${describeError(err)}`, { cause: err });
    }
    if (ca.length > MAX_CA_BYTES) throw new NwError('NW_ERR_CONFIG', `The service account's CA bundle ${caFile} cannot be read: it is larger than ${MAX_CA_BYTES} bytes`);
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new NwError('NW_ERR_CONFIG', `The service account's CA bundle ${caFile} holds no PEM certificate`);
    const credentials = new ServiceAccountCredentials(path.join(dir, 'token'), ca, now);
    await credentials.readToken();
    return credentials;
  }

  async apply(opts: https.RequestOptions): Promise<void> {
    if (this.now() - this.readAt >= TOKEN_REREAD_MS) await this.readToken();
    opts.ca = this.ca;
    opts.headers = { ...opts.headers, Authorization: `Bearer ${this.token}` };
  }

  private async readToken(): Promise<void> {
    try {
      this.token = await readTokenFile(this.tokenFile);
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `The service account token ${this.tokenFile} cannot be used: ${describeError(err)}`, { cause: err });
    }
    this.readAt = this.now();
  }
}

export type ApiAccess =
  | { ok: true; credentials: ApiCredentials; server: string; source: string }
  | { ok: false; why: string };

/**
 * Which API server the agent talks to, and as whom: kube.kubeconfig (--kubeconfig) when given;
 * else the pod's service account when running in a cluster (KUBERNETES_SERVICE_HOST and a mounted
 * token); else $KUBECONFIG. Never ~/.kube/config: on a node that is root's kubeconfig, often
 * the cluster admin's, which an agent meant to hold least privilege must not pick up by itself.
 */
export async function resolveApiAccess(o: { kubeconfig?: string; env: NodeJS.ProcessEnv; serviceAccountRoot?: string }): Promise<ApiAccess> {
  // A root prefix for tests: the service account is read from <root>/var/run/secrets/kubernetes.io/serviceaccount.
  const root = o.serviceAccountRoot ?? '';
  const saDir = `${root}${SERVICE_ACCOUNT_DIR}`;
  const inCluster = Boolean(o.env['KUBERNETES_SERVICE_HOST']) && existsSync(`${saDir}/token`);
  if (!o.kubeconfig && !inCluster && !o.env['KUBECONFIG']) {
    const why = o.env['KUBERNETES_SERVICE_HOST']
      ? `no service account token is mounted at ${saDir}/token (automountServiceAccountToken: false?) and no kubeconfig is set`
      : 'not running in a cluster (no KUBERNETES_SERVICE_HOST) and no kubeconfig is set (kube.kubeconfig, --kubeconfig or $KUBECONFIG)';
    return { ok: false, why };
  }
  if (!o.kubeconfig && inCluster) {
    const host = o.env['KUBERNETES_SERVICE_HOST']!;
    const port = o.env['KUBERNETES_SERVICE_PORT'] || '443';
    const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
    try {
      return { ok: true, credentials: await ServiceAccountCredentials.load(saDir), server, source: 'in-cluster service account' };
    } catch (err) {
      // A broken mount is the pod's problem, not the agent's configuration: run without the API, saying why.
      return { ok: false, why: describeError(err) };
    }
  }
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  let source: string;
  try {
    if (o.kubeconfig) {
      kc.loadFromFile(o.kubeconfig);
      source = `kubeconfig ${o.kubeconfig}`;
    } else {
      const first = o.env['KUBECONFIG']!.split(':').find(Boolean);
      if (!first) return { ok: false, why: '$KUBECONFIG names no file' };
      kc.loadFromFile(first);
      source = `kubeconfig ${first} ($KUBECONFIG)`;
    }
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `Could not load the Kubernetes API configuration: ${describeError(err)}.`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new NwError('NW_ERR_CONFIG', `The Kubernetes configuration (${source}) names no cluster server.`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new NwError('NW_ERR_CONFIG', `The Kubernetes configuration (${source}) has a server that is not a URL: ${cluster.server}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new NwError('NW_ERR_CONFIG', `The API server ${cluster.server} is neither https nor http.`);
  return { ok: true, credentials: kubeConfigCredentials(kc), server: cluster.server.replace(/\/+$/, ''), source };
}

/** Why a request failed, as the callers branch on it. */
export type ApiErrorReason =
  | 'unreachable'      // connection refused, reset, DNS, TLS handshake
  | 'timeout'          // no answer, or a silent watch, within the deadline
  | 'gone'             // 410: the resourceVersion is too old; list again
  | 'unauthorized'     // 401 / 403
  | 'not-found'        // 404 (a missing CRD)
  | 'conflict'         // 409
  | 'server'           // 5xx, 429
  | 'bad-answer'       // too large, not JSON, not the expected shape
  | 'http';            // any other status

export class KubeApiError extends NwError {
  constructor(readonly reason: ApiErrorReason, message: string, readonly status = 0, readonly retryAfterMs?: number, cause?: unknown) {
    super(reason === 'bad-answer' ? 'NW_ERR_BAD_ANSWER' : 'NW_ERR_AUTH_UNAVAILABLE', message, { cause });
    this.name = 'KubeApiError';
  }
}

export function isApiError(err: unknown, reason?: ApiErrorReason): err is KubeApiError {
  return err instanceof KubeApiError && (reason === undefined || err.reason === reason);
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface ApiClientOptions {
  /** Deadline of a list or apply (default 30 s). */
  timeoutMs?: number;
  /** Largest JSON body accepted (default 64 MiB: a list of 110 fat pods is a few MiB). */
  maxBodyBytes?: number;
  /** Largest watch event line (default 4 MiB; an object in etcd is at most 1.5 MiB). */
  maxLineBytes?: number;
  /** A watch that sends nothing (no event, no bookmark) this long is ended (default 5 min). */
  idleTimeoutMs?: number;
}

export interface WatchHandle {
  /** Settles when the stream ends: resolves on a clean end, rejects with a KubeApiError. */
  done: Promise<void>;
  cancel(): void;
}

export class KubeApiClient {
  readonly server: string;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly maxLineBytes: number;
  private readonly idleTimeoutMs: number;
  private closed = false;

  constructor(private readonly credentials: ApiCredentials, server: string, o: ApiClientOptions = {}) {
    this.server = server;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxBodyBytes = o.maxBodyBytes ?? 64 * 1024 * 1024;
    this.maxLineBytes = o.maxLineBytes ?? 4 * 1024 * 1024;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 5 * 60_000;
    const Agent = server.startsWith('https:') ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 4 });
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  /** GET a JSON document. */
  async get(path: string, query: Record<string, string | undefined> = {}): Promise<Record<string, unknown>> {
    return this.send('GET', path, query);
  }

  /** Server-side apply of one object (PATCH application/apply-patch+yaml; JSON is YAML). */
  async apply(path: string, object: object, fieldManager: string): Promise<Record<string, unknown>> {
    return this.send('PATCH', path, { fieldManager, force: 'true' }, { body: JSON.stringify(object), contentType: 'application/apply-patch+yaml' });
  }

  private async options(method: string, path: string, query: Record<string, string | undefined>): Promise<{ url: URL; opts: https.RequestOptions }> {
    if (this.closed) throw new KubeApiError('unreachable', 'the API client is closed');
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const opts: https.RequestOptions = { method, headers: { Accept: 'application/json' } };
    try {
      await this.credentials.apply(opts);
    } catch (err) {
      // A token file that cannot be read (being rotated), an exec plugin that failed.
      throw new KubeApiError('unauthorized', `the API credentials could not be read: ${describeError(err)}`, 0, undefined, err);
    }
    opts.agent = this.agent;
    return { url, opts };
  }

  private async send(method: string, path: string, query: Record<string, string | undefined>, body?: { body: string; contentType: string }): Promise<Record<string, unknown>> {
    const { url, opts } = await this.options(method, path, query);
    if (body) opts.headers = { ...opts.headers, 'Content-Type': body.contentType, 'Content-Length': String(Buffer.byteLength(body.body)) };
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBodyBytes) {
            req.destroy(new KubeApiError('bad-answer', `${method} ${path}: the answer is larger than ${this.maxBodyBytes} bytes`, res.statusCode ?? 0));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (err) => reject(asApiError(err, method, path)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            reject(statusError(status, text, method, path, res.headers['retry-after']));
            return;
          }
          const doc = parseObject(text);
          if (!doc) reject(new KubeApiError('bad-answer', `${method} ${path}: the answer is not a JSON object`, status));
          else resolve(doc);
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new KubeApiError('timeout', `${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(asApiError(err, method, path)));
      req.end(body?.body);
    });
  }

  /**
   * Watch a collection: every event line is parsed and handed on in order. A line that is not a
   * WatchEvent ends the watch with a bad-answer error (the caller lists again) rather than being
   * skipped: a skipped DELETED would leave a pod behind for ever.
   */
  watch(path: string, query: Record<string, string | undefined>, onEvent: (ev: WatchEvent) => void, onOpen?: () => void): WatchHandle {
    let req: http.ClientRequest | null = null;
    let cancelled = false;
    let settle: { resolve: () => void; reject: (e: unknown) => void } | null = null;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const finish = (err?: unknown) => {
      const s = settle;
      settle = null;
      if (!s) return;
      if (err && !cancelled) s.reject(err);
      else s.resolve();
    };
    void this.options('GET', path, { ...query, watch: '1' }).then(({ url, opts }) => {
      if (cancelled) return finish();
      req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 64 * 1024) chunks.push(c);
          });
          res.on('end', () => finish(statusError(status, Buffer.concat(chunks).toString('utf8'), 'WATCH', path, res.headers['retry-after'])));
          res.on('error', (err) => finish(asApiError(err, 'WATCH', path)));
          return;
        }
        onOpen?.();
        let pending: Buffer[] = [];
        let pendingSize = 0;
        const line = (buf: Buffer) => {
          if (buf.length === 0 || (buf.length === 1 && buf[0] === 0x0d)) return;
          const ev = parseWatchEvent(buf.toString('utf8'));
          if (!ev) throw new KubeApiError('bad-answer', `WATCH ${path}: a line is not a watch event: ${JSON.stringify(buf.subarray(0, 120).toString('utf8'))}`, status);
          onEvent(ev);
        };
        res.on('data', (c: Buffer) => {
          try {
            let start = 0;
            for (let i = c.indexOf(0x0a); i !== -1; i = c.indexOf(0x0a, start)) {
              const part = c.subarray(start, i);
              start = i + 1;
              if (pendingSize + part.length > this.maxLineBytes) throw new KubeApiError('bad-answer', `WATCH ${path}: an event is longer than ${this.maxLineBytes} bytes`, status);
              const whole = pending.length ? Buffer.concat([...pending, part]) : part;
              pending = [];
              pendingSize = 0;
              line(whole);
              if (settle === null) return;
            }
            const rest = c.subarray(start);
            pendingSize += rest.length;
            if (pendingSize > this.maxLineBytes) throw new KubeApiError('bad-answer', `WATCH ${path}: an event is longer than ${this.maxLineBytes} bytes`, status);
            if (rest.length) pending.push(rest);
          } catch (err) {
            finish(err);
            req?.destroy();
          }
        });
        res.on('end', () => {
          try {
            if (pending.length) line(Buffer.concat(pending));
            finish();
          } catch (err) {
            finish(err);
          }
        });
        res.on('error', (err) => finish(asApiError(err, 'WATCH', path)));
        res.on('close', () => finish(new KubeApiError('unreachable', `WATCH ${path}: the connection closed mid-stream`)));
      });
      // The socket timeout counts idle time: bookmarks (about every minute) keep a healthy watch alive.
      req.setTimeout(this.idleTimeoutMs, () => req?.destroy(new KubeApiError('timeout', `WATCH ${path}: nothing for ${this.idleTimeoutMs} ms`)));
      req.on('error', (err) => finish(asApiError(err, 'WATCH', path)));
      req.end();
    }, (err: unknown) => finish(err));
    return {
      done,
      cancel: () => {
        cancelled = true;
        req?.destroy();
        finish();
      },
    };
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const EVENT_TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

function parseWatchEvent(text: string): WatchEvent | null {
  const v = parseObject(text);
  if (!v || typeof v['type'] !== 'string' || !EVENT_TYPES.has(v['type'])) return null;
  const o = v['object'];
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return null;
  return { type: v['type'] as WatchEvent['type'], object: o as Record<string, unknown> };
}

/** A Status object's message, or the start of the body. */
function statusError(status: number, body: string, method: string, path: string, retryAfter?: string | string[]): KubeApiError {
  const doc = parseObject(body);
  const msg = typeof doc?.['message'] === 'string' ? (doc['message'] as string).slice(0, 300) : body.slice(0, 200).replace(/\s+/g, ' ');
  const ra = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  const retryAfterMs = Number.isFinite(ra) && ra > 0 ? Math.min(ra, 300) * 1000 : undefined;
  const reason: ApiErrorReason = status === 410 ? 'gone'
    : status === 401 || status === 403 ? 'unauthorized'
    : status === 404 ? 'not-found'
    : status === 409 ? 'conflict'
    : status >= 500 || status === 429 ? 'server' : 'http';
  return new KubeApiError(reason, `${method} ${path}: HTTP ${status}${msg ? `: ${msg}` : ''}`, status, retryAfterMs);
}

function asApiError(err: unknown, method: string, path: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  return new KubeApiError('unreachable', `${method} ${path}: ${describeError(err)}`, 0, undefined, err);
}

/** A Status object (from an ERROR watch event) as an error: 410 Expired/Gone becomes 'gone'. */
export function statusObjectError(o: Record<string, unknown>, path: string): KubeApiError {
  const code = typeof o['code'] === 'number' ? o['code'] : 0;
  const reason = typeof o['reason'] === 'string' ? o['reason'] : '';
  const message = typeof o['message'] === 'string' ? o['message'].slice(0, 300) : '';
  if (code === 410 || reason === 'Expired' || reason === 'Gone') return new KubeApiError('gone', `WATCH ${path}: ${message || 'resourceVersion too old'}`, 410);
  return new KubeApiError(code >= 500 ? 'server' : 'http', `WATCH ${path}: error event ${code} ${reason}: ${message}`, code);
}
