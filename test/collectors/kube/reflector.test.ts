// The list/watch loop against a server speaking the API server's protocol: what it lists (field
// selector, pages), what each watch event does, bookmarks, 410 Gone in both forms, an API server
// restart mid-watch, backoff while it is away, and hostile answers.
import t, { type Test } from 'tap';
import { Reflector } from '../../../collectors/kube/reflector.js';
import { type PodInfo, decodePod } from '../../../collectors/kube/pod-info.js';
import { KubeListWatchServer } from '../../helpers/kube-list-watch-server.js';
import { waitFor } from '../../helpers/pipeline.js';
import { NODE, clientFor, pod } from './fixtures.js';

async function setup(t: Test, o: { goneAs?: 'event' | 'http'; pageSize?: number; maxLineBytes?: number } = {}) {
  const server = new KubeListWatchServer({ goneAs: o.goneAs });
  await server.start();
  const client = clientFor(server, { maxLineBytes: o.maxLineBytes });
  let changes = 0;
  const r = new Reflector<PodInfo>({
    client, path: '/api/v1/pods', fieldSelector: `spec.nodeName=${NODE}`, decode: decodePod, key: (p) => p.uid,
    onChange: () => changes++, pageSize: o.pageSize, minBackoffMs: 50, maxBackoffMs: 200,
  });
  t.teardown(async () => {
    await r.stop();
    client.close();
    await server.stop();
  });
  return { server, client, r, changes: () => changes };
}

const names = (r: Reflector<PodInfo>) => [...r.items.values()].map((p) => p.name).sort();

t.test('lists only the pods bound to this node, page by page, then holds the list resourceVersion', async (t) => {
  const { server, r } = await setup(t, { pageSize: 2 });
  for (const n of ['a', 'b', 'c', 'd', 'e']) server.put('pods', pod({ name: n }));
  server.put('pods', pod({ name: 'elsewhere', node: 'worker-2' }));
  r.start();
  await waitFor('the first list', () => r.synced);
  t.same(names(r), ['a', 'b', 'c', 'd', 'e']);
  t.equal(r.resourceVersion, String(server.resourceVersion));
  const lists = server.requests.filter((q) => q.startsWith('GET /api/v1/pods?') && !q.includes('watch=1'));
  t.equal(lists.length, 3, 'three pages of two');
  t.ok(lists.every((q) => q.includes(`fieldSelector=spec.nodeName%3D${NODE}`)), 'the field selector on every page');
  t.ok(lists.slice(1).every((q) => q.includes('continue=')), 'later pages carry the continue token');
});

t.test('a pod scheduled, changed and deleted arrives through the watch, from the list resourceVersion on', async (t) => {
  const { server, r } = await setup(t);
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  const watch = server.requests.find((q) => q.includes('watch=1'))!;
  t.match(watch, /resourceVersion=\d+/);
  t.match(watch, /allowWatchBookmarks=true/);
  t.match(watch, /timeoutSeconds=\d+/);
  server.put('pods', pod({ name: 'b' }));
  await waitFor('b scheduled', () => names(r).includes('b'));
  server.put('pods', pod({ name: 'b', image: 'registry.example/app:2' }));
  await waitFor('b changed', () => [...r.items.values()].find((p) => p.name === 'b')?.containers.get('main')?.spec === 'registry.example/app:2');
  server.put('pods', pod({ name: 'c', node: 'worker-2' }));
  server.remove('pods', 'default', 'a');
  await waitFor('a deleted', () => !names(r).includes('a'));
  t.same(names(r), ['b'], 'a pod of another node never arrives');
  t.equal(r.resourceVersion, String(server.resourceVersion));
  t.equal(r.stats.lists, 1, 'no list again');
});

t.test('a pod moved off this node arrives as deleted (the filtered watch)', async (t) => {
  const { server, r } = await setup(t);
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  server.put('pods', pod({ name: 'a', node: 'worker-2' }));
  await waitFor('a gone', () => r.items.size === 0);
  t.pass();
});

t.test('bookmarks move the resourceVersion on and change nothing else', async (t) => {
  const { server, r } = await setup(t);
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  server.put('pods', pod({ name: 'x', node: 'worker-2' })); // moves the revision, not our pods
  server.bookmark();
  await waitFor('the bookmark', () => r.stats.bookmarks === 1);
  t.equal(r.resourceVersion, String(server.resourceVersion));
  t.same(names(r), ['a']);
});

