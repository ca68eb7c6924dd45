// CIS 1.2–1.4, 2 and 3.2.1 on the kubeadm control-plane fixture: every check passes on the
// hardened node and fails (or, where the benchmark marks it Manual, warns) when the flag it reads
// is loosened on the component — in its static pod manifest and its running process alike. A
// manifest edited but not yet applied is judged by the running process and is a drift finding of
// its own; a component that does not run is judged by its manifest; etcd reads ETCD_* variables.

import t, { type Test } from 'tap';
import { promises as fsp } from 'node:fs';
import { parse, stringify } from 'yaml';
import { evaluateNode, CATALOG, type CheckResult, type Evaluation } from '../../../collectors/posture/index.js';
import { oneResult, prepareHost, type FixtureHost } from './fixture-host.js';

type Name = 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'etcd';
const PID: Record<Name, string> = { 'kube-apiserver': '2001', 'kube-controller-manager': '2002', 'kube-scheduler': '2003', etcd: '2004' };

async function fixture(t: Test): Promise<FixtureHost> {
  const host = await prepareHost('control-plane');
  t.teardown(() => host.cleanup());
  return host;
}

const one = oneResult;

/** An edit of a component's flags: the list after the executable, changed. */
type Edit = (args: string[]) => string[];
const without = (flag: string): Edit => (args) => args.filter((a) => a !== `--${flag}` && !a.startsWith(`--${flag}=`));
const setting = (flag: string, value: string): Edit => (args) => [...without(flag)(args), `--${flag}=${value}`];

async function editManifest(host: FixtureHost, name: Name, edit: Edit): Promise<void> {
  const file = host.real(`/etc/kubernetes/manifests/${name}.yaml`);
  const pod = parse(await fsp.readFile(file, 'utf8')) as { spec: { containers: Array<{ command: string[] }> } };
  const [exe, ...args] = pod.spec.containers[0]!.command;
  pod.spec.containers[0]!.command = [exe!, ...edit(args)];
  await fsp.writeFile(file, stringify(pod));
}

async function editProcess(host: FixtureHost, name: Name, edit: Edit): Promise<void> {
  const file = host.real(`/proc/${PID[name]}/cmdline`);
  const [exe, ...args] = (await fsp.readFile(file, 'utf8')).split('\0').filter((w) => w !== '');
  await fsp.writeFile(file, [exe!, ...edit(args)].join('\0') + '\0');
}

async function edit(host: FixtureHost, name: Name, change: Edit): Promise<void> {
  await editManifest(host, name, change);
  await editProcess(host, name, change);
}

const manual = (id: string): boolean => CATALOG.find((d) => d.id === id)?.manual === true;

