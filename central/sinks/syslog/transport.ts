// Delivers batches to a syslog receiver over one persistent TCP or TLS connection, each event
// one RFC 6587 octet-counted frame. The connection is opened on the first send and again on the
// send after it breaks (the receiver restarted, an idle timeout); a batch that cannot be written
// whole closes the connection, since a half-written frame would corrupt the stream, and is
// retried. Connection failures of every kind, a receiver certificate that fails verification
// included, are retries: the batch is fine, the channel is not.
//
// What "ok" means. TCP syslog has no application-level acknowledgement: a batch counts as
// delivered once its bytes are flushed to the kernel (the write callback), and the cursor moves
// on. Bytes still in the socket buffers or on the wire when the receiver crashes or the
// connection resets are lost without a word, and a batch retried after a partial write may
// arrive twice. So delivery is neither at-least-once nor exactly-once across receiver failures:
// the protocol cannot say what arrived. Where nothing may be lost, the receiver needs RELP
// (rsyslog's Reliable Event Logging Protocol, which acknowledges every message) or a sink whose
// receiver acknowledges (HTTP); events also stay queryable in central's own log.
//
//   send(batch) ─► frames ─► [connection: open lazily, keep] ─► write ─► flushed? ok : retry

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { describeError } from '../../../core/errors.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';

export interface SyslogTlsOptions {
  /** PEM file of the CA(s) the receiver's certificate must chain to (default: the system's). */
  ca?: string;
  /** The name the certificate must carry (default: the address's host). */
  serverName?: string;
  /** A client certificate and key (PEM files) for receivers that require one. */
  cert?: string;
  key?: string;
}

export interface SyslogTransportOptions {
  host: string;
  port: number;
  /** TLS options for a TLS connection; plain TCP when absent. */
  tls?: SyslogTlsOptions;
  /** One event's frame (octet-counted RFC 5424 message). */
  frame(e: SinkEvent): Buffer;
  logger: Logger;
  /** Connect (and TLS handshake) timeout; the send chain's timeout may end it sooner. */
  connectTimeoutMs?: number;
}

const OK: Outcome = { kind: 'ok' };
const KEEPALIVE_MS = 60_000;
const CLOSE_WAIT_MS = 2_000;

