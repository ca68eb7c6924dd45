// The worker checks (CIS 4.x) and certificate checks on the hardened and misconfigured worker
// fixtures: every check passes (or does not apply) on the first, every check fails on the second.

import t, { type Test } from 'tap';
import { evaluateNode, CATALOG, type CheckResult, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost, OWNERSHIP_CHECK_IDS, type FixtureHost } from './fixture-host.js';
import { judgePosture } from '../../../bin/check.js';
import { loadRuleset } from '../../../rules/ruleset.js';

const rules = loadRuleset({ dirs: [] });
if (!rules.ok) throw new Error('the built-in rules do not load');

/** Results of a check as the built-in posture rules judge them (severity, remediation, ATT&CK ids). */
function judged(e: Evaluation, id: string): CheckResult[] {
  if (!rules.ok) return [];
  return judgePosture(byId(e, id), rules.ruleset, 'n', e.discovery.kubelet.configFile?.hostPath ?? '');
}

const WORKER_IDS = CATALOG.filter((d) => d.id.startsWith('4.')).map((d) => d.id);
const OWNERSHIP_IDS = OWNERSHIP_CHECK_IDS;

function byId(e: Evaluation, id: string): CheckResult[] {
  return e.results.filter((r) => r.id === id);
}

async function evaluateFixture(t: Test, name: string): Promise<{ host: FixtureHost; e: Evaluation }> {
  const host = await prepareHost(name);
  t.teardown(() => host.cleanup());
  return { host, e: await evaluateNode(host.fs, { now: host.now }) };
}

t.test('hardened worker: every check passes or does not apply, none fails or errors', async (t) => {
  const { host, e } = await evaluateFixture(t, 'hardened-worker');
  if (!host.owned) t.comment('not running as root: ownership checks are not asserted');
  const bad = e.results.filter((r) => r.status !== 'pass' && r.status !== 'na' && (host.owned || !OWNERSHIP_IDS.has(r.id)));
  t.same(bad.map((r) => `${r.id} ${r.status}: ${r.evidence}`), []);
});

t.test('hardened worker: every worker check is evaluated and passes', async (t) => {
  const { host, e } = await evaluateFixture(t, 'hardened-worker');
  for (const id of WORKER_IDS) {
    if (OWNERSHIP_IDS.has(id) && !host.owned) continue;
    const rs = byId(e, id);
    t.ok(rs.length > 0, `${id} has a result`);
    for (const r of rs) t.equal(r.status, 'pass', `${id} passes: ${r.evidence}`);
  }
});

t.test('hardened worker: control-plane checks do not apply on a worker', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  const cp = e.results.filter((r) => r.id.startsWith('1.1.'));
  t.ok(cp.length >= 19);
  for (const r of cp) {
    t.equal(r.status, 'na', r.id);
    t.match(r.evidence, /not a control-plane node/);
  }
});

t.test('hardened worker: the kubelet service file check covers the unit and its drop-in', async (t) => {
  const { host, e } = await evaluateFixture(t, 'hardened-worker');
  t.same(byId(e, '4.1.1').map((r) => r.subject), ['/lib/systemd/system/kubelet.service', '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf']);
  const r = byId(e, '4.1.1')[0]!;
  t.match(r.evidence, host.owned ? /^\/lib\/systemd\/system\/kubelet\.service: mode 600, owner root:root$/ : /: mode 600, owner /);
  t.match(r.file, { path: '/lib/systemd/system/kubelet.service', exists: true, mode: 0o600, kind: 'file' });
  if (host.owned) t.match(r.file, { uid: 0, gid: 0 });
  t.same(judged(e, '4.1.1')[0]!.mitre, ['T1543.002'], 'ATT&CK ids are the rule\'s');
});

t.test('hardened worker: the kube-proxy kubeconfig inside its container has a stable subject', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  const r = byId(e, '4.1.3')[0]!;
  t.equal(r.status, 'pass');
  t.equal(r.subject, 'kube-proxy:/var/lib/kube-proxy/kubeconfig.conf');
  t.equal(r.file?.path, '/proc/2400/root/var/lib/kube-proxy/kubeconfig.conf');
});

