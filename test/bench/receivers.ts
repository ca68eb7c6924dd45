// The benchmark's receivers (what the sinks send to: an HTTP counter per HTTP sink type and an
// octet-counted syslog counter) in a process of their own, as a SIEM is elsewhere in practice:
// their parsing must not share an event loop with the simulated agents, whose ack latencies the
// sinks benchmark measures. The parent drives them over IPC (counts, reset, down/up).
//
//   startReceivers() ─fork─▶ this file as a child: servers on loopback, then {t:'ready', …}
//   rx.count('elastic') / rx.reset(name) / rx.setDown(name, true) ─IPC─▶ answer by request id

import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listenOnStablePort } from '../helpers/pipeline.js';

/** Occurrences of `needle` in `buf`. */
export function occurrences(buf: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}

type HttpKind = 'webhook' | 'elasticsearch' | 'splunk-hec' | 'alertmanager';

const SPLUNK_EVENT = Buffer.from('{"time":');
const ALERT = Buffer.from('"startsAt":');
const CREATED = '{"create":{"status":201}}';

/**
 * Counts the events of each request and answers as the service does on success (Elasticsearch
 * `_bulk` with a 201 item per document, as `filter_path` leaves it; Splunk HEC's `{"code":0}`;
 * 200 for webhooks and Alertmanager's POST /api/v2/alerts), or 503 while down.
 */
class CountingHttp {
  events = 0;
  requests = 0;
  unavailable = 0;
  down = false;
  private readonly server: http.Server;

  private constructor(private readonly kind: HttpKind) {
    this.server = http.createServer((req, res) => {
      // Down or up for the whole request: one that arrives while down is refused even if the
      // receiver comes up before its last byte (counting half a body would miscount it).
      const down = this.down;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        if (!down) chunks.push(c);
      });
      req.on('end', () => {
        if (down) {
          this.unavailable++;
          res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream');
          return;
        }
        this.requests++;
        const n = this.count(req, Buffer.concat(chunks));
        this.events += n;
        if (this.kind === 'elasticsearch') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(`{"errors":false,"items":[${Array(n).fill(CREATED).join(',')}]}`);
        } else if (this.kind === 'splunk-hec') {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
        } else {
          res.writeHead(200).end();
        }
      });
    });
  }

  static async start(kind: HttpKind): Promise<CountingHttp> {
    const r = new CountingHttp(kind);
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(0, '127.0.0.1', resolve);
    });
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.events = this.requests = this.unavailable = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Events in one request, without parsing its JSON. */
  private count(req: http.IncomingMessage, body: Buffer): number {
    switch (this.kind) {
      case 'webhook': // Idempotency-Key: <first event id>+<event count>
        return Number(/\+(\d+)$/.exec(String(req.headers['idempotency-key']))?.[1] ?? 0);
      case 'elasticsearch': // an action line and a document line per event
        return occurrences(body, Buffer.from('\n')) / 2;
      case 'splunk-hec': // concatenated envelopes, `time` first
        return occurrences(body, SPLUNK_EVENT);
      case 'alertmanager': // a JSON array of alerts
        return occurrences(body, ALERT);
    }
  }
}

