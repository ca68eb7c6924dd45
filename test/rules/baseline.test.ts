// Process baselines: learning, anomalies once active or locked, reset, persistence across a
// restart, workload keys from pod names, and the agent's /baselines routes with the CLI on them.
import t from 'tap';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Baselines, workloadOf } from '../../rules/baseline.js';
import { RuleEngine } from '../../rules/engine.js';
import { loadRuleset } from '../../rules/ruleset.js';
import { completeObservation } from '../../rules/complete.js';
import { EXEC_FIELDS } from '../../rules/schema.js';
import { startHttp } from '../../core/http.js';
import { baselineRoutes } from '../../daemon/baseline-routes.js';
import type { Finding } from '../../core/finding.js';
import type { ExecObservation } from '../../core/observation.js';
import { tempDir, waitFor } from '../helpers/pipeline.js';
import { cliPath } from '../helpers/paths.js';

const run = promisify(execFile);

t.test('workloads from pod names', async (t) => {
  t.equal(workloadOf('coredns-7db6d8ff4d-x2v9k'), 'coredns', 'Deployment');
  t.equal(workloadOf('kube-proxy-x7k2p'), 'kube-proxy', 'DaemonSet');
  t.equal(workloadOf('web-0'), 'web', 'StatefulSet');
  t.equal(workloadOf('etcd-control-plane'), 'etcd-control-plane', 'a static pod is its own workload');
  t.equal(workloadOf('nginx-proxy'), 'nginx-proxy', 'a word is no generated suffix');
});

t.test('learn, then judge; lock ends learning at once; reset learns again', async (t) => {
  let now = 1_000;
  const b = new Baselines({ file: null, learnMs: 100, now: () => now });
  t.same(b.observe('kube-system', 'coredns-7db6d8ff4d-x2v9k', 'coredns', '/coredns'), { state: 'learning', known: true, workload: 'kube-system/coredns/coredns' });
  b.observe('kube-system', 'coredns-7db6d8ff4d-b4t5n', 'coredns', '/bin/sh');
  now += 200;
  t.same(b.observe('kube-system', 'coredns-7db6d8ff4d-x2v9k', 'coredns', '/bin/sh'), { state: 'active', known: true, workload: 'kube-system/coredns/coredns' }, 'learnt from another pod of the workload');
  t.equal(b.observe('kube-system', 'coredns-7db6d8ff4d-x2v9k', 'coredns', '/usr/bin/curl').known, false);
  t.equal(b.observe('', 'p', 'c', '/x').state, '', 'no pod, no baseline');

  t.equal(b.observe('kube-system', 'kube-proxy-x7k2p', 'kube-proxy', '/usr/local/bin/kube-proxy').state, 'learning');
  t.equal(b.lock('kube-system/kube-proxy'), 1);
  t.same(b.observe('kube-system', 'kube-proxy-x7k2p', 'kube-proxy', '/bin/sh'), { state: 'active', known: false, workload: 'kube-system/kube-proxy/kube-proxy' });
  t.equal(b.reset('kube-system/kube-proxy/'), 1);
  t.equal(b.observe('kube-system', 'kube-proxy-x7k2p', 'kube-proxy', '/bin/sh').state, 'learning', 'learning again');
  t.same(b.list().map((x) => x.workload).sort(), ['kube-system/coredns/coredns', 'kube-system/kube-proxy/kube-proxy']);
});

t.test('bounded: workloads and executables', async (t) => {
  const b = new Baselines({ file: null, learnMs: 1e9, maxWorkloads: 2, maxExes: 2 });
  for (const e of ['/a', '/b', '/c']) b.observe('ns', 'p', 'c', e);
  t.same(b.list()[0]!.exes, ['/a', '/b']);
  t.equal(b.list()[0]!.full, true);
  b.observe('ns', 'q', 'c', '/a');
  t.equal(b.observe('ns', 'r', 'c', '/a').state, '', 'a third workload is not tracked');
  t.equal(b.dropped, 1);
});

