// The rule engine: one finding per observation naming every matched rule, folding of repeats,
// per-rule rate limits, and hot reload (a good change is in use within 2 s without losing an
// observation; a bad one keeps the old rules and says so).
import t from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RuleEngine } from '../../rules/engine.js';
import { RuleReloader } from '../../rules/reload.js';
import { loadRuleset } from '../../rules/ruleset.js';
import { completeObservation } from '../../rules/complete.js';
import { EXEC_FIELDS } from '../../rules/schema.js';
import type { Finding } from '../../core/finding.js';
import type { ExecObservation } from '../../core/observation.js';
import { tempDir, waitFor } from '../helpers/pipeline.js';

function exec(partial: Record<string, unknown>): ExecObservation {
  const o = completeObservation(partial, EXEC_FIELDS);
  if (o.problems.length) throw new Error(o.problems.join('; '));
  return { kind: 'exec', timeUnixNano: 1n, ...o.value } as unknown as ExecObservation;
}

const pod = { inContainer: true, container: { id: 'c1', name: 'app', image: 'app:1', origin: 'cri' }, kubernetes: { namespace: 'kube-system', pod: 'app-1', container: 'app' } };
const minerFromTmp = exec({ ...pod, process: { name: 'xmrig', exeName: 'xmrig', exe: '/tmp/xmrig', argv: ['xmrig'], capture: 'audit' } });
const benign = exec({ ...pod, process: { name: 'ls', exeName: 'ls', exe: '/bin/ls', argv: ['ls'] } });

function engine(opts: { dirs?: string[]; repeatWindowMs?: number } = {}) {
  const r = loadRuleset({ dirs: opts.dirs ?? [] });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const emitted: Finding[] = [];
  const registry = new Registry();
  const e = new RuleEngine(r.ruleset, { sink: { emit: async (fs) => void emitted.push(...fs) }, logger: pino({ level: 'silent' }), registry, stateDir: null, repeatWindowMs: opts.repeatWindowMs ?? 60_000 });
  return { e, emitted, registry };
}

t.test('an exec that matches several rules is one finding naming them all', async (t) => {
  const { e, emitted } = engine();
  e.observe([minerFromTmp, benign]);
  await waitFor('the finding', () => emitted.length === 1);
  const f = emitted[0]!;
  t.equal(f.ruleId, 'process.crypto-miner', 'the most severe rule leads');
  t.same(f.ruleIds, ['process.crypto-miner', 'process.exec-from-writable-path']);
  t.equal(f.severity, 'critical');
  t.same(f.mitre, ['T1496', 'T1059', 'T1036.005'], 'the union of the rules\' ATT&CK ids');
  t.match(f.message, /A crypto miner started in kube-system\/app-1\/app: xmrig\. Also: A program ran from a writable temporary directory\./);
  t.equal(f.kubernetes?.pod, 'app-1');
  t.equal(f.process?.exe, '/tmp/xmrig');
  t.ok(f.tags?.includes('cryptomining') && f.tags.includes('dropper') && f.tags.includes('audit'));
});

t.test('identical detections are folded into one with a count', async (t) => {
  const { e, emitted, registry } = engine({ repeatWindowMs: 200 });
  e.start();
  t.teardown(() => e.stop());
  for (let i = 0; i < 5; i++) e.observe([minerFromTmp]);
  await waitFor('the summary', () => emitted.length === 2, 3000);
  t.equal(emitted[0]!.count, undefined);
  t.equal(emitted[1]!.count, 4);
  t.match(await registry.metrics(), /nodewarden_rule_suppressed_total\{rule="process.crypto-miner",reason="folded"\} 4/);
  t.match(await registry.metrics(), /nodewarden_rule_matches_total\{rule="process.crypto-miner"\} 5/);
});

t.test('a rule over its rate is counted, not sent, and summarised once quiet', async (t) => {
  const dir = tempDir('rules-rate');
  writeFileSync(path.join(dir, 'rate.yaml'), 'rules:\n  - { id: process.crypto-miner, maxPerMinute: 3 }\n');
  const { e, emitted, registry } = engine({ dirs: [dir], repeatWindowMs: 100 });
  // Each observation a different executable: not folded, only rate-limited.
  e.observe(Array.from({ length: 10 }, (_, i) => exec({ ...pod, process: { name: 'xmrig', exe: `/opt/m${i}/xmrig`, argv: ['xmrig'] } })));
  await waitFor('three sent', () => emitted.length === 3);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(emitted.length, 3);
  t.match(await registry.metrics(), /nodewarden_rule_suppressed_total\{rule="process.crypto-miner",reason="rate-limit"\} 7/);
});

