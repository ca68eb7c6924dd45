// The token reviewer against a faithful fake API server over real HTTPS with the real
// @kubernetes/client-node: who a token is, which tokens are refused and why, what is cached, and
// what an unavailable API does.
import t, { type Test } from 'tap';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { TokenReviewer, kubeConfigFor, type ReviewResult, type TokenReviewerOptions } from '../../../central/identity/token-review.js';
import { FakeKubeApi, type FakeKubeApiOptions } from '../../helpers/fake-kube-api.js';
import { isNwError } from '../../../core/errors.js';

type T = Test;
const AGENTS = ['nodewarden:nodewarden-agent'];

async function tempDir(t: T): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nw-token-review-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function setup(t: T, fake: FakeKubeApiOptions = {}, reviewer: Partial<TokenReviewerOptions> = {}) {
  const api = await FakeKubeApi.start(fake);
  t.teardown(() => api.close());
  const kubeconfig = api.writeKubeconfig(await tempDir(t));
  const tr = new TokenReviewer({ kubeConfig: kubeConfigFor(kubeconfig), audience: 'nodewarden', ...reviewer });
  return { api, tr, kubeconfig };
}

/** An agent pod on node-1 and its projected token, as the DaemonSet would have them. */
function agentToken(api: FakeKubeApi, opts: { pod?: string; node?: string; audiences?: string[]; expiresInSeconds?: number } = {}) {
  const pod = api.addPod({ namespace: 'nodewarden', name: opts.pod ?? 'nodewarden-agent-x1', nodeName: opts.node ?? 'node-1' });
  const token = api.issueToken({
    namespace: 'nodewarden',
    serviceAccount: 'nodewarden-agent',
    pod: { name: pod.name, uid: pod.uid },
    audiences: opts.audiences ?? ['nodewarden'],
    expiresInSeconds: opts.expiresInSeconds,
  });
  return { pod, token };
}

function refusal(t: T, r: ReviewResult, token: string, status: string, reason: string): string {
  t.equal(r.ok, false, 'refused');
  if (r.ok) return '';
  t.equal(r.status, status, `status ${status}`);
  t.equal(r.reason, reason, `reason ${reason}`);
  t.notOk(r.message.includes(token), 'the message does not contain the token');
  return r.message;
}

t.test('a valid agent token names its service account, pod and node (from the review, Kubernetes ≥ 1.30)', async (t) => {
  const { api, tr } = await setup(t);
  const { pod, token } = agentToken(api);
  const r = await tr.reviewAgent(token, AGENTS);
  t.ok(r.ok, 'accepted');
  if (!r.ok) return;
  t.equal(r.identity.username, 'system:serviceaccount:nodewarden:nodewarden-agent');
  t.same(r.identity.serviceAccount, { namespace: 'nodewarden', name: 'nodewarden-agent' });
  t.equal(r.identity.node, 'node-1');
  t.same(r.identity.pod, { namespace: 'nodewarden', name: pod.name, uid: pod.uid });
  t.same(r.identity.groups, ['system:serviceaccounts', 'system:serviceaccounts:nodewarden', 'system:authenticated']);
  t.ok(Math.abs(r.identity.expiresAt - (Date.now() + 3600_000)) < 5_000, 'expiresAt is the token exp');
  t.equal(api.reviews, 1);
  t.equal(api.podReads, 0, 'no pod read needed');
});

t.test('before Kubernetes 1.30 the node comes from the bound pod', async (t) => {
  const { api, tr } = await setup(t, { nodeNameInExtra: false });
  const { token } = agentToken(api, { node: 'node-7' });
  const r = await tr.reviewAgent(token, AGENTS);
  t.ok(r.ok && r.identity.node === 'node-7', 'node read from the pod');
  t.equal(api.podReads, 1);
});

t.test('a pod replaced under the same name does not lend its node, even when the review still passes', async (t) => {
  const { api, tr } = await setup(t, { nodeNameInExtra: false });
  const { token } = agentToken(api, { pod: 'agent-0', node: 'node-1' });
  api.pauseInformer(); // the API server's informer has not seen the replacement yet
  api.deletePod('nodewarden', 'agent-0');
  api.addPod({ namespace: 'nodewarden', name: 'agent-0', nodeName: 'node-2' });
  const r = await tr.reviewAgent(token, AGENTS);
  t.match(refusal(t, r, token, 'permission-denied', 'no-node'), /replaced/);
});

