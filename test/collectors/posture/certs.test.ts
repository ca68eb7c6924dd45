// Certificate expiry against the real clock, with certificates made by openssl at test time
// (so nothing committed can age): fresh, about to expire, and a CA bundle judged by its
// earliest certificate.

import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateNode } from '../../../collectors/posture/index.js';
import { prepareHost, type FixtureHost } from './fixture-host.js';

function haveOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = haveOpenssl() ? false : 'openssl is not installed';

async function makeCert(t: Test, days: number, cn: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-cert-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', String(days), '-nodes',
    '-subj', `/CN=${cn}`, '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'),
  ], { stdio: 'ignore' });
  return fsp.readFile(path.join(dir, 'c.pem'), 'utf8');
}

async function fixture(t: Test): Promise<FixtureHost> {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  return host;
}

t.test('a certificate expiring in 10 days warns against the real clock', { skip }, async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/pki/kubelet-server-2026-11-24-00-00-00.pem', await makeCert(t, 10, 'soon'), 0o600);
  const e = await evaluateNode(host.fs);
  const r = e.results.find((x) => x.id === 'nw-cert-expiry' && x.subject === '/var/lib/kubelet/pki/kubelet-server-current.pem')!;
  t.equal(r.status, 'warn');
  t.equal(r.reason, 'expiring', 'the posture rules make it posture.nw-cert-expiring (medium)');
  t.match(r.evidence, /CN=soon expires .*, in (9|10) days/);
});

t.test('a fresh certificate passes, and fails as expired once its time is past', { skip }, async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/pki/kubelet-server-2026-11-24-00-00-00.pem', await makeCert(t, 90, 'fresh'), 0o600);
  const subject = '/var/lib/kubelet/pki/kubelet-server-current.pem';
  let e = await evaluateNode(host.fs);
  t.equal(e.results.find((x) => x.id === 'nw-cert-expiry' && x.subject === subject)!.status, 'pass');
  e = await evaluateNode(host.fs, { now: new Date(Date.now() + 91 * 86_400_000) });
  const r = e.results.find((x) => x.id === 'nw-cert-expiry' && x.subject === subject)!;
  t.equal(r.status, 'fail');
  t.equal(r.reason, 'expired', 'the posture rules make it posture.nw-cert-expired (critical)');
  t.match(r.evidence, 'CN=fresh expired');
});

t.test('a CA bundle is judged by its earliest-expiring certificate', { skip }, async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/pki/ca.crt', (await makeCert(t, 3650, 'long')) + (await makeCert(t, 5, 'short')), 0o600);
  const e = await evaluateNode(host.fs);
  const r = e.results.find((x) => x.id === 'nw-cert-expiry' && x.subject === '/etc/kubernetes/pki/ca.crt')!;
  t.equal(r.status, 'warn');
  t.match(r.evidence, /CN=short expires .*\(earliest of 2 certificates\)/);
});

t.test('a certificate not yet valid fails', { skip }, async (t) => {
  const host = await fixture(t);
  await host.write('/etc/kubernetes/pki/ca.crt', await makeCert(t, 3650, 'future'), 0o600);
  const e = await evaluateNode(host.fs, { now: new Date(Date.now() - 2 * 86_400_000) });
  const r = e.results.find((x) => x.id === 'nw-cert-expiry' && x.subject === '/etc/kubernetes/pki/ca.crt')!;
  t.equal(r.status, 'fail');
  t.match(r.evidence, 'CN=future is not valid before');
});
