// CIS 1.1 on the control-plane fixture: manifests, control-plane kubeconfigs, the etcd data
// directory and the PKI directory are evaluated on a control-plane node, and each breaks when
// its file's mode or owner is loosened.

import t, { type Test } from 'tap';
import { rm } from 'node:fs/promises';
import { evaluateNode, type CheckResult, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost, OWNERSHIP_CHECK_IDS, type FixtureHost } from './fixture-host.js';

async function fixture(t: Test): Promise<FixtureHost> {
  const host = await prepareHost('control-plane');
  t.teardown(() => host.cleanup());
  return host;
}

function one(e: Evaluation, id: string): CheckResult {
  const rs = e.results.filter((r) => r.id === id);
  if (rs.length !== 1) throw new Error(`expected one ${id} result, got ${rs.length}`);
  return rs[0]!;
}

t.test('control plane: every 1.1 check is evaluated and passes', async (t) => {
  const host = await fixture(t);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.controlPlane, true);
  const cp = e.results.filter((r) => r.id.startsWith('1.1.'));
  t.equal(cp.length, 19);
  for (const r of cp) {
    if (!host.owned && OWNERSHIP_CHECK_IDS.has(r.id)) continue;
    t.equal(r.status, 'pass', `${r.id}: ${r.evidence}`);
  }
});

t.test('control plane: nothing fails under CIS 1.12, picked from the API server image', async (t) => {
  const host = await fixture(t);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.benchmark.id, 'cis-1.12');
  t.match(e.benchmark.reason, /v1\.33\.0 \(the API server's image in \/etc\/kubernetes\/manifests\/kube-apiserver\.yaml\)/);
  const bad = e.results.filter((r) => r.status !== 'pass' && r.status !== 'na' && (host.owned || !OWNERSHIP_CHECK_IDS.has(r.id)));
  t.same(bad.map((r) => `${r.id} ${r.status}`), []);
});

t.test('control plane: under CIS 1.10 the 644 certificates kubeadm writes are to review (1.1.20, 4.1.7)', async (t) => {
  const host = await fixture(t);
  const e = await evaluateNode(host.fs, { now: host.now, benchmark: 'cis-1.10' });
  t.equal(e.benchmark.id, 'cis-1.10');
  const bad = e.results.filter((r) => r.status !== 'pass' && r.status !== 'na' && (host.owned || !OWNERSHIP_CHECK_IDS.has(r.id)));
  t.same(bad.map((r) => `${r.id} ${r.status}`), ['1.1.20 warn', '4.1.7 warn']);
  t.equal(one(e, '1.1.20').title, 'Kubernetes PKI certificate files are 600 or more restrictive');
  t.equal(one(e, '4.1.7').expected, 'mode 600 or more restrictive');
  t.notOk(e.results.some((r) => r.id === '1.2.30' || r.id === '4.2.14'), 'checks CIS 1.12 added are not in 1.10');
});

t.test('control plane: the etcd data directory comes from the etcd manifest', async (t) => {
  const host = await fixture(t);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.same(e.discovery.etcd.dataDir, { path: '/var/lib/etcd', hostPath: '/var/lib/etcd', source: 'cmdline' });
  const withoutEtcd = await prepareHost('control-plane');
  t.teardown(() => withoutEtcd.cleanup());
  await rm(withoutEtcd.real('/proc/2004'), { recursive: true });
  const e2 = await evaluateNode(withoutEtcd.fs, { now: withoutEtcd.now });
  t.same(e2.discovery.etcd.dataDir, { path: '/var/lib/etcd', hostPath: '/var/lib/etcd', source: 'config' }, 'from the manifest when etcd does not run');
  t.same(e.discovery.manifestDir, { path: '/etc/kubernetes/manifests', hostPath: '/etc/kubernetes/manifests', source: 'config' });
});

const LOOSENED: Array<[string, string, number]> = [
  ['1.1.1', '/etc/kubernetes/manifests/kube-apiserver.yaml', 0o644],
  ['1.1.3', '/etc/kubernetes/manifests/kube-controller-manager.yaml', 0o640],
  ['1.1.5', '/etc/kubernetes/manifests/kube-scheduler.yaml', 0o604],
  ['1.1.7', '/etc/kubernetes/manifests/etcd.yaml', 0o700],
  ['1.1.11', '/var/lib/etcd', 0o755],
  ['1.1.13', '/etc/kubernetes/admin.conf', 0o644],
  ['1.1.15', '/etc/kubernetes/scheduler.conf', 0o660],
  ['1.1.17', '/etc/kubernetes/controller-manager.conf', 0o666],
];

for (const [id, file, mode] of LOOSENED) {
  t.test(`control plane: ${id} fails when ${file} is ${mode.toString(8)}`, async (t) => {
    const host = await fixture(t);
    await host.chmod(file, mode);
    const e = await evaluateNode(host.fs, { now: host.now });
    const r = one(e, id);
    t.equal(r.status, 'fail');
    t.equal(r.subject, file);
    t.match(r.evidence, `${file}: mode ${mode.toString(8)}`);
  });
}

const REOWNED: Array<[string, string]> = [
  ['1.1.2', '/etc/kubernetes/manifests/kube-apiserver.yaml'],
  ['1.1.4', '/etc/kubernetes/manifests/kube-controller-manager.yaml'],
  ['1.1.6', '/etc/kubernetes/manifests/kube-scheduler.yaml'],
  ['1.1.8', '/etc/kubernetes/manifests/etcd.yaml'],
  ['1.1.14', '/etc/kubernetes/admin.conf'],
  ['1.1.16', '/etc/kubernetes/scheduler.conf'],
  ['1.1.18', '/etc/kubernetes/controller-manager.conf'],
];

for (const [id, file] of REOWNED) {
  t.test(`control plane: ${id} fails when ${file} is owned by ubuntu`, { skip: !process.getuid || process.getuid() !== 0 ? 'ownership needs root' : false }, async (t) => {
    const host = await fixture(t);
    await host.chown(file, 'ubuntu:root');
    const r = one(await evaluateNode(host.fs, { now: host.now }), id);
    t.equal(r.status, 'fail');
    t.match(r.evidence, 'owner ubuntu:root');
  });
}

t.test('control plane: 1.1.12 wants etcd:etcd and says when the host has no etcd account', { skip: process.getuid?.() !== 0 ? 'ownership needs root' : false }, async (t) => {
  const host = await fixture(t);
  await host.chown('/var/lib/etcd', 'root:root');
  let r = one(await evaluateNode(host.fs, { now: host.now }), '1.1.12');
  t.equal(r.status, 'fail');
  t.equal(r.evidence, '/var/lib/etcd: mode 700, owner root:root');
  await host.write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n');
  await host.write('/etc/group', 'root:x:0:\n');
  r = one(await evaluateNode(host.fs, { now: host.now }), '1.1.12');
  t.equal(r.status, 'fail');
  t.equal(r.evidence, '/var/lib/etcd: mode 700, owner root:root (the host has no etcd user and the host has no etcd group)');
});

t.test('control plane: super-admin.conf is checked beside admin.conf when present', async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/super-admin.conf', 'apiVersion: v1\nkind: Config\n', 0o644);
  const rs = (await evaluateNode(host.fs, { now: host.now })).results.filter((r) => r.id === '1.1.13');
  t.same(rs.map((r) => [r.subject, r.status]), [
    ['/etc/kubernetes/admin.conf', 'pass'],
    ['/etc/kubernetes/super-admin.conf', 'fail'],
  ]);
});

