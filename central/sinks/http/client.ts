// The HTTP client the network sinks share (Elasticsearch, Splunk HEC, webhook): node:http(s)
// with keep-alive, the send chain's AbortSignal, a CA file re-read when it changes, bounded
// reads of answers, and Retry-After parsing. (fetch cannot take a custom CA without undici.)

import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { describeError } from '../../../core/errors.js';
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** At most maxResponseBytes of the body. */
  body: Buffer;
  /** The body was longer than maxResponseBytes and was cut there. */
  truncated: boolean;
}

export interface HttpClientOptions {
  /** A PEM CA bundle, read again on every request and trusted from the first request after it changes. */
  caFile?: string;
  maxResponseBytes: number;
}

/** POSTs with keep-alive connections; never reads more of an answer than it was told to. */
export class HttpClient {
  private readonly plain = new http.Agent({ keepAlive: true });
  private secure: https.Agent | null = null;
  private ca: string | undefined;

  constructor(private readonly opts: HttpClientOptions) {}

  /** Resolves with the answer, whatever its status; rejects on a network failure or an abort. */
  post(url: URL, body: string | Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<HttpAnswer> {
    const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const agent = url.protocol === 'https:' ? this.httpsAgent() : this.plain;
    const request = url.protocol === 'https:' ? https.request : http.request;
    const max = this.opts.maxResponseBytes;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = request(url, { method: 'POST', agent, signal, headers: { ...headers, 'content-length': String(payload.length) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        res.on('data', (chunk: Buffer) => {
          if (truncated) return;
          if (size + chunk.length > max) {
            chunks.push(chunk.subarray(0, max - size));
            size = max;
            truncated = true;
            // Enough read: the rest is not wanted, and this connection is not reused.
            res.destroy();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        let ended = false;
        res.on('end', () => {
          ended = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
        });
        res.on('error', reject);
        // A connection cut mid-answer (no 'end'): the answer is unknown, the batch goes again.
        res.on('close', () => {
          if (!ended && !truncated) reject(new Error('the connection closed before the answer was complete'));
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.plain.destroy();
    this.secure?.destroy();
    this.secure = null;
  }

  private httpsAgent(): https.Agent {
    let ca: string | undefined;
    if (this.opts.caFile) {
      try {
        ca = readFileSync(this.opts.caFile, 'utf8');
      } catch {
        // Mid-rotation or gone: keep the bundle already trusted (the first read happens at create).
        ca = this.ca;
      }
    }
    if (!this.secure || ca !== this.ca) {
      this.secure?.destroy();
      this.ca = ca;
      this.secure = new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
    }
    return this.secure;
  }
}

/** Retry-After in ms (delta-seconds or an HTTP date), capped at an hour so a proxy cannot park a sink for days. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!v) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), 3_600_000);
}

/** `base` (with or without a path and a trailing slash) joined with a relative path. */
export function joinUrl(base: string, rel: string): URL {
  const u = new URL(base);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/${rel}`;
  u.search = '';
  return u;
}