t.test('exceptions are counted as such', async (t) => {
  const dir = tempDir('rules-ex');
  writeFileSync(path.join(dir, 'ex.yaml'), 'rules:\n  - id: process.crypto-miner\n    exceptions: [{ name: lab, fields: [kubernetes.pod], values: [[app-*]] }]\n');
  const { e, emitted, registry } = engine({ dirs: [dir] });
  e.observe([minerFromTmp]);
  await waitFor('the other rule still fires', () => emitted.length === 1);
  t.equal(emitted[0]!.ruleId, 'process.exec-from-writable-path');
  t.match(await registry.metrics(), /nodewarden_rule_suppressed_total\{rule="process.crypto-miner",reason="exception"\} 1/);
});

t.test('hot reload: a good change is in use within 2 s; a bad one keeps the old rules and says so', async (t) => {
  const dir = tempDir('rules-hot');
  const file = path.join(dir, 'mine.yaml');
  writeFileSync(file, 'rules: []\n');
  const { e, emitted, registry } = engine({ dirs: [dir] });
  const reports: Finding[] = [];
  const reloader = new RuleReloader({
    load: { dirs: [dir] }, logger: pino({ level: 'silent' }), registry,
    onRuleset: (rs) => e.swap(rs), report: async (fs) => void reports.push(...fs), pollMs: 1000,
  });
  reloader.start();
  t.teardown(() => reloader.stop());

  const ls = (n: number) => exec({ ...pod, process: { name: 'ls', exe: `/bin/ls${n}`, argv: ['ls'] } });
  // Observations keep flowing while the rules change: none may be lost or half-evaluated.
  let n = 0;
  const flow = setInterval(() => e.observe([ls(n++)]), 5);
  t.teardown(() => clearInterval(flow));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(emitted.length, 0, 'ls is benign under the built-in rules');

  const t0 = Date.now();
  writeFileSync(file, "rules:\n  - { id: process.ls, title: ls ran, source: process, condition: \"process.name == 'ls'\", severity: info, output: '{process.exe}' }\n");
  await waitFor('the new rule in use', () => emitted.some((f) => f.ruleId === 'process.ls'), 2000);
  t.ok(Date.now() - t0 < 2000, `in use after ${Date.now() - t0} ms`);
  const first = emitted.find((f) => f.ruleId === 'process.ls')!;
  const from = Number(first.process!.exe.slice('/bin/ls'.length));
  await new Promise((r) => setTimeout(r, 100));
  const seen = new Set(emitted.filter((f) => f.ruleId === 'process.ls').map((f) => Number(f.process!.exe.slice('/bin/ls'.length))));
  const last = Math.max(...seen);
  let missing = 0;
  for (let i = from; i <= last; i++) if (!seen.has(i)) missing++;
  t.equal(missing, 0, 'every exec after the switch was evaluated by the new rules');

  writeFileSync(file, "rules:\n  - { id: process.ls, title: ls ran, source: process, condition: \"process.name ==\", severity: info, output: '{process.exe}' }\n");
  await waitFor('the refusal reported', () => reports.length === 1, 3000);
  t.equal(reports[0]!.ruleId, 'agent.rules-reload-failed');
  t.match(reports[0]!.message, /mine\.yaml:2: rule process\.ls: condition: /);
  const before = emitted.length;
  await waitFor('the old rules still in use', () => emitted.length > before + 3);
  t.match(await registry.metrics(), /nodewarden_rules_reloads_total\{result="error"\} 1/);
  clearInterval(flow);

  rmSync(file);
  await waitFor('the rule gone with its file', async () => {
    const k = emitted.length;
    e.observe([ls(999_999)]);
    await new Promise((r) => setTimeout(r, 20));
    return emitted.length === k;
  }, 3000);
});

t.test('a noisy pod\'s repeats are folded before the rate limit: another pod still gets through', async (t) => {
  const dir = tempDir('rules-rate2');
  writeFileSync(path.join(dir, 'rate.yaml'), 'rules:\n  - { id: process.crypto-miner, maxPerMinute: 5 }\n');
  const { e, emitted } = engine({ dirs: [dir] });
  const noisy = exec({ ...pod, process: { name: 'xmrig', exe: '/opt/xmrig', argv: ['xmrig'] } });
  for (let i = 0; i < 100; i++) e.observe([noisy]);
  e.observe([exec({ ...pod, kubernetes: { namespace: 'kube-system', pod: 'victim-1', container: 'app' }, process: { name: 'xmrig', exe: '/opt/xmrig', argv: ['xmrig'] } })]);
  await waitFor('both pods', () => emitted.length === 2);
  t.same(emitted.map((f) => f.kubernetes?.pod), ['app-1', 'victim-1']);
});

t.test('an observation that cannot be evaluated is counted and the others go on', async (t) => {
  const { e, emitted, registry } = engine();
  const broken = { ...minerFromTmp, process: undefined } as unknown as ExecObservation;
  e.observe([broken, minerFromTmp]);
  await waitFor('the good one', () => emitted.length === 1);
  t.match(await registry.metrics(), /nodewarden_rule_evaluation_errors_total\{rule="\(engine\)"\} 1/);
});