t.test('control plane: PKI rules list every offending file', async (t) => {
  const host = await fixture(t);
  await host.chmod('/etc/kubernetes/pki/apiserver.crt', 0o666);
  await host.chmod('/etc/kubernetes/pki/etcd/server.key', 0o644);
  await host.chmod('/etc/kubernetes/pki/sa.key', 0o640);
  if (host.owned) await host.chown('/etc/kubernetes/pki/etcd/ca.crt', 'ubuntu:ubuntu');
  const e = await evaluateNode(host.fs, { now: host.now });
  const certs = one(e, '1.1.20');
  t.equal(certs.status, 'warn', 'Manual in the benchmark');
  t.equal(certs.subject, '/etc/kubernetes/pki');
  t.equal(certs.evidence, '1 of 8 certificates do not comply: /etc/kubernetes/pki/apiserver.crt (666)');
  const keys = one(e, '1.1.21');
  t.equal(keys.evidence, '2 of 9 keys do not comply: /etc/kubernetes/pki/etcd/server.key (644), /etc/kubernetes/pki/sa.key (640)');
  if (host.owned) {
    const owners = one(e, '1.1.19');
    t.equal(owners.status, 'fail');
    t.equal(owners.evidence, '1 of 20 files and directories do not comply: /etc/kubernetes/pki/etcd/ca.crt (ubuntu:ubuntu)');
  }
});

t.test('control plane: PKI and kubeconfig certificates expire like the kubelet\'s', async (t) => {
  const host = await fixture(t);
  const later = new Date(host.now.getTime() + 340 * 86_400_000);
  const e = await evaluateNode(host.fs, { now: later });
  const status = new Map(e.results.filter((r) => r.id === 'nw-cert-expiry').map((r) => [r.subject, r.status]));
  t.equal(status.get('/etc/kubernetes/pki/apiserver.crt'), 'fail');
  t.equal(status.get('/etc/kubernetes/pki/etcd/server.crt'), 'fail');
  t.equal(status.get('/etc/kubernetes/admin.conf#client-certificate-data'), 'fail');
  t.equal(status.get('/etc/kubernetes/pki/ca.crt'), 'pass');
  t.equal(status.get('/etc/kubernetes/pki/front-proxy-ca.crt'), 'pass');
});

t.test('a worker with kubeadm\'s /etc/kubernetes/pki/ca.crt is not taken for a control plane', async (t) => {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.controlPlane, false);
  t.equal(one(e, '1.1.20').status, 'na');
  t.notOk(e.results.some((r) => r.subject === '/etc/kubernetes/pki' && r.status !== 'na'));
});