// OpenSSL's certificate verification codes (as node:tls reports them) and Node's name check.
const CERT_VERIFY_CODE = /^(UNABLE_TO_|CERT_|CRL_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|HOSTNAME_MISMATCH|ERROR_IN_CERT|ERR_TLS_CERT_ALTNAME_INVALID)/;

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export class SyslogTransport implements Transport {
  private readonly address: string;
  private socket: net.Socket | null = null;
  /** Sends run one at a time, so two batches never race to open two connections. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: SyslogTransportOptions) {
    this.address = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  }

  send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    const run = this.queue.then(() => this.sendNow(batch, signal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendNow(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    if (this.closed) return { kind: 'retry', reason: 'the sink is stopping' };
    if (signal.aborted) return { kind: 'retry', reason: `sending to ${this.address} timed out before it began` };
    // An event that cannot be framed is that event's problem (dead-lettered), not the batch's.
    const frames: Buffer[] = [];
    const items: Outcome[] = [];
    let rejected = false;
    for (const e of batch) {
      try {
        frames.push(this.opts.frame(e));
        items.push(OK);
      } catch (err) {
        rejected = true;
        items.push({ kind: 'permanent', reason: `the event could not be formatted as syslog: ${describeError(err)}` });
      }
    }
    if (frames.length > 0) {
      let socket: net.Socket;
      try {
        socket = await this.connection(signal);
      } catch (err) {
        return { kind: 'retry', reason: this.connectFailure(err) };
      }
      try {
        await writeAll(socket, Buffer.concat(frames), signal);
      } catch (err) {
        // Part of a frame may have gone out: this connection's stream can no longer be trusted.
        this.drop(socket);
        const reason = signal.aborted
          ? `sending to ${this.address} did not finish before the timeout; the connection was closed`
          : `the connection to ${this.address} failed while sending: ${describeError(err)}`;
        return { kind: 'retry', reason };
      }
    }
    return rejected ? { kind: 'items', items } : OK;
  }

  /** The open connection, or a new one. */
  private async connection(signal: AbortSignal): Promise<net.Socket> {
    const current = this.socket;
    if (current && !current.destroyed && current.writable) return current;
    this.socket = null;
    const socket = await this.open(signal);
    if (this.closed) {
      socket.destroy();
      throw new Error('the sink is stopping');
    }
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.opts.logger.warn({ err: describeError(err), address: this.address }, 'The connection to the syslog receiver failed; the next batch reconnects.');
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
    });
    // Receivers send nothing, but reading is what lets us see their FIN (a restart) at once,
    // so the next batch goes to a new connection instead of into a dead one.
    socket.resume();
    this.socket = socket;
    this.opts.logger.info({ address: this.address, tls: this.opts.tls !== undefined }, 'Connected to the syslog receiver.');
    return socket;
  }

  private open(signal: AbortSignal): Promise<net.Socket> {
    const { host, port } = this.opts;
    const t = this.opts.tls;
    let socket: net.Socket;
    let ready: string;
    if (t) {
      // Files are read at each connect: a rotated CA or client certificate needs no restart.
      const options: tls.ConnectionOptions = { host, port, rejectUnauthorized: true };
      if (t.ca) options.ca = readPem(t.ca, 'tls.ca');
      if (t.cert) options.cert = readPem(t.cert, 'tls.cert');
      if (t.key) options.key = readPem(t.key, 'tls.key');
      // SNI may not carry an IP address (RFC 6066); Node then checks the IP against the
      // certificate's IP SANs.
      const name = t.serverName ?? (net.isIP(host) ? undefined : host);
      if (name) options.servername = name;
      socket = tls.connect(options);
      ready = 'secureConnect';
    } else {
      socket = net.connect({ host, port });
      ready = 'connect';
    }
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    return new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => fail(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
      const onAbort = (): void => fail(Object.assign(new Error('the send timed out'), { code: 'ABORT_ERR' }));
      const cleanup = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.off('error', fail);
        socket.off(ready, done);
      };
      function fail(err: Error): void {
        cleanup();
        socket.destroy();
        reject(err);
      }
      function done(): void {
        cleanup();
        resolve(socket);
      }
      socket.once('error', fail);
      socket.once(ready, done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private connectFailure(err: unknown): string {
    const code = errorCode(err);
    const detail = describeError(err);
    if (code && CERT_VERIFY_CODE.test(code)) {
      return `the TLS certificate of the syslog receiver at ${this.address} failed verification (${code}: ${detail}); check tls.ca and tls.serverName`;
    }
    switch (code) {
      case 'ECONNREFUSED':
        return `the syslog receiver at ${this.address} refused the connection (ECONNREFUSED)`;
      case 'ECONNRESET':
        return `the syslog receiver at ${this.address} reset the connection while it was being opened (ECONNRESET)`;
      case 'ETIMEDOUT':
        return `connecting to the syslog receiver at ${this.address} timed out (${detail})`;
      case 'ABORT_ERR':
        return `connecting to the syslog receiver at ${this.address} did not finish before the send timed out`;
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return `the syslog receiver's host ${this.opts.host} could not be resolved (${code})`;
      default:
        return `connecting to the syslog receiver at ${this.address} failed: ${detail}${code ? ` (${code})` : ''}`;
    }
  }

  private drop(socket: net.Socket): void {
    if (this.socket === socket) this.socket = null;
    socket.destroy();
  }

  /** Ends the connection after what was written; safe twice and without a send. */
  async close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.socket = null;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${key} ${file} cannot be read: ${describeError(err)}`, { cause: err });
  }
}

/** Resolves once all of `buf` is flushed to the kernel; rejects if the connection fails first. */
function writeAll(socket: net.Socket, buf: Buffer, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error | null): void => {
      if (settled) return;
      settled = true;
      socket.off('error', finish);
      socket.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onClose = (): void => finish(new Error('the receiver closed the connection'));
    const onAbort = (): void => finish(new Error('the send timed out'));
    socket.on('error', finish);
    socket.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write(buf, (err) => finish(err));
  });
}
