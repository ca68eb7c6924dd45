// The small HTTP endpoint both processes expose: /metrics (Prometheus text), /healthz (the
// process is alive) and /readyz (it does its job: 200, or 503 with the reasons), plus the routes a
// process adds (the agent's /baselines). Routes that change state answer only on loopback.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HttpEndpoint {
  address: AddressInfo;
  close(): Promise<void>;
}

/** Why the process is not ready (503), and what it wants said even when ready (e.g. insecure). */
export interface Readiness {
  problems: string[];
  notes?: string[];
}

/** An added route: GET reads, POST changes something (loopback callers only). */
export interface Route {
  method: 'GET' | 'POST';
  handle(query: URLSearchParams): { status: number; body: unknown };
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export async function startHttp(listen: string, registry: Registry, readiness: () => string[] | Readiness, routes: Record<string, Route> = {}): Promise<HttpEndpoint> {
  const { host, port } = splitHostPort(listen);
  const server = http.createServer((req, res) => {
    const [url = '/', query = ''] = (req.url ?? '/').split('?');
    const route = Object.hasOwn(routes, url) ? routes[url] : undefined;
    if (route) {
      req.resume(); // no body is read: parameters are in the query
      if (req.method !== route.method) {
        res.writeHead(405, { allow: route.method }).end();
        return;
      }
      if (route.method === 'POST' && !LOOPBACK.test(req.socket.remoteAddress ?? '')) {
        res.writeHead(403, { 'content-type': 'text/plain' }).end('changes are accepted from the node itself (loopback) only\n');
        return;
      }
      let out: { status: number; body: unknown };
      try {
        out = route.handle(new URLSearchParams(query.slice(0, 4096)));
      } catch (err) {
        out = { status: 500, body: { error: (err as Error).message } };
      }
      res.writeHead(out.status, { 'content-type': 'application/json' }).end(`${JSON.stringify(out.body)}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url === '/readyz') {
      const r = readiness();
      const { problems, notes = [] } = Array.isArray(r) ? { problems: r } : r;
      const lines = problems.length === 0 ? ['ready', ...notes] : [...problems, ...notes];
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'text/plain' }).end(lines.join('\n') + '\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export function splitHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(s);
  if (!m) return { host: '127.0.0.1', port: Number(s) };
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}