/** A TCP syslog receiver that reads octet-counted frames (RFC 6587: `LEN SP MSG`) and counts them. */
class CountingSyslog {
  frames = 0;
  malformed = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor() {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      let length = 0; // the frame's length, while its digits arrive
      let remaining = 0; // bytes of the current message still to skip
      socket.on('data', (b: Buffer) => {
        for (let i = 0; i < b.length;) {
          if (remaining > 0) {
            const take = Math.min(remaining, b.length - i);
            remaining -= take;
            i += take;
            if (remaining === 0) this.frames++;
            continue;
          }
          const c = b[i++]!;
          if (c === 0x20) {
            remaining = length;
            length = 0;
            if (remaining === 0) this.malformed++;
          } else if (c >= 0x30 && c <= 0x39) {
            length = length * 10 + (c - 0x30);
          } else {
            this.malformed++;
          }
        }
      });
      socket.on('error', () => undefined);
    });
  }

  static async start(): Promise<CountingSyslog> {
    const r = new CountingSyslog();
    // Below the ephemeral range: down (not listening) and up again on the same port.
    await listenOnStablePort((port) => r.listen(port));
    return r;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Down: not listening (connections refused); up: listening on the same port again. */
  async setDown(down: boolean): Promise<void> {
    if (down && this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
    else if (!down && !this.server.listening) await this.listen(this.port);
  }

  private port = 0;

  private listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  reset(): void {
    this.frames = this.malformed = 0;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}


// ---- the child -----------------------------------------------------------------------------

export type ReceiverName = 'webhook' | 'elastic' | 'splunk' | 'oncall' | 'syslog';
type Request = { id: number; op: 'count' | 'unavailable' | 'malformed' | 'reset' | 'down' | 'up' | 'close'; name: ReceiverName };
type Reply = { id: number; value: number } | { t: 'ready'; urls: Record<Exclude<ReceiverName, 'syslog'>, string>; syslog: string };

async function child(): Promise<void> {
  const http4 = {
    webhook: await CountingHttp.start('webhook'),
    elastic: await CountingHttp.start('elasticsearch'),
    splunk: await CountingHttp.start('splunk-hec'),
    oncall: await CountingHttp.start('alertmanager'),
  };
  const syslog = await CountingSyslog.start();
  const send = (m: Reply) => process.send?.(m);
  process.on('message', async (m: Request) => {
    const h = m.name === 'syslog' ? null : http4[m.name];
    let value = 0;
    switch (m.op) {
      case 'count': value = h ? h.events : syslog.frames; break;
      case 'unavailable': value = h?.unavailable ?? 0; break;
      case 'malformed': value = syslog.malformed; break;
      case 'reset': if (h) h.reset(); else syslog.reset(); break;
      case 'down': case 'up':
        if (h) h.down = m.op === 'down';
        else await syslog.setDown(m.op === 'down');
        break;
      case 'close':
        await Promise.all([...Object.values(http4).map((x) => x.close()), syslog.close()]);
        send({ id: m.id, value: 0 });
        process.exit(0);
    }
    send({ id: m.id, value });
  });
  process.on('disconnect', () => process.exit(0));
  send({ t: 'ready', urls: { webhook: http4.webhook.url, elastic: http4.elastic.url, splunk: http4.splunk.url, oncall: http4.oncall.url }, syslog: syslog.address });
}

// ---- the parent's handle ---------------------------------------------------------------------

export class Receivers {
  private nextId = 1;
  private readonly waiting = new Map<number, (v: number) => void>();

  private constructor(
    private readonly proc: ChildProcess,
    readonly urls: Record<Exclude<ReceiverName, 'syslog'>, string>,
    readonly syslogAddress: string,
  ) {
    proc.on('message', (m: Reply) => {
      if ('id' in m) {
        this.waiting.get(m.id)?.(m.value);
        this.waiting.delete(m.id);
      }
    });
  }

  /** The child's pid, for its CPU time in /proc. */
  get pid(): number {
    return this.proc.pid ?? 0;
  }

  /** CPU seconds the receivers have used (user + system, from /proc). */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  }

  private ask(op: Request['op'], name: ReceiverName): Promise<number> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve);
      if (!this.proc.connected) reject(new Error('the receivers process is gone'));
      else this.proc.send({ id, op, name } satisfies Request);
    });
  }

  /** Events counted (HTTP), or frames (syslog). */
  count(name: ReceiverName): Promise<number> {
    return this.ask('count', name);
  }

  unavailable(name: ReceiverName): Promise<number> {
    return this.ask('unavailable', name);
  }

  malformed(): Promise<number> {
    return this.ask('malformed', 'syslog');
  }

  async reset(name: ReceiverName): Promise<void> {
    await this.ask('reset', name);
  }

  /** Down: HTTP answers 503; syslog refuses connections. */
  async setDown(name: ReceiverName, down: boolean): Promise<void> {
    await this.ask(down ? 'down' : 'up', name);
  }

  async close(): Promise<void> {
    if (!this.proc.connected) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    await this.ask('close', 'webhook').catch(() => undefined);
    await exited;
  }
}

/** Fork the receivers and wait until they listen. */
export async function startReceivers(): Promise<Receivers> {
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<Extract<Reply, { t: 'ready' }>>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`the receivers process exited (${code}) before it was ready`)));
    proc.on('message', (m: Reply) => {
      if ('t' in m) resolve(m);
    });
  });
  proc.removeAllListeners('exit');
  return new (Receivers as unknown as new (p: ChildProcess, u: typeof ready.urls, s: string) => Receivers)(proc, ready.urls, ready.syslog);
}

if (process.argv[2] === '--child' && process.argv[1] === fileURLToPath(import.meta.url)) void child();
