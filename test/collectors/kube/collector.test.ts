// The kube collector with the real rule engine and built-in packs, against a local server speaking
// the API server's list/watch protocol and a fixture host: scenarios a cluster produces (a pod
// scheduled, deleted, its image changed, the API server restarted mid-watch) and what the
// findings do (open while true, resolved when not).
import t, { type Test } from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { KubeCollector } from '../../../collectors/kube/collector.js';
import { kubeFactory, type KubeConfig } from '../../../collectors/kube/factory.js';
import { NodeFacts } from '../../../collectors/node-facts.js';
import type { ContainerRecord } from '../../../collectors/runtime/inventory.js';
import type { Finding } from '../../../core/finding.js';
import { KubeListWatchServer } from '../../helpers/kube-list-watch-server.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';
import { ruleSink } from '../../helpers/rule-sink.js';
import { NODE, clientFor, node, pod } from './fixtures.js';

const SHA = (c: string) => `sha256:${c.repeat(64)}`;
const ID = (c: string) => c.repeat(64);

function container(id: string, o: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id, sandboxId: `sb-${id.slice(0, 4)}`, name: 'main', namespace: 'default', pod: 'p', podUid: 'uid-p',
    image: 'registry.example/app:1', imageDigest: `registry.example/app@${SHA('a')}`, state: 'running',
    createdAtNs: BigInt(Date.now() - 3_600_000) * 1_000_000n, startedAtNs: 0n, pid: 100, cgroupPath: '', labels: {},
    origin: 'cri', kubeLabelled: true, ...o,
  };
}

interface Setup {
  server: KubeListWatchServer | null;
  facts: NodeFacts;
  c: KubeCollector;
  emitted: Finding[];
  logs: string[];
  root: string;
  open: () => Map<string, Finding>;
}

async function setup(t: Test, o: { api?: boolean; config?: Partial<KubeConfig>; containers?: ContainerRecord[]; before?: (s: KubeListWatchServer) => void } = {}): Promise<Setup> {
  const root = tempDir('kube-host');
  mkdirSync(path.join(root, 'etc/kubernetes/manifests'), { recursive: true });
  writeFileSync(path.join(root, 'etc/kubernetes/manifests/kube-apiserver.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver}\n');
  let server: KubeListWatchServer | null = null;
  if (o.api !== false) {
    server = new KubeListWatchServer();
    await server.start();
    server.put('nodes', node());
    o.before?.(server);
  }
  const facts = new NodeFacts();
  if (o.containers) facts.inventory.replace(o.containers, []);
  const { sink, emitted } = ruleSink({ collector: 'kube' });
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { logs.push(String(chunk)); cb(); } }));
  const client = server ? clientFor(server, { timeoutMs: 2000 }) : null;
  const c = new KubeCollector({ ...kubeFactory.defaults(), resyncMs: 100, ...o.config }, {
    hostRoot: root, stateDir: tempDir('kube-state'), node: NODE, facts, sink, logger, metrics: new Registry(),
    kubeApi: client ? { client, source: 'test kubeconfig' } : { client: null, why: 'not running in a cluster and no kubeconfig is set' },
  });
  t.teardown(async () => {
    await c.stop();
    client?.close();
    await server?.stop();
  });
  const open = () => {
    const m = new Map<string, Finding>();
    for (const f of emitted) {
      if (f.state === 'open') m.set(f.fingerprint, f);
      else m.delete(f.fingerprint);
    }
    return m;
  };
  return { server, facts, c, emitted, logs, root, open };
}

const rules = (m: Map<string, Finding>) => [...m.values()].map((f) => f.ruleId).sort();

t.test('without API access the agent says once which checks it skips, and still checks static pod manifests', async (t) => {
  const s = await setup(t, { api: false });
  await s.c.start();
  await s.c.evaluate();
  await s.c.evaluate();
  const said = s.logs.filter((l) => l.includes('No Kubernetes API access'));
  t.equal(said.length, 1, 'logged once');
  t.match(said[0], /kube\.hidden-container, kube\.image-mismatch, kube\.kubelet-outdated, kube\.api-unreachable, the PolicyReport/);
  t.match(said[0], /not running in a cluster/);
  t.ok(s.c.status().healthy);
  writeFileSync(path.join(s.root, 'etc/kubernetes/manifests/backdoor.yaml'), 'kind: Pod\n');
  await waitFor('the added manifest', () => s.open().get('kube:static-pod-added:/etc/kubernetes/manifests/backdoor.yaml'));
});

