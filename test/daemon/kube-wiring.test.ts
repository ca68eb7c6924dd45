// The agent and the Kubernetes API: with no access at all it runs and says once which checks it
// skips; a kubeconfig that cannot be loaded stops it at start, naming the key; with access, the
// kube collector watches this node's pods and findings about a pod carry its workload.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Agent } from '../../daemon/agent.js';
import { addPodContext } from '../../daemon/pod-context.js';
import { PodDirectory } from '../../collectors/kube/pod-directory.js';
import { decodePod } from '../../collectors/kube/pod-info.js';
import { SERVICE_ACCOUNT_DIR, resolveApiAccess } from '../../collectors/kube/api-client.js';
import type { Finding } from '../../core/finding.js';
import { createCa } from '../../core/tls/pki.js';
import { KubeListWatchServer } from '../helpers/kube-list-watch-server.js';
import { tempDir, testConfig, waitFor } from '../helpers/pipeline.js';
import { pod } from '../collectors/kube/fixtures.js';

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: pino({ level: 'info' }, new Writable({ write(c, _e, cb) { lines.push(String(c)); cb(); } })) };
}

t.test('no token mounted and no kubeconfig: the agent runs and logs once which checks it skips', async (t) => {
  const { logger, lines } = capture();
  const state = tempDir('kube-agent');
  const agent = new Agent(testConfig({ stateDir: state, hostRoot: tempDir('kube-host'), 'agent.central': '127.0.0.1:1', 'agent.collectors': { kube: { enabled: true, resyncMs: 100 } } }), logger, undefined,
    { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountRoot: path.join(state, 'no-such-root') });
  t.teardown(() => agent.stop());
  await agent.start();
  await new Promise((r) => setTimeout(r, 300));
  const said = lines.filter((l) => l.includes('No Kubernetes API access'));
  t.equal(said.length, 1);
  t.match(said[0], /no service account token is mounted/);
  t.match(said[0], /skipping kube\.hidden-container/);
  t.ok(agent.collector('kube')?.status().healthy);
});

t.test('a kubeconfig that cannot be loaded stops the agent at start, naming kube.kubeconfig', async (t) => {
  const state = tempDir('kube-agent-bad');
  const agent = new Agent(testConfig({ stateDir: state, 'agent.central': '127.0.0.1:1', 'kube.kubeconfig': path.join(state, 'missing.yaml') }), pino({ level: 'silent' }), undefined, { env: {} });
  t.teardown(() => agent.stop());
  const err = await agent.start().then(() => null, (e: Error) => e);
  t.match(err?.message ?? '', /kube\.kubeconfig: Could not load the Kubernetes API configuration/);
});

t.test('API access comes from kube.kubeconfig, else the pod\'s service account, else $KUBECONFIG; never ~/.kube/config', async (t) => {
  const dir = tempDir('kube-access');
  const server = new KubeListWatchServer();
  const kcFile = path.join(dir, 'kc.yaml');
  server.port = 6443;
  writeFileSync(kcFile, server.kubeconfig());
  const a = await resolveApiAccess({ kubeconfig: kcFile, env: {} });
  t.ok(a.ok && a.source === `kubeconfig ${kcFile}`);
  const sa = path.join(dir, 'sa-root');
  mkdirSync(path.join(sa, SERVICE_ACCOUNT_DIR), { recursive: true });
  writeFileSync(path.join(sa, SERVICE_ACCOUNT_DIR, 'token'), 'a-token');
  writeFileSync(path.join(sa, SERVICE_ACCOUNT_DIR, 'ca.crt'), (await createCa()).certPem);
  const inCluster = await resolveApiAccess({ kubeconfig: undefined, env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: kcFile }, serviceAccountRoot: sa });
  t.ok(inCluster.ok && inCluster.source === 'in-cluster service account' && inCluster.server === 'https://10.96.0.1:443', 'in a pod with a token: its service account, before $KUBECONFIG');
  const kcWins = await resolveApiAccess({ kubeconfig: kcFile, env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountRoot: sa });
  t.ok(kcWins.ok && kcWins.source === `kubeconfig ${kcFile}`, 'kube.kubeconfig wins over in-cluster');
  const b = await resolveApiAccess({ env: { KUBECONFIG: `${kcFile}:/other` } });
  t.ok(b.ok && /\$KUBECONFIG/.test(b.source));
  mkdirSync(path.join(dir, '.kube'));
  writeFileSync(path.join(dir, '.kube', 'config'), server.kubeconfig());
  const home = process.env.HOME;
  process.env.HOME = dir;
  t.teardown(() => { process.env.HOME = home; });
  const c = await resolveApiAccess({ env: { HOME: dir } });
  t.notOk(c.ok);
  if (!c.ok) t.match(c.why, /not running in a cluster/);
});