t.test('hardened worker: certificates are judged, the client certificate through its -current symlink', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  const certs = byId(e, 'nw-cert-expiry');
  t.same(certs.map((r) => r.subject), [
    '/etc/kubernetes/pki/ca.crt',
    '/var/lib/kubelet/pki/kubelet-client-current.pem',
    '/var/lib/kubelet/pki/kubelet-server-current.pem',
  ]);
  for (const r of certs) t.equal(r.status, 'pass', r.evidence);
  t.match(certs[1]!.evidence, /CN=system:node:node-1 expires 2027-11-24T\d\d:\d\d:\d\dZ, in 335 days/);
});

t.test('hardened worker: results follow the catalogue order', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  const order = CATALOG.map((d) => d.id);
  const seen = e.results.map((r) => order.indexOf(r.id));
  t.same(seen, [...seen].sort((a, b) => a - b));
  t.same([...new Set(e.results.map((r) => r.id))], order, 'every catalogue id has at least one result');
});

t.test('hardened worker: the watch list holds the files read and their directories', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  for (const p of [
    '/var/lib/kubelet/config.yaml',
    '/var/lib/kubelet',
    '/etc/kubernetes/kubelet.conf',
    '/etc/systemd/system/kubelet.service.d',
    '/lib/systemd/system/kubelet.service',
    '/var/lib/kubelet/pki/kubelet-client-current.pem',
  ]) {
    t.ok(e.watch.includes(p), `watches ${p}`);
  }
});

t.test('misconfigured worker: every worker check fails, each by id', async (t) => {
  const { host, e } = await evaluateFixture(t, 'misconfigured-worker');
  for (const id of WORKER_IDS) {
    if (OWNERSHIP_IDS.has(id) && !host.owned) {
      t.comment(`skipping ${id}: not running as root, the fixture's owners could not be set`);
      continue;
    }
    const rs = byId(e, id);
    t.ok(rs.length > 0, `${id} has a result`);
    // A check the benchmark marks Manual is a warning to review, never a failure.
    const want = CATALOG.find((d) => d.id === id)?.manual ? 'warn' : 'fail';
    for (const r of rs) t.equal(r.status, want, `${id} ${want}s: ${r.evidence}`);
  }
});

t.test('misconfigured worker: each failure says what was found', async (t) => {
  const { host, e } = await evaluateFixture(t, 'misconfigured-worker');
  const ev = (id: string): string => byId(e, id).map((r) => r.evidence).join(' | ');
  t.match(ev('4.1.1'), '/etc/systemd/system/kubelet.service: mode 644');
  t.match(ev('4.1.1'), '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf: mode 664');
  t.match(ev('4.1.3'), '/proc/3100/root/var/lib/kube-proxy/kubeconfig.conf: mode 666');
  if (host.owned) {
    t.match(ev('4.1.2'), 'owner ubuntu:ubuntu');
    t.match(ev('4.1.4'), 'owner nobody:nogroup');
  }
  t.equal(ev('4.2.1'), 'authentication.anonymous.enabled is true (--anonymous-auth=true on the kubelet command line)');
  t.equal(ev('4.2.2'), 'authorization.mode is AlwaysAllow (in /var/lib/kubelet/config.yaml)');
  t.equal(ev('4.2.3'), 'authentication.x509.clientCAFile is not set');
  t.equal(ev('4.2.4'), 'readOnlyPort is 10255 (in /var/lib/kubelet/config.yaml)');
  t.match(ev('4.2.5'), /^streamingConnectionIdleTimeout is 0 \(--streaming-connection-idle-timeout=0 on the kubelet command line\)/);
  t.equal(ev('4.2.6'), 'makeIPTablesUtilChains is false (in /var/lib/kubelet/config.yaml)');
  t.equal(ev('4.2.7'), '--hostname-override=evil-node on the kubelet command line');
  t.match(ev('4.2.8'), 'eventRecordQPS is 5');
  t.match(ev('4.2.9'), 'self-signed');
  t.equal(ev('4.2.10'), 'rotateCertificates is false (in /var/lib/kubelet/config.yaml)');
  t.match(ev('4.2.11'), 'RotateKubeletServerCertificate is false (--feature-gates RotateKubeletServerCertificate=false on the kubelet command line)');
  t.match(ev('4.2.12'), 'not on the strong list: TLS_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA');
  t.match(ev('4.2.13'), 'podPidsLimit is -1');
  t.equal(ev('4.3.1'), 'metricsBindAddress is 0.0.0.0:10249 (in /proc/3100/root/var/lib/kube-proxy/config.conf)');
});