/** For every check: what breaks it, and a phrase its evidence must then hold. */
const BROKEN: Array<[string, Name, Edit, string | RegExp]> = [
  ['1.2.1', 'kube-apiserver', without('anonymous-auth'), "--anonymous-auth is not set (kube-apiserver's default: true)"],
  ['1.2.2', 'kube-apiserver', setting('token-auth-file', '/etc/kubernetes/tokens.csv'), '--token-auth-file is /etc/kubernetes/tokens.csv'],
  ['1.2.3', 'kube-apiserver', setting('enable-admission-plugins', 'NodeRestriction,EventRateLimit'), '--enable-admission-plugins is NodeRestriction,EventRateLimit'],
  ['1.2.4', 'kube-apiserver', without('kubelet-client-key'), '--kubelet-client-key is not set'],
  ['1.2.5', 'kube-apiserver', without('kubelet-certificate-authority'), '--kubelet-certificate-authority is not set'],
  ['1.2.6', 'kube-apiserver', setting('authorization-mode', 'AlwaysAllow'), '--authorization-mode is AlwaysAllow'],
  ['1.2.7', 'kube-apiserver', setting('authorization-mode', 'RBAC'), '--authorization-mode is RBAC'],
  ['1.2.8', 'kube-apiserver', setting('authorization-mode', 'Node'), '--authorization-mode is Node'],
  ['1.2.9', 'kube-apiserver', without('admission-control-config-file'), '--admission-control-config-file is not set (EventRateLimit needs its configuration there)'],
  ['1.2.10', 'kube-apiserver', setting('enable-admission-plugins', 'NodeRestriction,AlwaysAdmit'), 'AlwaysAdmit'],
  ['1.2.11', 'kube-apiserver', setting('enable-admission-plugins', 'NodeRestriction'), '--enable-admission-plugins is NodeRestriction'],
  ['1.2.12', 'kube-apiserver', setting('disable-admission-plugins', 'ServiceAccount'), '--disable-admission-plugins is ServiceAccount'],
  ['1.2.13', 'kube-apiserver', setting('disable-admission-plugins', 'PodSecurity,NamespaceLifecycle'), 'NamespaceLifecycle'],
  ['1.2.14', 'kube-apiserver', setting('enable-admission-plugins', 'EventRateLimit'), '--enable-admission-plugins is EventRateLimit'],
  ['1.2.15', 'kube-apiserver', without('profiling'), "--profiling is not set (kube-apiserver's default: true)"],
  ['1.2.16', 'kube-apiserver', without('audit-log-path'), '--audit-log-path is not set'],
  ['1.2.17', 'kube-apiserver', setting('audit-log-maxage', '7'), '--audit-log-maxage is 7'],
  ['1.2.18', 'kube-apiserver', without('audit-log-maxbackup'), "--audit-log-maxbackup is not set (kube-apiserver's default: 0)"],
  ['1.2.19', 'kube-apiserver', setting('audit-log-maxsize', '10'), '--audit-log-maxsize is 10'],
  ['1.2.21', 'kube-apiserver', setting('service-account-lookup', 'false'), '--service-account-lookup is false'],
  ['1.2.22', 'kube-apiserver', setting('service-account-key-file', '/etc/kubernetes/pki/missing.pub'), '--service-account-key-file is /etc/kubernetes/pki/missing.pub, which does not exist'],
  ['1.2.23', 'kube-apiserver', without('etcd-certfile'), '--etcd-certfile is not set'],
  ['1.2.24', 'kube-apiserver', without('tls-cert-file'), '--tls-cert-file is not set'],
  ['1.2.25', 'kube-apiserver', without('client-ca-file'), '--client-ca-file is not set'],
  ['1.2.26', 'kube-apiserver', without('etcd-cafile'), '--etcd-cafile is not set'],
  ['1.2.27', 'kube-apiserver', without('encryption-provider-config'), '--encryption-provider-config is not set'],
  ['1.2.28', 'kube-apiserver', without('encryption-provider-config'), 'secrets are stored in etcd unencrypted'],
  ['1.2.29', 'kube-apiserver', setting('tls-cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA'), 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  ['1.2.30', 'kube-apiserver', without('service-account-extend-token-expiration'), "--service-account-extend-token-expiration is not set (kube-apiserver's default: true)"],
  ['1.3.1', 'kube-controller-manager', without('terminated-pod-gc-threshold'), '--terminated-pod-gc-threshold is not set'],
  ['1.3.2', 'kube-controller-manager', setting('profiling', 'true'), '--profiling is true'],
  ['1.3.3', 'kube-controller-manager', without('use-service-account-credentials'), "--use-service-account-credentials is not set (kube-controller-manager's default: false)"],
  ['1.3.4', 'kube-controller-manager', without('service-account-private-key-file'), '--service-account-private-key-file is not set'],
  ['1.3.5', 'kube-controller-manager', without('root-ca-file'), '--root-ca-file is not set'],
  ['1.3.6', 'kube-controller-manager', setting('feature-gates', 'RotateKubeletServerCertificate=false'), 'RotateKubeletServerCertificate=false'],
  ['1.3.7', 'kube-controller-manager', without('bind-address'), "--bind-address is not set (kube-controller-manager's default: 0.0.0.0)"],
  ['1.4.1', 'kube-scheduler', without('profiling'), "--profiling is not set (kube-scheduler's default: true)"],
  ['1.4.2', 'kube-scheduler', setting('bind-address', '0.0.0.0'), '--bind-address is 0.0.0.0'],
  ['2.1', 'etcd', without('key-file'), '--key-file is not set'],
  ['2.2', 'etcd', without('client-cert-auth'), "--client-cert-auth is not set (etcd's default: false)"],
  ['2.3', 'etcd', setting('auto-tls', 'true'), '--auto-tls is true'],
  ['2.4', 'etcd', without('peer-cert-file'), '--peer-cert-file is not set'],
  ['2.5', 'etcd', setting('peer-client-cert-auth', 'false'), '--peer-client-cert-auth is false'],
  ['2.6', 'etcd', setting('peer-auto-tls', 'true'), '--peer-auto-tls is true'],
  ['2.7', 'etcd', setting('trusted-ca-file', '/etc/kubernetes/pki/ca.crt'), "the same CA as the API server's --client-ca-file"],
  ['3.2.1', 'kube-apiserver', without('audit-policy-file'), '--audit-policy-file is not set'],
];

t.test('every control-plane check in the catalogue has a broken variant here', async (t) => {
  const ids = CATALOG.filter((d) => /^(1\.[234]|2|3)\./.test(d.id)).map((d) => d.id);
  t.same(BROKEN.map(([id]) => id).sort(), [...ids].sort());
});

for (const [id, name, change, phrase] of BROKEN) {
  t.test(`${id} on ${name}: ${manual(id) ? 'warns' : 'fails'} when broken`, async (t) => {
    const host = await fixture(t);
    const before = await evaluateNode(host.fs, { now: host.now });
    t.equal(one(before, id).status, 'pass', `hardened: ${one(before, id).evidence}`);
    await edit(host, name, change);
    const e = await evaluateNode(host.fs, { now: host.now });
    const r = one(e, id);
    t.equal(r.status, manual(id) ? 'warn' : 'fail', r.evidence);
    t.match(r.evidence, phrase);
    t.match(r.evidence, `(running ${name}, pid ${PID[name]})`, 'the running process is what was judged');
    t.equal(r.subject, name);
    t.equal(one(e, 'nw-manifest-drift', name).status, 'pass', 'manifest and process agree');
  });
}

t.test('a manifest edited but not yet applied: the running process is judged, and the drift is a finding', async (t) => {
  const host = await fixture(t);
  await editManifest(host, 'kube-apiserver', setting('profiling', 'true'));
  await editManifest(host, 'kube-apiserver', without('audit-log-path'));
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '1.2.15').status, 'pass', 'the process still runs with --profiling=false');
  t.equal(one(e, '1.2.16').status, 'pass');
  const drift = one(e, 'nw-manifest-drift', 'kube-apiserver');
  t.equal(drift.status, 'fail');
  t.equal(
    drift.evidence,
    'the running kube-apiserver (pid 2001) differs from /etc/kubernetes/manifests/kube-apiserver.yaml: ' +
      '--profiling is false on the running process, true in the manifest; --audit-log-path=/var/log/kubernetes/audit/audit.log only on the running process',
  );
  t.equal(one(e, 'nw-manifest-drift', 'kube-scheduler').status, 'pass');
});