t.test('a pod replaced or deleted, once the API server knows, makes the token invalid', async (t) => {
  const { api, tr } = await setup(t);
  const replaced = agentToken(api, { pod: 'agent-0' });
  api.deletePod('nodewarden', 'agent-0');
  api.addPod({ namespace: 'nodewarden', name: 'agent-0', nodeName: 'node-2' });
  t.match(refusal(t, await tr.reviewAgent(replaced.token, AGENTS), replaced.token, 'unauthenticated', 'invalid-token'), /pod UID/);

  const deleted = agentToken(api, { pod: 'agent-1' });
  api.deletePod('nodewarden', 'agent-1');
  t.match(refusal(t, await tr.reviewAgent(deleted.token, AGENTS), deleted.token, 'unauthenticated', 'invalid-token'), /invalidated/);
});

t.test('a token for another audience is refused as wrong-audience', async (t) => {
  const { api, tr } = await setup(t);
  const { token } = agentToken(api, { audiences: ['https://kubernetes.default.svc.cluster.local'] });
  t.match(refusal(t, await tr.review(token), token, 'unauthenticated', 'wrong-audience'), /audience nodewarden/);
});

t.test('an expired token is refused as expired', async (t) => {
  const { api, tr } = await setup(t);
  const { token } = agentToken(api, { expiresInSeconds: -600 });
  t.match(refusal(t, await tr.review(token), token, 'unauthenticated', 'expired'), /expired/);
});

t.test('a token of another service account is refused as an agent', async (t) => {
  const { api, tr } = await setup(t);
  const web = api.addPod({ namespace: 'default', name: 'web', nodeName: 'node-1' });
  const token = api.issueToken({ namespace: 'default', serviceAccount: 'default', pod: { name: web.name, uid: web.uid }, audiences: ['nodewarden'] });
  t.ok((await tr.review(token)).ok, 'it authenticates');
  t.match(refusal(t, await tr.reviewAgent(token, AGENTS), token, 'permission-denied', 'wrong-service-account'), /system:serviceaccount:default:default/);
});