t.test('misconfigured worker: the CA file falls back to kubeadm\'s path when clientCAFile is unset', async (t) => {
  const { e } = await evaluateFixture(t, 'misconfigured-worker');
  t.equal(e.discovery.kubelet.clientCAFile?.path, '/etc/kubernetes/pki/ca.crt');
  t.equal(e.discovery.kubelet.clientCAFile?.source, 'default');
  t.equal(byId(e, '4.1.7')[0]!.subject, '/etc/kubernetes/pki/ca.crt');
});

t.test('misconfigured worker: expired certificates are critical, one expiring soon is a warning', async (t) => {
  const { e } = await evaluateFixture(t, 'misconfigured-worker');
  const certs = new Map(byId(e, 'nw-cert-expiry').map((r) => [r.subject, r]));
  const serving = certs.get('/var/lib/kubelet/pki/kubelet.crt')!;
  t.equal(serving.status, 'fail');
  t.equal(serving.reason, 'expired');
  t.equal(judged(e, 'nw-cert-expiry').find((r) => r.subject === serving.subject)!.severity, 'critical', 'through the rules');
  t.match(serving.evidence, /expired 2026-11-25T.*, 28 days ago/);
  const client = certs.get('/etc/kubernetes/kubelet.conf#client-certificate-data')!;
  t.equal(client.status, 'fail');
  t.equal(client.reason, 'expired');
  t.match(client.evidence, 'client certificate embedded in /etc/kubernetes/kubelet.conf: CN=system:node:node-2 expired');
  const ca = certs.get('/etc/kubernetes/pki/ca.crt')!;
  t.equal(ca.status, 'warn');
  t.equal(judged(e, 'nw-cert-expiry').find((r) => r.subject === ca.subject)!.severity, 'medium');
  t.match(ca.evidence, /expires 2027-01-03T.*, in 10 days/);
});

t.test('the expiry warning window is configurable', async (t) => {
  const host = await prepareHost('misconfigured-worker');
  t.teardown(() => host.cleanup());
  const e = await evaluateNode(host.fs, { now: host.now, expiryWarnDays: 5 });
  const ca = e.results.find((r) => r.id === 'nw-cert-expiry' && r.subject === '/etc/kubernetes/pki/ca.crt')!;
  t.equal(ca.status, 'pass');
  t.equal(ca.expected, 'valid now and for at least 5 more days');
});

t.test('remediation names the file and the kubelet config concerned', async (t) => {
  const { e } = await evaluateFixture(t, 'misconfigured-worker');
  t.equal(judged(e, '4.1.5')[0]!.remediation, 'Run chmod 600 /etc/kubernetes/kubelet.conf on the node.');
  t.match(judged(e, '4.2.4')[0]!.remediation, 'Set readOnlyPort: 0 in /var/lib/kubelet/config.yaml');
});

t.test('files inside a container (/proc/<pid>/root/...) are not offered for watching', async (t) => {
  const { e } = await evaluateFixture(t, 'hardened-worker');
  t.same(e.watch.filter((p) => p.startsWith('/proc')), []);
  t.ok(e.watch.includes('/etc/kubernetes/pki/ca.crt'));
});