t.test('static pod manifests: added, changed and removed open findings; back as accepted resolves them', async (t) => {
  const s = await setup(t, { api: false });
  await s.c.start();
  t.same(rules(s.open()), [], 'what is there at first start is accepted');
  const dir = path.join(s.root, 'etc/kubernetes/manifests');
  writeFileSync(path.join(dir, 'backdoor.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {hostPID: true}\n');
  const added = await waitFor('added', () => s.open().get('kube:static-pod-added:/etc/kubernetes/manifests/backdoor.yaml'));
  t.equal(added.severity, 'high');
  t.equal(added.file?.path, '/etc/kubernetes/manifests/backdoor.yaml');
  t.match(added.attributes?.sha256, /^[0-9a-f]{64}$/);
  writeFileSync(path.join(dir, 'kube-apiserver.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver}\nspec: {containers: [{command: [kube-apiserver, --anonymous-auth=true]}]}\n');
  await waitFor('changed', () => s.open().get('kube:static-pod-changed:/etc/kubernetes/manifests/kube-apiserver.yaml'));
  rmSync(path.join(dir, 'backdoor.yaml'));
  await waitFor('the added one resolves once gone', () => !s.open().has('kube:static-pod-added:/etc/kubernetes/manifests/backdoor.yaml'));
  writeFileSync(path.join(dir, 'kube-apiserver.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver}\n');
  await waitFor('the changed one resolves once back as accepted', () => s.open().size === 0);
  rmSync(path.join(dir, 'kube-apiserver.yaml'));
  await waitFor('removed', () => s.open().get('kube:static-pod-removed:/etc/kubernetes/manifests/kube-apiserver.yaml'));
  t.equal(s.emitted.filter((f) => f.ruleId === 'kube.static-pod-added').length, 2, 'each transition once: open, resolved');
});

t.test('a manifest added is seen within a second through inotify, long before the next periodic comparison', async (t) => {
  const s = await setup(t, { api: false, config: { resyncMs: 600_000 } });
  await s.c.start();
  const began = Date.now();
  writeFileSync(path.join(s.root, 'etc/kubernetes/manifests/late.yaml'), 'kind: Pod\n');
  await waitFor('added', () => s.open().get('kube:static-pod-added:/etc/kubernetes/manifests/late.yaml'), 3000);
  t.ok(Date.now() - began < 1500, `seen after ${Date.now() - began} ms`);
});

t.test('a manifest change is accepted after acceptManifestAfterMs, and the finding resolves', async (t) => {
  const s = await setup(t, { api: false, config: { acceptManifestAfterMs: 500 } });
  await s.c.start();
  writeFileSync(path.join(s.root, 'etc/kubernetes/manifests/etcd.yaml'), 'kind: Pod\n');
  await waitFor('added', () => s.open().get('kube:static-pod-added:/etc/kubernetes/manifests/etcd.yaml'));
  await waitFor('accepted', () => s.open().size === 0, 5000);
  const resolved = s.emitted.find((f) => f.state === 'resolved');
  t.equal(resolved?.ruleId, 'kube.static-pod-added');
});

t.test('a container whose pod the API does not know: settling within the grace period, then a finding; resolved when the pod appears', async (t) => {
  const known = container(ID('a'), { namespace: 'default', pod: 'web-1', podUid: 'uid-web-1' });
  const hidden = container(ID('b'), { namespace: 'kube-system', pod: 'coredns-fake', podUid: 'uid-ghost', name: 'miner' });
  const fresh = container(ID('c'), { pod: 'new-1', podUid: 'uid-new-1', createdAtNs: BigInt(Date.now()) * 1_000_000n });
  const s = await setup(t, {
    containers: [known, hidden, fresh], config: { podGraceMs: 1500 },
    before: (server) => server.put('pods', pod({ name: 'web-1', uid: 'uid-web-1', containerId: known.id })),
  });
  await s.c.start();
  const f = await waitFor('the hidden container', () => s.open().get('kube:hidden-container:kube-system/coredns-fake/miner'));
  t.equal(f.severity, 'high');
  t.equal(f.container?.id, hidden.id);
  t.same(f.kubernetes, { namespace: 'kube-system', pod: 'coredns-fake', podUid: 'uid-ghost', container: 'miner' });
  t.match(f.evidence, /pod uid uid-ghost/);
  t.notOk(s.open().has('kube:hidden-container:default/new-1/main'), 'a container just created is settling');
  await new Promise((r) => setTimeout(r, 2000));
  t.ok(s.open().has('kube:hidden-container:default/new-1/main'), 'past the grace period with no pod, it is hidden');
  // The pod is scheduled (the API catches up): resolved.
  s.server!.put('pods', pod({ name: 'new-1', uid: 'uid-new-1', containerId: fresh.id }));
  await waitFor('resolved', () => !s.open().has('kube:hidden-container:default/new-1/main'));
  t.notOk(s.open().has('kube:hidden-container:default/web-1/main'), 'the known pod never opened one');
});

t.test('a pod deleted from the API while its container still runs: settling, then hidden', async (t) => {
  const c1 = container(ID('d'), { pod: 'job-1', podUid: 'uid-job-1' });
  const s = await setup(t, {
    containers: [c1], config: { podGraceMs: 800 },
    before: (server) => server.put('pods', pod({ name: 'job-1', uid: 'uid-job-1', containerId: c1.id })),
  });
  await s.c.start();
  await waitFor('the pod known', () => s.facts.pods.byPodUid('uid-job-1'));
  s.server!.remove('pods', 'default', 'job-1');
  await waitFor('the pod gone from the directory', () => !s.facts.pods.byPodUid('uid-job-1'));
  t.notOk(s.open().has('kube:hidden-container:default/job-1/main'), 'just deleted: settling');
  await waitFor('hidden after the grace period', () => s.open().has('kube:hidden-container:default/job-1/main'), 5000);
  // The kubelet removes it at last: resolved.
  s.facts.inventory.replace([], []);
  await waitFor('resolved once gone', () => s.open().size === 0);
});

t.test('a static pod\'s container is known through its mirror pod', async (t) => {
  const c1 = container(ID('e'), { namespace: 'kube-system', pod: `etcd-${NODE}`, podUid: 'hash-etcd', name: 'etcd' });
  const s = await setup(t, {
    containers: [c1],
    before: (server) => server.put('pods', pod({
      namespace: 'kube-system', name: `etcd-${NODE}`, uid: 'mirror-uid', containerName: 'etcd',
      annotations: { 'kubernetes.io/config.mirror': 'hash-etcd', 'kubernetes.io/config.hash': 'hash-etcd' }, owner: { kind: 'Node', name: NODE },
    })),
  });
  await s.c.start();
  const p = await waitFor('the mirror', () => s.facts.pods.byPodUid('hash-etcd'));
  t.equal(p.workloadKind, 'StaticPod');
  t.equal(p.workloadName, 'etcd');
  await s.c.evaluate();
  t.same(rules(s.open()), []);
});

t.test('a kube-system container running another digest than its pod asks: open; the image changed through the API: resolved', async (t) => {
  const cid = ID('f');
  const c1 = container(cid, { namespace: 'kube-system', pod: 'kube-proxy-x', podUid: 'uid-kp', name: 'kube-proxy', image: SHA('9'), imageDigest: `registry.k8s.io/kube-proxy@${SHA('b')}` });
  const s = await setup(t, {
    containers: [c1],
    before: (server) => server.put('pods', pod({
      namespace: 'kube-system', name: 'kube-proxy-x', uid: 'uid-kp', containerName: 'kube-proxy', containerId: cid,
      image: `registry.k8s.io/kube-proxy@${SHA('a')}`, imageId: `registry.k8s.io/kube-proxy@${SHA('a')}`, owner: { kind: 'DaemonSet', name: 'kube-proxy' },
    })),
  });
  await s.c.start();
  const f = await waitFor('the mismatch', () => s.open().get('kube:image-mismatch:kube-system/kube-proxy-x/kube-proxy'));
  t.equal(f.severity, 'high');
  t.equal(f.attributes?.workloadKind, 'DaemonSet');
  t.equal(f.attributes?.specImage, `registry.k8s.io/kube-proxy@${SHA('a')}`);
  t.match(f.evidence, new RegExp(`runtime image_ref registry.k8s.io/kube-proxy@${SHA('b')}`));
  // The pod's image is changed to what runs (kubectl set image; the kubelet reports it).
  s.server!.put('pods', pod({
    namespace: 'kube-system', name: 'kube-proxy-x', uid: 'uid-kp', containerName: 'kube-proxy', containerId: cid,
    image: `registry.k8s.io/kube-proxy@${SHA('b')}`, imageId: `registry.k8s.io/kube-proxy@${SHA('b')}`, owner: { kind: 'DaemonSet', name: 'kube-proxy' },
  }));
  await waitFor('resolved', () => !s.open().has('kube:image-mismatch:kube-system/kube-proxy-x/kube-proxy'));
  t.pass();
});

t.test('the kubelet older than the minimum: open; upgraded: resolved', async (t) => {
  const s = await setup(t, { config: { minKubeletVersion: '1.30.0' }, before: (server) => server.put('nodes', node(NODE, 'v1.28.9-eks-1')) });
  await s.c.start();
  const f = await waitFor('outdated', () => s.open().get(`kube:kubelet-outdated:${NODE}`));
  t.match(f.message, /v1\.28\.9-eks-1, older than the minimum 1\.30\.0/);
  s.server!.put('nodes', node(NODE, 'v1.30.1'));
  await waitFor('resolved', () => !s.open().has(`kube:kubelet-outdated:${NODE}`));
  t.pass();
});

t.test('the API server away: kube.api-unreachable opens and the container scope is kept; back (restarted, history lost): resolved, pods listed again', async (t) => {
  const c1 = container(ID('1'), { pod: 'web-1', podUid: 'uid-web-1' });
  const s = await setup(t, {
    containers: [c1], config: { podGraceMs: 0 },
    before: (server) => server.put('pods', pod({ name: 'web-1', uid: 'uid-web-1', containerId: c1.id })),
  });
  await s.c.start();
  await waitFor('synced', () => s.facts.pods.synced);
  await s.server!.down();
  await waitFor('unreachable', () => s.open().get(`kube:api-unreachable:${NODE}`), 5000);
  t.notOk(s.c.status().healthy);
  // Meanwhile the pod is deleted and the history compacted; the container keeps running.
  s.server!.remove('pods', 'default', 'web-1');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(s.open().has('kube:hidden-container:default/web-1/main'), 'nothing judged on stale pods while the API is away');
  s.server!.compact();
  await s.server!.start(s.server!.port);
  await waitFor('reachable again', () => !s.open().has(`kube:api-unreachable:${NODE}`), 15_000);
  await waitFor('the deletion seen through the new list', () => s.open().has('kube:hidden-container:default/web-1/main'), 15_000);
  t.ok(s.c.status().healthy);
});

t.test('pod context: the owner workload, service account and labels of each pod, by uid and by name', async (t) => {
  const s = await setup(t, {
    before: (server) => {
      server.put('pods', pod({ name: 'web-7d4b9c-x2x', uid: 'u1', owner: { kind: 'ReplicaSet', name: 'web-7d4b9c' }, labels: { app: 'web', 'pod-template-hash': '7d4b9c' }, serviceAccount: 'web-sa' }));
      server.put('pods', pod({ name: 'db-0', uid: 'u2', owner: { kind: 'StatefulSet', name: 'db' } }));
      server.put('pods', pod({ name: 'backup-28000000-abcde', uid: 'u3', owner: { kind: 'Job', name: 'backup-28000000' } }));
      server.put('pods', pod({ name: 'rs-only-x', uid: 'u4', owner: { kind: 'ReplicaSet', name: 'rs-only' } }));
      server.put('pods', pod({ name: 'bare', uid: 'u5' }));
    },
  });
  await s.c.start();
  await waitFor('synced', () => s.facts.pods.size === 5);
  const w = s.facts.pods.byPodUid('u1')!;
  t.same([w.workloadKind, w.workloadName, w.serviceAccount, w.labels.app], ['Deployment', 'web', 'web-sa', 'web']);
  t.same([s.facts.pods.byPodUid('u2')!.workloadKind, s.facts.pods.byPodUid('u2')!.workloadName], ['StatefulSet', 'db']);
  t.same([s.facts.pods.byPodUid('u3')!.workloadKind, s.facts.pods.byPodUid('u3')!.workloadName], ['Job', 'backup-28000000']);
  t.same([s.facts.pods.byPodUid('u4')!.workloadKind, s.facts.pods.byPodUid('u4')!.workloadName], ['ReplicaSet', 'rs-only'], 'a ReplicaSet without the pod-template-hash stays one');
  t.equal(s.facts.pods.byPodUid('u5')!.workloadKind, '');
  t.equal(s.facts.pods.byNamespacedName('default', 'db-0')?.uid, 'u2');
});

t.test('the factory: defaults valid, unknown keys and bad versions refused with their path', async (t) => {
  t.ok(kubeFactory.validate({}).ok);
  const bad = kubeFactory.validate({ minKubeletVersion: 'latest', nope: 1 });
  t.notOk(bad.ok);
  if (!bad.ok) {
    t.ok(bad.errors.some((e) => e.startsWith('minKubeletVersion:')));
    t.ok(bad.errors.some((e) => /nope/.test(e)));
  }
});

t.test('stop is safe without start, and twice', async (t) => {
  const s = await setup(t, { api: false });
  await s.c.stop();
  await s.c.stop();
  t.pass();
});