t.test('a component started by hand with other flags than its manifest is drift too', async (t) => {
  const host = await fixture(t);
  await editProcess(host, 'kube-scheduler', setting('bind-address', '0.0.0.0'));
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '1.4.2').status, 'fail');
  t.match(one(e, 'nw-manifest-drift', 'kube-scheduler').evidence, '--bind-address is 0.0.0.0 on the running process, 127.0.0.1 in the manifest');
});

t.test('a component that does not run is judged by its manifest, and says so', async (t) => {
  const host = await fixture(t);
  await fsp.rm(host.real('/proc/2001'), { recursive: true });
  await editManifest(host, 'kube-apiserver', without('profiling'));
  const e = await evaluateNode(host.fs, { now: host.now });
  const r = one(e, '1.2.15');
  t.equal(r.status, 'fail');
  t.equal(r.evidence, "--profiling is not set (kube-apiserver's default: true) (manifest /etc/kubernetes/manifests/kube-apiserver.yaml; kube-apiserver is not running)");
  t.equal(one(e, 'nw-manifest-drift', 'kube-apiserver').status, 'na');
});

t.test('a component with neither process nor manifest does not apply; an unreadable manifest is an error', async (t) => {
  const host = await fixture(t);
  await fsp.rm(host.real('/proc/2004'), { recursive: true });
  await fsp.rm(host.real('/etc/kubernetes/manifests/etcd.yaml'));
  await fsp.rm(host.real('/proc/2003'), { recursive: true });
  await fsp.writeFile(host.real('/etc/kubernetes/manifests/kube-scheduler.yaml'), 'spec: [unclosed');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '2.1').status, 'na');
  t.equal(one(e, '2.1').evidence, 'etcd does not run on this node (no process and no manifest at /etc/kubernetes/manifests/etcd.yaml)');
  t.equal(one(e, '1.4.1').status, 'error');
  t.match(one(e, '1.4.1').evidence, 'kube-scheduler static pod manifest /etc/kubernetes/manifests/kube-scheduler.yaml is not valid YAML');
});

