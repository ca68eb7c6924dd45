// The API client against hostile or broken answers: each is a clear, typed error, never a crash
// or an unbounded read.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiClient, isApiError, kubeConfigCredentials } from '../../../collectors/kube/api-client.js';

async function rawServer(t: Test, handler: http.RequestListener): Promise<KubeApiClient & { url: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kc = new KubeConfig();
  kc.loadFromString(`apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n`);
  const client = new KubeApiClient(kubeConfigCredentials(kc), url, { maxBodyBytes: 64 * 1024, idleTimeoutMs: 300, timeoutMs: 1000 });
  t.teardown(() => {
    client.close();
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return Object.assign(client, { url });
}

t.test('a list body larger than the limit is refused, not buffered', async (t) => {
  const c = await rawServer(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"items":[');
    const chunk = `"${'x'.repeat(16 * 1024)}",`;
    for (let i = 0; i < 64; i++) res.write(chunk);
    res.end('""]}');
  });
  const err = await c.get('/api/v1/pods').then(() => null, (e: unknown) => e);
  t.ok(isApiError(err, 'bad-answer'));
  t.match((err as Error).message, /larger than 65536 bytes/);
});

t.test('a body that is not a JSON object is a bad answer', async (t) => {
  const c = await rawServer(t, (_req, res) => res.end('<html>proxy error</html>'));
  const err = await c.get('/api/v1/pods').then(() => null, (e: unknown) => e);
  t.ok(isApiError(err, 'bad-answer'));
});

t.test('a 503 with Retry-After is a server error carrying the delay, with the Status message', async (t) => {
  const c = await rawServer(t, (_req, res) => {
    res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '7' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'the server is shutting down', reason: 'ServiceUnavailable', code: 503 }));
  });
  const err = await c.get('/api/v1/pods').then(() => null, (e: unknown) => e);
  t.ok(isApiError(err, 'server'));
  t.equal((err as { retryAfterMs?: number }).retryAfterMs, 7000);
  t.match((err as Error).message, /HTTP 503: the server is shutting down/);
});

t.test('a watch that says nothing past the idle timeout is ended', async (t) => {
  const c = await rawServer(t, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
  });
  let opened = false;
  const w = c.watch('/api/v1/pods', {}, () => undefined, () => (opened = true));
  const err = await w.done.then(() => null, (e: unknown) => e);
  t.ok(opened);
  t.ok(isApiError(err, 'timeout'));
  t.match((err as Error).message, /nothing for 300 ms/);
});

t.test('a watch cancelled by its owner ends quietly', async (t) => {
  const c = await rawServer(t, (_req, res) => {
    res.writeHead(200);
    res.flushHeaders();
  });
  const w = c.watch('/api/v1/pods', {}, () => undefined);
  setTimeout(() => w.cancel(), 50);
  await w.done;
  t.pass();
});