for (const goneAs of ['event', 'http'] as const) {
  t.test(`an API server restart mid-watch that lost the history: 410 Gone (${goneAs === 'event' ? 'an ERROR event with a Status' : 'HTTP 410'}) makes a new list, which shows what changed meanwhile`, async (t) => {
    const { server, r } = await setup(t, { goneAs });
    server.put('pods', pod({ name: 'a' }));
    server.put('pods', pod({ name: 'b' }));
    r.start();
    await waitFor('the watch', () => r.synced && server.openWatches === 1);
    await server.down();
    // While it is away (the watch cannot see these): one pod deleted, one scheduled.
    server.remove('pods', 'default', 'a');
    server.put('pods', pod({ name: 'c' }));
    server.compact();
    await server.start(server.port);
    await waitFor('the list again', () => r.stats.lists === 2, 15_000);
    t.ok(r.stats.gone >= 1, 'the 410 was seen');
    t.same(names(r), ['b', 'c'], 'the deletion missed by the watch is in the new list');
    await waitFor('watching again', () => server.openWatches === 1, 15_000);
    server.put('pods', pod({ name: 'd' }));
    await waitFor('d', () => names(r).includes('d'));
  });
}

t.test('an API server restart that kept the history: the watch resumes from its resourceVersion without a list', async (t) => {
  const { server, r } = await setup(t);
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  await server.down();
  server.put('pods', pod({ name: 'b' }));
  await server.start(server.port);
  await waitFor('b through the resumed watch', () => names(r).includes('b'), 15_000);
  t.equal(r.stats.lists, 1);
  t.equal(r.stats.gone, 0);
});

t.test('while the API server is away: unreachable with the reason, the last pods kept, retries backing off', async (t) => {
  const { server, r } = await setup(t);
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  await server.down();
  await waitFor('unreachable', () => !r.reachable);
  t.match(r.lastError, /ECONNREFUSED|closed|socket hang up|ECONNRESET|aborted/);
  t.same(names(r), ['a'], 'the last known pods stay');
  const before = server.requests.length;
  await new Promise((res) => setTimeout(res, 1000));
  t.ok(r.stats.errors >= 2 && r.stats.errors < 15, `retries back off (${r.stats.errors} errors in a second, 50 to 200 ms apart)`);
  t.equal(server.requests.length, before, 'no request reached the closed port');
  await server.start(server.port);
  await waitFor('reachable again', () => r.reachable && server.openWatches === 1, 15_000);
  t.equal(r.lastError, '');
});

t.test('hostile answers: a line that is no watch event, or one longer than the limit, ends the watch and the pods are listed again; nothing throws', async (t) => {
  const { server, r } = await setup(t, { maxLineBytes: 64 * 1024 });
  server.put('pods', pod({ name: 'a' }));
  r.start();
  await waitFor('the watch', () => r.synced && server.openWatches === 1);
  server.rawToWatches('this is not json\n');
  await waitFor('listed again', () => r.stats.lists === 2 && server.openWatches === 1, 15_000);
  t.match(r.lastFailure, /not a watch event/);
  server.rawToWatches(`{"type":"ADDED","object":{"metadata":{"name":"${'x'.repeat(70 * 1024)}`);
  await waitFor('listed a third time', () => r.stats.lists === 3, 15_000);
  t.match(r.lastFailure, /longer than 65536 bytes/);
  server.rawToWatches('{"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}}\n');
  await waitFor('a fourth list (an object without identity)', () => r.stats.lists === 4, 15_000);
  t.match(r.lastFailure, /no valid object/);
  t.same(names(r), ['a']);
});

t.test('an unauthorized client is unreachable with the API server\'s message', async (t) => {
  const server = new KubeListWatchServer();
  await server.start();
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { KubeApiClient, kubeConfigCredentials } = await import('../../../collectors/kube/api-client.js');
  const kc = new KubeConfig();
  kc.loadFromString(server.kubeconfig().replace(server.token, 'wrong'));
  const client = new KubeApiClient(kubeConfigCredentials(kc), server.url);
  const r = new Reflector<PodInfo>({ client, path: '/api/v1/pods', decode: decodePod, key: (p) => p.uid, onChange: () => undefined, minBackoffMs: 50 });
  t.teardown(async () => {
    await r.stop();
    client.close();
    await server.stop();
  });
  r.start();
  await waitFor('the refusal', () => r.lastError !== '');
  t.match(r.lastError, /HTTP 401: Unauthorized/);
  t.notOk(r.synced);
});