t.test('files the flags name are read: encryption providers, authorization config, admission config, audit policy', async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/enc/encryption.yaml', [
    'apiVersion: apiserver.config.k8s.io/v1', 'kind: EncryptionConfiguration', 'resources:',
    '  - resources: [secrets]', '    providers:', '      - identity: {}', '      - aescbc: {keys: [{name: k, secret: c2VjcmV0}]}', '',
  ].join('\n'), 0o600);
  await host.write('/etc/kubernetes/authz.yaml', 'apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\nauthorizers:\n  - {type: Node, name: node}\n  - {type: Webhook, name: hook}\n');
  await edit(host, 'kube-apiserver', (a) => [...without('authorization-mode')(a), '--authorization-config=/etc/kubernetes/authz.yaml']);
  await host.write('/etc/kubernetes/admission/admission.yaml', 'apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins: []\n');
  await host.write('/etc/kubernetes/audit/policy.yaml', 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '1.2.28').status, 'warn', 'Manual: identity first is to review');
  t.match(one(e, '1.2.28').evidence, '/etc/kubernetes/enc/encryption.yaml: secrets are written with the identity provider');
  t.equal(one(e, '1.2.7').status, 'pass');
  t.equal(one(e, '1.2.8').status, 'fail');
  t.match(one(e, '1.2.8').evidence, '--authorization-config /etc/kubernetes/authz.yaml lists authorizers Node,Webhook');
  t.equal(one(e, '1.2.9').status, 'warn');
  t.match(one(e, '1.2.9').evidence, 'does not configure EventRateLimit');
  t.equal(one(e, '3.2.1').status, 'warn');
  t.match(one(e, '3.2.1').evidence, 'is an audit Policy with 0 rules');
});

t.test('a flag naming a dangling symlink or a path that leaves the host root: not a pass', async (t) => {
  const host = await fixture(t);
  await fsp.symlink('/etc/kubernetes/pki/gone.crt', host.real('/etc/kubernetes/pki/dangling.crt'));
  await fsp.symlink('../../../../../../../../etc/hostname', host.real('/etc/kubernetes/pki/escape.crt'));
  await edit(host, 'kube-apiserver', setting('client-ca-file', '/etc/kubernetes/pki/dangling.crt'));
  await edit(host, 'kube-apiserver', setting('etcd-cafile', '/etc/kubernetes/pki/escape.crt'));
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '1.2.25').status, 'fail');
  t.match(one(e, '1.2.25').evidence, '--client-ca-file is /etc/kubernetes/pki/dangling.crt, which does not exist');
  t.not(one(e, '1.2.26').status, 'pass', one(e, '1.2.26').evidence);
});

t.test('etcd reads its settings from ETCD_* variables too', async (t) => {
  const host = await fixture(t);
  await edit(host, 'etcd', without('client-cert-auth'));
  await fsp.writeFile(host.real('/proc/2004/environ'), 'PATH=/usr/bin\0ETCD_CLIENT_CERT_AUTH=true\0SECRET_TOKEN=x\0');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '2.2').status, 'pass');
  t.equal(one(e, '2.2').evidence, 'ETCD_CLIENT_CERT_AUTH is true (running etcd, pid 2004)');
  t.same(Object.keys(e.discovery.components.etcd.env), ['ETCD_CLIENT_CERT_AUTH'], 'nothing else of the environment is kept');
});
