// The pod's service account as the agent's API credentials, read without client-node: the CA
// verifies a real TLS server, the token goes in every request and is read again once a minute
// old (the kubelet rotates it), and a broken mount is a clear reason, never a crash.
import t, { type Test } from 'tap';
import https from 'node:https';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { KubeApiClient, SERVICE_ACCOUNT_DIR, ServiceAccountCredentials, isApiError, resolveApiAccess } from '../../../collectors/kube/api-client.js';
import { createCa, issueCertificate } from '../../../core/tls/pki.js';
import { tempDirFor } from '../../helpers/event-log-fixtures.js';

function saFolder(t: Test, files: Record<string, string | Buffer>): string {
  const dir = tempDirFor(t, 'sa');
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  return dir;
}

t.test('the CA verifies the API server and the token is sent; another CA fails the handshake', async (t) => {
  const ca = await createCa({ commonName: 'test cluster CA' });
  const server = await issueCertificate(ca, { role: 'server', commonName: 'kubernetes', ipAddresses: ['127.0.0.1'] });
  const seen: (string | undefined)[] = [];
  const api = https.createServer({ cert: server.certPem, key: server.keyPem }, (req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"kind":"PodList","items":[]}');
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    api.closeAllConnections();
    return new Promise<void>((r) => api.close(() => r()));
  });
  const url = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;

  const good = new KubeApiClient(await ServiceAccountCredentials.load(saFolder(t, { 'ca.crt': ca.certPem, token: 'tok-1\n' })), url);
  t.teardown(() => good.close());
  t.same(await good.get('/api/v1/pods'), { kind: 'PodList', items: [] });
  t.same(seen, ['Bearer tok-1'], 'the token, trimmed, as a bearer token');

  const other = await createCa({ commonName: 'another CA' });
  const bad = new KubeApiClient(await ServiceAccountCredentials.load(saFolder(t, { 'ca.crt': other.certPem, token: 'tok-1' })), url);
  t.teardown(() => bad.close());
  const err = await bad.get('/api/v1/pods').then(() => null, (e: unknown) => e);
  t.ok(isApiError(err, 'unreachable'), `a server the CA did not sign is refused: ${String(err)}`);
  t.equal(seen.length, 1, 'nothing reached it');
});

t.test('the token is read again once it is a minute old', async (t) => {
  const ca = await createCa();
  const dir = saFolder(t, { 'ca.crt': ca.certPem, token: 'first' });
  let now = 1_000_000;
  const creds = await ServiceAccountCredentials.load(dir, () => now);
  const header = async () => {
    const opts: https.RequestOptions = { headers: { Accept: 'application/json' } };
    await creds.apply(opts);
    t.equal(String(opts.ca), ca.certPem, 'the CA bundle');
    t.equal((opts.headers as Record<string, string>)['Accept'], 'application/json', 'other headers kept');
    return (opts.headers as Record<string, string>)['Authorization'];
  };
  t.equal(await header(), 'Bearer first');
  writeFileSync(path.join(dir, 'token'), 'second');
  now += 59_000;
  t.equal(await header(), 'Bearer first', 'not read again within a minute');
  now += 1_000;
  t.equal(await header(), 'Bearer second', 'read again after a minute');
});

t.test('a broken mount is refused, naming the file and what is wrong', async (t) => {
  const ca = await createCa();
  const cases: [string, Record<string, string | Buffer>, RegExp][] = [
    ['no CA bundle', { token: 'x' }, /CA bundle .*ca\.crt cannot be read: .*ENOENT/],
    ['a CA bundle that is not PEM', { 'ca.crt': 'hello', token: 'x' }, /CA bundle .*ca\.crt holds no PEM certificate/],
    ['a CA bundle of 2 MiB', { 'ca.crt': Buffer.alloc(2 * 1024 * 1024, 0x41), token: 'x' }, /ca\.crt cannot be read: it is larger than 1048576 bytes/],
    ['an empty token', { 'ca.crt': ca.certPem, token: '' }, /token .*token cannot be used: it is empty/],
    ['a token of 1 MiB', { 'ca.crt': ca.certPem, token: 'x'.repeat(1024 * 1024) }, /token cannot be used: it is larger than 16384 bytes/],
  ];
  for (const [what, files, message] of cases) {
    const err = await ServiceAccountCredentials.load(saFolder(t, files)).then(() => null, (e: unknown) => e);
    t.match(String(err), message, what);
    t.notMatch(String(err), /\bx{20}/, `${what}: the token is not in the message`);
  }
});

t.test('in a pod whose mount is broken the agent has no API access and says why (it does not refuse to start)', async (t) => {
  const root = tempDirFor(t, 'sa-root');
  mkdirSync(path.join(root, SERVICE_ACCOUNT_DIR), { recursive: true });
  writeFileSync(path.join(root, SERVICE_ACCOUNT_DIR, 'token'), 'a-token');
  const access = await resolveApiAccess({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, serviceAccountRoot: root });
  t.notOk(access.ok);
  if (!access.ok) t.match(access.why, /CA bundle .*ca\.crt cannot be read/);
});