t.test('a token signed by another cluster, or tampered with, is invalid', async (t) => {
  const { api, tr } = await setup(t);
  const other = await FakeKubeApi.start(); // same issuer name, its own signing key
  t.teardown(() => other.close());
  other.addPod({ namespace: 'nodewarden', name: 'nodewarden-agent-x1', nodeName: 'node-1' });
  const foreign = agentToken(other).token;
  t.match(refusal(t, await tr.review(foreign), foreign, 'unauthenticated', 'invalid-token'), /invalid signature/);

  const [head, payload, sig] = agentToken(api).token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string };
  claims.sub = 'system:serviceaccount:kube-system:admin';
  const tampered = `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
  t.match(refusal(t, await tr.review(tampered), tampered, 'unauthenticated', 'invalid-token'), /cryptographic/);
});

t.test('malformed and oversized tokens never reach the API', async (t) => {
  const { api, tr } = await setup(t);
  const huge = `eyJhbGciOiJFUzI1NiJ9.${'A'.repeat(17 * 1024)}.c2ln`;
  for (const token of ['', 'not-a-jwt', 'a.b', 'a.b.c.d', 'a..c', 'x.!!!.y', `eyJ9.${Buffer.from('[1]').toString('base64url')}.c2ln`, huge]) {
    const r = await tr.review(token);
    t.equal(!r.ok && r.reason, 'malformed', `refused as malformed: ${token.slice(0, 20)}`);
  }
  t.equal(api.reviews, 0, 'no TokenReview was made');
  t.equal(tr.stats.reviews, 0);
});

t.test('a token reviewed once is answered from the cache', async (t) => {
  const { api, tr } = await setup(t);
  const { token } = agentToken(api);
  t.ok((await tr.reviewAgent(token, AGENTS)).ok);
  t.ok((await tr.reviewAgent(token, AGENTS)).ok);
  t.equal(api.reviews, 1, 'one API call');
  t.same(tr.stats, { reviews: 1, cacheHits: 1, cached: 1 });
});

t.test('50 concurrent reviews of one token make one API call', async (t) => {
  const { api, tr } = await setup(t);
  const { token } = agentToken(api);
  const results = await Promise.all(Array.from({ length: 50 }, () => tr.reviewAgent(token, AGENTS)));
  t.ok(results.every((r) => r.ok), 'all accepted');
  t.equal(api.reviews, 1);
});

t.test('a refused token is remembered for negativeCacheMs, then asked again', async (t) => {
  let now = Date.now();
  const { api, tr } = await setup(t, {}, { now: () => now, negativeCacheMs: 10_000 });
  const { token } = agentToken(api, { audiences: ['elsewhere'] });
  await tr.review(token);
  await tr.review(token);
  t.equal(api.reviews, 1, 'second refusal from the cache');
  now += 10_001;
  await tr.review(token);
  t.equal(api.reviews, 2, 'asked again once the negative entry aged out');
});

t.test('an accepted token is cached no longer than its expiry', async (t) => {
  let now = Date.now();
  const { api, tr } = await setup(t, {}, { now: () => now });
  const { token } = agentToken(api, { expiresInSeconds: 600 });
  await tr.review(token);
  now += 599_000;
  await tr.review(token);
  t.equal(api.reviews, 1, 'still cached just before exp');
  now += 2_000;
  await tr.review(token);
  t.equal(api.reviews, 2, 'asked again after exp');
});

t.test('the cache holds at most maxEntries answers', async (t) => {
  const { api, tr } = await setup(t, {}, { maxEntries: 2 });
  const tokens = ['a', 'b', 'c'].map((p) => agentToken(api, { pod: `agent-${p}` }).token);
  for (const token of tokens) await tr.review(token);
  t.equal(tr.stats.cached, 2);
  await tr.review(tokens[2]!);
  t.equal(api.reviews, 3, 'the newest is still cached');
  await tr.review(tokens[0]!);
  t.equal(api.reviews, 4, 'the oldest was evicted');
});

for (const mode of ['unavailable', 'reset', 'hang'] as const) {
  t.test(`an API that is down (${mode}) makes reviews unavailable, uncached; they work again when it is up`, async (t) => {
    const { api, tr } = await setup(t, {}, { timeoutMs: 300 });
    const { token } = agentToken(api);
    api.down(mode);
    const r = await tr.reviewAgent(token, AGENTS);
    refusal(t, r, token, 'unavailable', 'api-unavailable');
    t.equal(tr.stats.cached, 0, 'not cached');
    api.up();
    t.ok((await tr.reviewAgent(token, AGENTS)).ok, 'accepted once the API is back');
  });
}

t.test('central credentials refused by the API make reviews unavailable, naming the HTTP status', async (t) => {
  const { api, kubeconfig } = await setup(t);
  await writeFile(kubeconfig, (await readFile(kubeconfig, 'utf8')).replace(api.clientToken, 'wrong'));
  const tr = new TokenReviewer({ kubeConfig: kubeConfigFor(kubeconfig), audience: 'nodewarden' });
  const { token } = agentToken(api);
  t.match(refusal(t, await tr.review(token), token, 'unavailable', 'api-unavailable'), /HTTP 401/);
});

t.test('readers: a listed username, ns:name of the service account, or group:NAME; agents are not readers', async (t) => {
  const { api, tr } = await setup(t);
  const reader = api.issueToken({ namespace: 'ops', serviceAccount: 'dashboard', audiences: ['nodewarden'] });
  t.ok((await tr.reviewReader(reader, ['system:serviceaccount:ops:dashboard'])).ok, 'by username');
  t.ok((await tr.reviewReader(reader, ['ops:dashboard'])).ok, 'by ns:name');
  t.ok((await tr.reviewReader(reader, ['group:system:serviceaccounts:ops'])).ok, 'by group');
  t.match(refusal(t, await tr.reviewReader(reader, ['ops:other', 'group:admins']), reader, 'permission-denied', 'not-a-reader'), /dashboard/);

  const { token } = agentToken(api);
  refusal(t, await tr.reviewReader(token, ['ops:dashboard', 'group:system:serviceaccounts:ops']), token, 'permission-denied', 'not-a-reader');
  t.equal(api.reviews, 2, 'policy checks reuse the cached review');
});

t.test('kubeConfigFor wraps a bad kubeconfig path in NW_ERR_CONFIG', async (t) => {
  const dir = await tempDir(t);
  let thrown: unknown;
  try {
    kubeConfigFor(path.join(dir, 'missing'));
  } catch (err) {
    thrown = err;
  }
  t.ok(isNwError(thrown, 'NW_ERR_CONFIG'), 'an NwError with NW_ERR_CONFIG');
  t.match((thrown as Error).message, /missing/);
});
