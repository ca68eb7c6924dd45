// A hostile or broken host: oversized files, garbage YAML and kubeconfigs, certificates that
// are not PEM, symlinks aimed outside the host root, loops and odd file types. Each becomes a
// result that says what is wrong with which file; evaluateNode itself never throws.

import t, { type Test } from 'tap';
import { promises as fsp, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { evaluateNode, type CheckResult, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost, type FixtureHost } from './fixture-host.js';

async function fixture(t: Test, name = 'hardened-worker'): Promise<FixtureHost> {
  const host = await prepareHost(name);
  t.teardown(() => host.cleanup());
  return host;
}

function results(e: Evaluation, id: string): CheckResult[] {
  return e.results.filter((r) => r.id === id);
}

function one(e: Evaluation, id: string, subject?: string): CheckResult {
  const r = results(e, id).find((x) => subject === undefined || x.subject === subject);
  if (!r) throw new Error(`no ${id} result${subject ? ` for ${subject}` : ''}`);
  return r;
}

t.test('a 1 GiB kubelet config is refused, not read: settings are errors naming the file and the limit', async (t) => {
  const host = await fixture(t);
  // Sparse: 1 GiB of size on 0 bytes of disk.
  await fsp.truncate(host.real('/var/lib/kubelet/config.yaml'), 1024 ** 3);
  const e = await evaluateNode(host.fs, { now: host.now });
  const r = one(e, '4.2.4');
  t.equal(r.status, 'error');
  t.equal(r.evidence, 'cannot read kubelet config file /var/lib/kubelet/config.yaml (/var/lib/kubelet/config.yaml is 1073741824 bytes, above the 4194304-byte limit)');
  t.equal(one(e, '4.1.9').status, 'pass', 'its mode can still be checked');
  t.equal(one(e, '4.2.7').status, 'pass', 'flag-only checks are unaffected');
});

t.test('a kubelet config that is not YAML is an error with the parser\'s position', async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\nauthentication: [unclosed\n  x: {\n', 0o600);
  const e = await evaluateNode(host.fs, { now: host.now });
  const r = one(e, '4.2.1');
  t.equal(r.status, 'error');
  t.match(r.evidence, /^kubelet config file \/var\/lib\/kubelet\/config\.yaml is not valid YAML: .*line \d+/);
  for (const id of ['4.2.2', '4.2.3', '4.2.4', '4.2.13']) t.equal(one(e, id).status, 'error', id);
});

t.test('a kubelet config that is YAML but not a mapping, or of another kind, is an error', async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/config.yaml', '- just\n- a list\n', 0o600);
  let e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.2.4').evidence, 'kubelet config file /var/lib/kubelet/config.yaml is not a YAML mapping (found a list)');
  await host.write('/var/lib/kubelet/config.yaml', 'kind: Pod\n', 0o600);
  e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.2.4').evidence, 'kubelet config file /var/lib/kubelet/config.yaml is a "Pod", not a KubeletConfiguration');
});

t.test('a YAML alias bomb is refused instead of expanded', async (t) => {
  const host = await fixture(t);
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 12; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill('*' + String.fromCharCode(97 + i)).join(',')}]`);
  await host.write('/var/lib/kubelet/config.yaml', lines.join('\n') + '\n', 0o600);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.2.4').status, 'error');
  t.match(one(e, '4.2.4').evidence, 'is not valid YAML');
});

t.test('a kubeconfig full of garbage: its certificate check is an error naming it, its mode is still checked', async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/kubelet.conf', '\u0000\u0001garbage: : : [\n\t{{{', 0o600);
  const e = await evaluateNode(host.fs, { now: host.now });
  const r = one(e, 'nw-cert-expiry', '/etc/kubernetes/kubelet.conf');
  t.equal(r.status, 'error');
  t.match(r.evidence, /^kubelet kubeconfig \/etc\/kubernetes\/kubelet\.conf is not valid YAML/);
  t.equal(one(e, '4.1.5').status, 'pass');
});

t.test('a kubeconfig whose embedded certificate data is not a certificate is an error', async (t) => {
  const host = await fixture(t, 'misconfigured-worker');
  const text = await fsp.readFile(host.real('/etc/kubernetes/kubelet.conf'), 'utf8');
  await host.write('/etc/kubernetes/kubelet.conf', text.replace(/client-certificate-data: .*/, 'client-certificate-data: bm90IGEgY2VydGlmaWNhdGU='));
  const e = await evaluateNode(host.fs, { now: host.now });
  const r = one(e, 'nw-cert-expiry', '/etc/kubernetes/kubelet.conf#client-certificate-data');
  t.equal(r.status, 'error');
  t.equal(r.evidence, 'client-certificate-data in /etc/kubernetes/kubelet.conf is not a PEM certificate (no BEGIN CERTIFICATE block)');
});

t.test('a CA file that is not PEM, or a PEM block that is not a certificate, is an error naming the file', async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/pki/ca.crt', 'this is not a certificate\n', 0o600);
  let r = one(await evaluateNode(host.fs, { now: host.now }), 'nw-cert-expiry', '/etc/kubernetes/pki/ca.crt');
  t.equal(r.status, 'error');
  t.equal(r.evidence, '/etc/kubernetes/pki/ca.crt is not a PEM certificate (no BEGIN CERTIFICATE block)');
  await host.write('/etc/kubernetes/pki/ca.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 0o600);
  r = one(await evaluateNode(host.fs, { now: host.now }), 'nw-cert-expiry', '/etc/kubernetes/pki/ca.crt');
  t.equal(r.status, 'error');
  t.match(r.evidence, /^\/etc\/kubernetes\/pki\/ca\.crt holds a certificate that cannot be parsed/);
});

t.test('kubelet.conf symlinked to /etc/shadow reads the host root\'s /etc/shadow, never the real one', async (t) => {
  const host = await fixture(t);
  await host.write('/etc/shadow', 'root:*:19000:0:99999:7:::\n', 0o604);
  const realMode = (() => {
    try {
      return statSync('/etc/shadow').mode & 0o7777;
    } catch {
      return undefined;
    }
  })();
  t.not(realMode, 0o604, 'the fixture\'s mode differs from the real file\'s');
  for (const target of ['/etc/shadow', '../../../../../../../../etc/shadow', '/../../etc/../etc/shadow']) {
    await fsp.rm(host.real('/etc/kubernetes/kubelet.conf'));
    await fsp.symlink(target, host.real('/etc/kubernetes/kubelet.conf'));
    const e = await evaluateNode(host.fs, { now: host.now });
    const r = one(e, '4.1.5');
    t.equal(r.status, 'fail', `via ${target}`);
    t.match(r.evidence, host.owned ? /^\/etc\/kubernetes\/kubelet\.conf: mode 604, owner root:root$/ : /^\/etc\/kubernetes\/kubelet\.conf: mode 604, owner /, `via ${target}`);
    t.equal(one(e, 'nw-cert-expiry', '/etc/kubernetes/kubelet.conf').status, 'na', 'shadow is no kubeconfig with a client certificate');
  }
});

t.test('a symlink to a path outside the root that does not exist inside it is "not applicable"', async (t) => {
  const host = await fixture(t);
  await fsp.rm(host.real('/etc/kubernetes/pki/ca.crt'));
  // /proc/self/root/etc/hostname exists on the real machine; under the host root it does not.
  await fsp.symlink('/proc/self/root/etc/hostname', host.real('/etc/kubernetes/pki/ca.crt'));
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.1.7').status, 'na');
  t.equal(one(e, '4.1.7').evidence, '/etc/kubernetes/pki/ca.crt does not exist');
});

t.test('a symlink loop is an error, not a hang', async (t) => {
  const host = await fixture(t);
  await fsp.rm(host.real('/var/lib/kubelet/config.yaml'));
  await fsp.symlink('/var/lib/kubelet/loop-b', host.real('/var/lib/kubelet/config.yaml'));
  await fsp.symlink('/var/lib/kubelet/config.yaml', host.real('/var/lib/kubelet/loop-b'));
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.1.9').status, 'error');
  t.match(one(e, '4.1.9').evidence, 'too many symlinks');
  t.equal(one(e, '4.2.4').status, 'error');
});

t.test('a directory or a FIFO where a config file should be is an error, and a FIFO does not block', async (t) => {
  const host = await fixture(t);
  await fsp.rm(host.real('/var/lib/kubelet/config.yaml'));
  await fsp.mkdir(host.real('/var/lib/kubelet/config.yaml'));
  let e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.2.4').status, 'error');
  t.match(one(e, '4.2.4').evidence, 'is not a regular file');
  let haveMkfifo = true;
  try {
    await fsp.rm(host.real('/var/lib/kubelet/config.yaml'), { recursive: true });
    execFileSync('mkfifo', [host.real('/var/lib/kubelet/config.yaml')]);
  } catch {
    haveMkfifo = false;
  }
  if (haveMkfifo) {
    e = await evaluateNode(host.fs, { now: host.now });
    t.equal(one(e, '4.2.4').status, 'error');
    t.match(one(e, '4.2.4').evidence, 'is not a regular file');
  }
});

t.test('a garbage kube-proxy config and a garbage unit file do not stop the evaluation', async (t) => {
  const host = await fixture(t);
  const ctr = '/run/containerd/io.containerd.runtime.v2.task/k8s.io/3f2a9c/rootfs/var/lib/kube-proxy/..2026_11_24_00_00_00.000000001';
  await host.write(`${ctr}/config.conf`, '{{{{ not yaml', 0o600);
  await host.write('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', '\u0000\u0000[Service\nExecStart=$(', 0o600);
  await fsp.rm(host.real('/proc/1200'), { recursive: true });
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(one(e, '4.3.1').status, 'error');
  t.match(one(e, '4.3.1').evidence, /^kube-proxy config file \/proc\/2400\/root\/var\/lib\/kube-proxy\/config\.conf is not valid YAML/);
  t.equal(one(e, '4.1.3').status, 'na', 'the kubeconfig path lives in the unreadable config');
  t.ok(e.results.length > 40);
});

t.test('unreadable /etc/passwd leaves numeric owners, and root is still root', async (t) => {
  const host = await fixture(t, 'misconfigured-worker');
  await fsp.rm(host.real('/etc/passwd'));
  await fsp.rm(host.real('/etc/group'));
  const e = await evaluateNode(host.fs, { now: host.now });
  if (host.owned) {
    t.equal(one(e, '4.1.5').evidence, '/etc/kubernetes/kubelet.conf: mode 644, owner 1000:1000');
    t.equal(one(e, '4.1.9').evidence, '/var/lib/kubelet/config.yaml: mode 644, owner 1000:root', 'gid 0 is root without /etc/group');
  } else {
    t.equal(one(e, '4.1.9').evidence, `/var/lib/kubelet/config.yaml: mode 644, owner ${process.getuid!()}:${process.getgid!()}`);
  }
});

t.test('a kubelet config file named on the command line that is missing or dangling makes its settings errors, never a pass on defaults', async (t) => {
  for (const kind of ['missing', 'dangling'] as const) {
    const host = await fixture(t);
    await fsp.rm(host.real('/var/lib/kubelet/config.yaml'));
    if (kind === 'dangling') await fsp.symlink('/var/lib/kubelet/gone.yaml', host.real('/var/lib/kubelet/config.yaml'));
    const e = await evaluateNode(host.fs, { now: host.now });
    for (const id of ['4.2.1', '4.2.2', '4.2.4', '4.2.6']) {
      t.equal(one(e, id).status, 'error', `${kind}: ${id} is an error`);
      t.match(one(e, id).evidence, /kubelet config file \/var\/lib\/kubelet\/config\.yaml named on the kubelet command line cannot be read/, `${kind}: ${id} says why`);
    }
  }
});
