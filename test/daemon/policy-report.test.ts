// The node's posture results as a ClusterPolicyReport: valid against the upstream CRD
// (wgpolicyk8s.io v1alpha2, test/fixtures/ref/), judged by the posture rules for severity, and
// applied to the API server only when its content changes.
import t from 'tap';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { HostFs } from '../../collectors/host/host-fs.js';
import { evaluateNode } from '../../collectors/posture/index.js';
import { checkObservation } from '../../collectors/posture/collector.js';
import type { PostureObservation } from '../../core/observation.js';
import { PolicyReportPublisher, clusterPolicyReport, reportName, reportResults } from '../../daemon/policy-report.js';
import { crdSchema, validateObject } from '../helpers/crd-validate.js';
import { KubeListWatchServer } from '../helpers/kube-list-watch-server.js';
import { fixturesDir } from '../helpers/paths.js';
import { waitFor } from '../helpers/pipeline.js';
import { ruleSink } from '../helpers/rule-sink.js';
import { clientFor } from '../collectors/kube/fixtures.js';

const schema = crdSchema(path.join(fixturesDir, 'ref', 'wgpolicyk8s.io_clusterpolicyreports.yaml'), 'v1alpha2');
const { engine } = ruleSink({ collector: 'posture' });
const judge = (o: PostureObservation) => engine.judgeState(o);

async function postureOf(host: string): Promise<PostureObservation[]> {
  const e = await evaluateNode(new HostFs(path.join(fixturesDir, 'hosts', host)));
  return e.results.map((r) => checkObservation(r, 'worker-1', e.discovery.kubelet.configFile?.hostPath ?? ''));
}

t.test('the validator is not vacuous: a broken report is refused with paths', async (t) => {
  const bad = {
    apiVersion: 'wgpolicyk8s.io/v1alpha2', kind: 'ClusterPolicyReport', metadata: { name: 'Bad_Name' },
    results: [{ policy: 'p', result: 'broken', severity: 'urgent', timestamp: { seconds: 1 }, extra: 1 }, { result: 'pass' }],
    summary: { pass: 'one' },
  };
  const errors = validateObject(bad, schema);
  for (const e of ['results[0].result: "broken" is not one of', 'results[0].severity: "urgent"', 'results[0].timestamp.nanos: required', 'results[0].extra: unknown field', 'results[1].policy: required', 'summary.pass: expected integer', 'metadata.name: "Bad_Name"']) {
    t.ok(errors.some((x) => x.startsWith(e)), e);
  }
});

for (const host of ['misconfigured-worker', 'hardened-worker', 'control-plane']) {
  t.test(`the report of the ${host} fixture host is valid against the upstream CRD, one result per check`, async (t) => {
    const obs = await postureOf(host);
    const results = reportResults(obs, judge, new Date('2026-12-01T00:00:00Z'));
    const report = clusterPolicyReport('worker-1', 'node-uid-1', results);
    t.same(validateObject(report, schema), []);
    t.equal(results.length, obs.length);
    const summary = report.summary as Record<string, number>;
    t.equal(Object.values(summary).reduce((a, b) => a + b, 0), obs.length, 'the summary counts every result');
    for (const r of results) if (r.result === 'fail') t.ok(r.severity, `${r.policy} fails with the severity of its rule`);
    t.same(report.scope, { apiVersion: 'v1', kind: 'Node', name: 'worker-1', uid: 'node-uid-1' });
  });
}

t.test('results name the CIS check and carry what was measured; a failing check whose rule is disabled is a skip, saying why', async (t) => {
  const obs = await postureOf('misconfigured-worker');
  const failing = obs.find((o) => o.check.status === 'fail')!;
  const [r] = reportResults([failing], judge, new Date());
  t.equal(r!.policy, `cis-${failing.check.id}`);
  t.equal(r!.result, 'fail');
  t.equal(r!.properties.evidence, failing.check.evidence);
  t.match(r!.properties.rule, /^posture\./);
  const [skipped] = reportResults([failing], () => [], new Date());
  t.equal(skipped!.result, 'skip');
  t.match(skipped!.properties.reason, /disabled or excepted/);
  t.equal(reportName('Worker_1.example'), 'nodewarden-node-worker-1.example');
});

