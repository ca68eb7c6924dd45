// `nodewarden check` as a user runs it: exit code, formats, and the runtime row.
import t from 'tap';
import { spawnSync } from 'node:child_process';
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
  for (const id of ['4.1.5', '4.1.9', '4.2.1', '4.2.2', '4.2.4']) t.ok(failing.has(id), `${id} fails`);
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
