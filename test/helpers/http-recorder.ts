// A local HTTP receiver that records the exact bytes of every request and answers as the real
// services do for success (Elasticsearch _bulk items, Splunk HEC's {"code":0}, a webhook's 200),
// and can be taken "down" (503 with Retry-After, or connections refused) and back up.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { listenOnStablePort } from './pipeline.js';

export interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type DownMode = 'unavailable' | 'refused';

export class HttpRecorder {
  readonly requests: Recorded[] = [];
  private mode: DownMode | null = null;
  private readonly sockets = new Set<Socket>();
  private server: http.Server;
  port = 0;

  private constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.mode === 'unavailable') {
          res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/json' }).end('{"error":"down for the test"}');
          return;
        }
        const body = Buffer.concat(chunks);
        this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
        this.answer(req.url ?? '', body, res);
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  static async start(): Promise<HttpRecorder> {
    const r = new HttpRecorder();
    // Below the ephemeral range: down as 'refused' and up again on the same port.
    await listenOnStablePort((port) => r.listen(port));
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Answer 503 (with Retry-After), or refuse connections altogether. */
  async down(mode: DownMode = 'unavailable'): Promise<void> {
    this.mode = mode;
    if (mode === 'refused') await this.closeServer();
  }

  async up(): Promise<void> {
    if (this.mode === 'refused') await this.listen(this.port);
    this.mode = null;
  }

  async close(): Promise<void> {
    await this.closeServer();
  }

  private answer(path: string, body: Buffer, res: http.ServerResponse): void {
    if (path.includes('/_bulk')) {
      const lines = body.toString('utf8').split('\n').filter(Boolean);
      const items = [];
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i]!) as { create?: { _id?: string; _index?: string } };
        items.push({ create: { _index: action.create?._index ?? 'logs-nodewarden-default', _id: action.create?._id, status: 201, result: 'created' } });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ took: 1, errors: false, items }));
    } else if (path.startsWith('/services/collector')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
    } else {
      res.writeHead(200).end();
    }
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private closeServer(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}

/** The event ids a request delivered, in order, whatever the protocol. */
export function deliveredIds(r: Recorded): string[] {
  const text = r.body.toString('utf8');
  if (r.path.includes('/_bulk')) {
    return text.split('\n').filter(Boolean).filter((_l, i) => i % 2 === 0).map((l) => (JSON.parse(l) as { create: { _id: string } }).create._id);
  }
  if (r.path.startsWith('/services/collector')) {
    // HEC takes concatenated JSON objects; each is on its own line when we send it.
    const ids: string[] = [];
    let depth = 0;
    let start = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && --depth === 0) {
        const obj = JSON.parse(text.slice(start, i + 1)) as { event: { id: string } };
        ids.push(obj.event.id);
      }
    }
    return ids;
  }
  return (JSON.parse(text) as { id: string }[]).map((e) => e.id);
}