t.test('no report before the API has shown this node\'s Node object', async (t) => {
  const server = new KubeListWatchServer();
  await server.start();
  const client = clientFor(server);
  let uid = '';
  const p = new PolicyReportPublisher({ client, node: 'worker-1', logger: pino({ level: 'silent' }), judge, debounceMs: 10, nodeUid: () => uid });
  t.teardown(async () => {
    await p.stop();
    client.close();
    await server.stop();
  });
  p.offer([{ observations: await postureOf('hardened-worker') }]);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(p.applied, 0);
  t.notOk(server.requests.some((q) => q.startsWith('PATCH')));
  uid = 'node-uid';
  await waitFor('applied once the Node is known', () => p.applied === 1, 10_000);
});

t.test('the publisher applies the report (server-side apply) once per change, and says once when the CRD is missing', async (t) => {
  const server = new KubeListWatchServer({ validate: (_r, o) => validateObject(o, schema).join('; ') || null });
  await server.start();
  const client = clientFor(server);
  const logs: string[] = [];
  const logger = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }));
  const p = new PolicyReportPublisher({ client, node: 'worker-1', logger, judge, debounceMs: 10, nodeUid: () => 'uid-n' });
  t.teardown(async () => {
    await p.stop();
    client.close();
    await server.stop();
  });
  const obs = await postureOf('misconfigured-worker');
  p.offer([{ observations: obs }]);
  await waitFor('the first apply', () => p.applied === 1);
  const stored = server.get('clusterpolicyreports', 'nodewarden-node-worker-1')!;
  t.ok(stored, 'stored under its name');
  t.same(validateObject(stored, schema), []);
  t.ok(server.requests.some((q) => /^PATCH \/apis\/wgpolicyk8s\.io\/v1alpha2\/clusterpolicyreports\/nodewarden-node-worker-1\?fieldManager=nodewarden&force=true$/.test(q)));
  p.offer([{ observations: obs }]);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(p.applied, 1, 'the same results: no second apply');
  // One check now passes.
  const i = obs.findIndex((o) => o.check.status === 'fail');
  const changed = obs.map((o, j) => (j === i ? { ...o, check: { ...o.check, status: 'pass', evidence: 'fixed' } } : o));
  p.offer([{ observations: changed }]);
  await waitFor('the second apply', () => p.applied === 2);
  const now = server.get('clusterpolicyreports', 'nodewarden-node-worker-1')!;
  t.equal((now.summary as Record<string, number>).fail, (stored.summary as Record<string, number>).fail - 1);

  // A cluster without the CRD: 404, said once.
  const missing = new KubeListWatchServer();
  await missing.start();
  t.teardown(() => missing.stop());
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { KubeApiClient, kubeConfigCredentials } = await import('../../collectors/kube/api-client.js');
  const kc = new KubeConfig();
  kc.loadFromString(missing.kubeconfig().replace(missing.url, `${missing.url}/nothing-here`));
  const c2 = new KubeApiClient(kubeConfigCredentials(kc), `${missing.url}/nothing-here`);
  const p2 = new PolicyReportPublisher({ client: c2, node: 'worker-1', logger, judge, debounceMs: 10, nodeUid: () => 'uid-n' });
  t.teardown(async () => {
    await p2.stop();
    c2.close();
  });
  p2.offer([{ observations: obs }]);
  await waitFor('the refusal', () => p2.lastError !== '');
  t.match(p2.lastError, /HTTP 404/);
  t.equal(logs.filter((l) => l.includes('no ClusterPolicyReport CRD')).length, 1);
});