t.test('baselines survive a restart; a damaged file starts afresh', async (t) => {
  const file = path.join(tempDir('baselines'), 'baselines.json');
  let now = 0;
  const a = new Baselines({ file, learnMs: 10, now: () => now });
  a.observe('ns', 'app-0', 'c', '/app');
  now = 100;
  a.save();
  const b = new Baselines({ file, learnMs: 10, now: () => now });
  t.same(b.observe('ns', 'app-1', 'c', '/app'), { state: 'active', known: true, workload: 'ns/app/c' });
  t.equal(b.observe('ns', 'app-1', 'c', '/bin/sh').known, false);
  writeFileSync(file, '{"version":1,"baselines":[{"workload":');
  t.same(new Baselines({ file, learnMs: 10 }).list(), []);
});

t.test('the engine reports an exec outside an active baseline', async (t) => {
  const r = loadRuleset({ dirs: [] });
  if (!r.ok) throw new Error('rules');
  const emitted: Finding[] = [];
  const baselines = new Baselines({ file: null, learnMs: 60_000 });
  const e = new RuleEngine(r.ruleset, { sink: { emit: async (fs) => void emitted.push(...fs) }, logger: pino({ level: 'silent' }), registry: new Registry(), stateDir: null, repeatWindowMs: 60_000, baselines });
  const exec = (exe: string): ExecObservation => ({ kind: 'exec', timeUnixNano: 1n, ...completeObservation({
    process: { name: path.basename(exe), exeName: path.basename(exe), exe, argv: [exe] }, inContainer: true,
    container: { id: 'c1', name: 'app', origin: 'cri' }, kubernetes: { namespace: 'kube-system', pod: 'app-6d4cf56db6-x2v9k', container: 'app' },
  }, EXEC_FIELDS).value } as unknown as ExecObservation);
  e.observe([exec('/app/server'), exec('/usr/bin/env')]);
  baselines.lock();
  e.observe([exec('/app/server'), exec('/usr/bin/python3')]);
  await waitFor('the anomaly', () => emitted.length === 1);
  t.equal(emitted[0]!.ruleId, 'process.unexpected-process');
  t.match(emitted[0]!.message, /\/usr\/bin\/python3 ran in kube-system\/app-6d4cf56db6-x2v9k\/app, outside the baseline learnt for kube-system\/app\/app/);
});

t.test('the agent endpoint lists, locks and resets; the CLI speaks to it', async (t) => {
  const baselines = new Baselines({ file: path.join(tempDir('bl-http'), 'b.json'), learnMs: 60_000 });
  baselines.observe('kube-system', 'coredns-7db6d8ff4d-x2v9k', 'coredns', '/coredns');
  const http = await startHttp('127.0.0.1:0', new Registry(), () => [], baselineRoutes(() => baselines));
  t.teardown(() => http.close());
  const agent = `127.0.0.1:${http.address.port}`;
  const cli = (...args: string[]) => run(process.execPath, [cliPath, 'baselines', ...args, '--agent', agent]);

  const list = await cli('list');
  t.match(list.stdout, /kube-system\/coredns\/coredns {2}learning until .* 1 executables\n {4}\/coredns\n/);
  t.match((await cli('lock', 'kube-system/coredns')).stdout, /locked 1 baseline\n/);
  t.match((await cli('list', '--json')).stdout, /"state":"active","learnUntil":\d+,"locked":true/);
  const out = path.join(tempDir('bl-export'), 'export.json');
  await cli('export', '-o', out);
  t.match((await import('node:fs')).readFileSync(out, 'utf8'), /"exes": \[\n\s+"\/coredns"\n/);
  t.match((await cli('reset')).stdout, /reset 1 baseline\n/);
  t.match((await cli('list')).stdout, /no baselines yet/);

  const res = await fetch(`http://${agent}/baselines/reset`);
  t.equal(res.status, 405, 'a change is a POST');
  const down = await run(process.execPath, [cliPath, 'baselines', 'list', '--agent', '127.0.0.1:1']).then(() => '', (err: { stderr: string }) => err.stderr);
  t.match(down, /cannot reach the agent at 127\.0\.0\.1:1/);
});

t.test('CronJob runs are one workload; lock and reset select whole segments', async (t) => {
  t.equal(workloadOf('backup-28392012-x7k2p'), 'backup');
  const b = new Baselines({ file: null, learnMs: 1e9 });
  b.observe('ns', 'web-0', 'c', '/a');
  b.observe('ns', 'web-admin-0', 'c', '/a');
  t.equal(b.reset('ns/web'), 1, 'ns/web is not ns/web-admin');
  t.equal(b.lock('ns/'), 1);
});