t.test('with access, the agent watches its node\'s pods, and a finding about a pod carries its workload', async (t) => {
  const server = new KubeListWatchServer();
  await server.start();
  t.teardown(() => server.stop());
  server.put('pods', pod({ name: 'web-5c9-abc', uid: 'uid-web', node: 'test-node', owner: { kind: 'ReplicaSet', name: 'web-5c9' }, labels: { app: 'web', 'pod-template-hash': '5c9' }, serviceAccount: 'web' }));
  const dir = tempDir('kube-agent-api');
  const kcFile = path.join(dir, 'kc.yaml');
  writeFileSync(kcFile, server.kubeconfig());
  const agent = new Agent(testConfig({ stateDir: dir, hostRoot: tempDir('kube-host'), 'agent.central': '127.0.0.1:1', 'kube.kubeconfig': kcFile, 'agent.collectors': { kube: { enabled: true, resyncMs: 100 } } }), pino({ level: 'silent' }), undefined, { env: {} });
  t.teardown(() => agent.stop());
  await agent.start();
  await waitFor('the pod directory', () => agent.facts.pods.byPodUid('uid-web'));
  t.ok(server.requests.some((q) => q.includes('fieldSelector=spec.nodeName%3Dtest-node')), 'only this node\'s pods are asked for');
  t.ok(server.requests.some((q) => q.startsWith('GET /api/v1/nodes?') && q.includes('fieldSelector=metadata.name%3Dtest-node')));
});

t.test('pod context: a finding naming a pod by uid or by name gets its workload, service account and labels', async (t) => {
  const dir = new PodDirectory();
  dir.replace([decodePod(pod({ name: 'web-5c9-abc', uid: 'uid-web', owner: { kind: 'ReplicaSet', name: 'web-5c9' }, labels: { app: 'web', 'pod-template-hash': '5c9' }, serviceAccount: 'web' }) as never)!], true);
  const f: Finding = { source: 'process', ruleId: 'process.x', severity: 'low', title: 't', message: 'm', fingerprint: 'f', kubernetes: { namespace: 'default', pod: 'web-5c9-abc', podUid: 'uid-web', container: 'main' } };
  addPodContext(f, dir);
  t.same(f.kubernetes, { namespace: 'default', pod: 'web-5c9-abc', podUid: 'uid-web', container: 'main', workloadKind: 'Deployment', workloadName: 'web', serviceAccount: 'web', labels: { app: 'web', 'pod-template-hash': '5c9' } });
  const g: Finding = { ...f, kubernetes: { namespace: 'default', pod: 'web-5c9-abc', podUid: '', container: 'main' } };
  addPodContext(g, dir);
  t.equal(g.kubernetes?.workloadName, 'web', 'by namespace and name when the uid is not known');
  const h: Finding = { ...f, kubernetes: { namespace: 'default', pod: 'other', podUid: 'nope', container: 'main' } };
  addPodContext(h, dir);
  t.equal(h.kubernetes?.workloadKind, undefined, 'a pod the API does not know is left as named');
});
