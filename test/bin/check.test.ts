// `nodewarden check` as a user runs it: exit code, formats, and the runtime row.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/pipeline.js';
import { cliPath } from '../helpers/paths.js';
import { prepareHost } from '../collectors/posture/fixture-host.js';

const run = (args: string[]) => spawnSync(process.execPath, [cliPath, 'check', ...args], { encoding: 'utf8' });

t.test('a misconfigured worker fails: exit 1, failing ids in JSON, failures in JUnit', async (t) => {
  const host = await prepareHost('misconfigured-worker');
  t.teardown(() => host.cleanup());
  const json = run(['--host-root', host.root, '--format', 'json', '--cri-socket', '/run/nowhere.sock']);
  t.equal(json.status, 1, json.stderr);
  const doc = JSON.parse(json.stdout) as { results: { id: string; status: string }[] };
  const failing = new Set(doc.results.filter((r) => r.status === 'fail').map((r) => r.id));
  for (const id of ['4.1.5', '4.1.9', '4.2.1', '4.2.2']) t.ok(failing.has(id), `${id} fails`);
  t.ok(doc.results.some((r) => r.id === '4.2.4' && r.status === 'warn'), '4.2.4, Manual in the benchmark, warns');
  t.ok(doc.results.some((r) => r.id === 'runtime.unavailable' && r.status === 'fail'), 'a configured but absent runtime socket is a failure');

  const junit = run(['--host-root', host.root, '--format', 'junit']);
  t.equal(junit.status, 1);
  t.match(junit.stdout, /^<\?xml version="1.0"/);
  t.match(junit.stdout, /<failure message="[^"]*mode 6/);
});

t.test('the table names every check and says when no runtime was found', async (t) => {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  const table = run(['--host-root', host.root]);
  t.match(table.stdout, /^ID\s+STATUS\s+TITLE\s+EVIDENCE/);
  t.match(table.stdout, /\n4\.1\.5\s+PASS/);
  t.match(table.stdout, /\nruntime\s+N\/A\s+Container runtime state\s+no container runtime socket found/);
});

t.test('a bad flag is refused with a message', async (t) => {
  const r = run(['--format', 'yaml']);
  t.not(r.status, 0);
  t.match(r.stderr, /Allowed choices are table, json, junit/);
});

t.test('--rules: a user pack judges the runtime too (here: disabling the unavailable rule); broken rules stop the check', async (t) => {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  const dir = tempDir('check-rules');
  writeFileSync(path.join(dir, 'quiet.yaml'), 'rules:\n  - { id: runtime.unavailable, enabled: false }\n');
  const json = run(['--host-root', host.root, '--format', 'json', '--cri-socket', '/run/nowhere.sock', '--rules', dir]);
  const doc = JSON.parse(json.stdout) as { results: { id: string; status: string }[] };
  t.notOk(doc.results.some((r) => r.id === 'runtime.unavailable'), 'the disabled rule raised nothing');
  t.ok(doc.results.some((r) => r.id === 'runtime' && r.status === 'pass'), 'the runtime row passes');

  const bad = tempDir('check-rules-bad');
  writeFileSync(path.join(bad, 'broken.yaml'), 'rules:\n  - { id: runtime.mine, title: x, source: runtime, condition: "mount.readonly", severity: low, output: x }\n');
  const r = run(['--host-root', host.root, '--rules', bad]);
  t.equal(r.status, 2);
  t.match(r.stderr, /broken\.yaml:2: rule runtime\.mine: condition: mount is only set in a rule with each: mounts/);
  t.equal(r.stdout, '', 'nothing checked');
});

t.test('Manual checks warn without failing the run; --strict makes warnings count', async (t) => {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  // Only a Manual check broken: the read-only port (4.2.4) opened in the kubelet's config file.
  const config = readFileSync(host.real('/var/lib/kubelet/config.yaml'), 'utf8');
  await host.write('/var/lib/kubelet/config.yaml', `${config.trimEnd()}\nreadOnlyPort: 10255\n`, 0o600);
  const relaxed = run(['--host-root', host.root, '--format', 'json']);
  const doc = JSON.parse(relaxed.stdout) as { results: { id: string; status: string; manual?: boolean; severity?: string }[] };
  const r = doc.results.find((x) => x.id === '4.2.4')!;
  t.match(r, { status: 'warn', manual: true, severity: 'medium' });
  t.same(doc.results.filter((x) => x.status === 'fail' || x.status === 'error').map((x) => x.id), [], 'nothing else fails');
  t.equal(relaxed.status, 0, 'warnings alone: exit 0');
  t.equal(run(['--host-root', host.root, '--format', 'json', '--strict']).status, 1, '--strict: exit 1');
});

t.test('--benchmark: the control plane under CIS 1.10 and 1.12, and the version the report names', async (t) => {
  const host = await prepareHost('control-plane');
  t.teardown(() => host.cleanup());
  type Doc = { benchmark: { id: string; reason: string }; results: { id: string; status: string; severity?: string; remediation?: string }[] };
  const auto = run(['--host-root', host.root, '--format', 'json', '--cri-socket', '/run/nowhere.sock']);
  const a = JSON.parse(auto.stdout) as Doc;
  t.equal(a.benchmark.id, 'cis-1.12', 'picked from the API server image v1.33.0');
  t.ok(a.results.some((r) => r.id === '1.2.30'), 'CIS 1.12 has 1.2.30');
  t.ok(a.results.filter((r) => /^(1\.[234]|2)\./.test(r.id)).every((r) => r.status === 'pass'), 'the hardened control plane passes');
  const old = run(['--host-root', host.root, '--format', 'json', '--benchmark', 'cis-1.10']);
  const o = JSON.parse(old.stdout) as Doc;
  t.same(o.benchmark, { id: 'cis-1.10', reason: 'cis-1.10 as configured' });
  t.notOk(o.results.some((r) => r.id === '1.2.30'));
  t.match(o.results.find((r) => r.id === '4.1.7'), { status: 'warn', severity: 'medium' });
  const table = run(['--host-root', host.root, '--benchmark', 'cis-1.10']);
  t.match(table.stdout, /benchmark cis-1\.10: cis-1\.10 as configured/);
  // A loosened API server flag: failing, with the rule's severity and remediation.
  const manifest = readFileSync(host.real('/etc/kubernetes/manifests/kube-apiserver.yaml'), 'utf8');
  await host.write('/etc/kubernetes/manifests/kube-apiserver.yaml', manifest.replace('--authorization-mode=Node,RBAC', '--authorization-mode=AlwaysAllow'), 0o600);
  await host.write('/proc/2001/cmdline', readFileSync(host.real('/proc/2001/cmdline'), 'utf8').replace('--authorization-mode=Node,RBAC', '--authorization-mode=AlwaysAllow'));
  const broken = run(['--host-root', host.root, '--format', 'json']);
  t.equal(broken.status, 1);
  const b = JSON.parse(broken.stdout) as Doc;
  t.match(b.results.find((r) => r.id === '1.2.6'), { status: 'fail', severity: 'critical', remediation: /--authorization-mode=Node,RBAC/ });
  t.equal(run(['--benchmark', 'cis-9.9']).status, 1, 'an unknown version is refused');
});
