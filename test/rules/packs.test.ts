// The built-in packs: every case in rules/packs/*.tests.yaml passes, every built-in rule has a case
// that fires it and a near miss that must not, and the process-name index never changes a result
// (checked against evaluating every rule, on the cases and on recombinations of them).
import t from 'tap';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_DIR, type Ruleset, loadRuleset, matchRules } from '../../rules/ruleset.js';
import { readCases, runCases, type RuleCase } from '../../rules/testing.js';
import { formatProblem, type Problem } from '../../rules/pack.js';

const loaded = loadRuleset({ dirs: [] });
if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
const rs = loaded.ruleset;
const problems: Problem[] = [];
const files = readdirSync(BUILTIN_DIR).filter((f) => f.endsWith('.tests.yaml')).map((f) => path.join(BUILTIN_DIR, f));
const cases = files.flatMap((f) => readCases(f, problems));

t.test('the test files load without problems', async (t) => {
  t.ok(files.length >= 1);
  t.same(problems.map(formatProblem), []);
});

t.test('every built-in case passes', async (t) => {
  for (const r of runCases(rs, cases)) t.ok(r.ok, `${r.case.name}${r.ok ? '' : `: ${r.detail}`}`);
});

t.test('every built-in rule has a case that fires it and a near miss that must not', async (t) => {
  for (const rule of rs.rules) {
    t.ok(cases.some((c) => c.expect.includes(rule.id)), `${rule.id} fires in some case`);
    t.ok(cases.some((c) => c.notExpect.includes(rule.id) && !c.expect.includes(rule.id)), `${rule.id} has a near miss`);
  }
});

/** Every rule evaluated, no index: what the index must agree with. */
function bruteForce(set: Ruleset, obs: RuleCase['observation']): string[] {
  const act = set.prepare('process', obs);
  return set.rules.filter((r) => r.source === 'process' && r.test(act) && !r.exceptions.some((x) => x.matches(obs))).sort((a, b) => b.rank - a.rank || a.seq - b.seq).map((r) => r.id);
}

t.test('the process-name index agrees with evaluating every rule', async (t) => {
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const execs = cases.filter((c) => c.source === 'process');
  const mixes: RuleCase['observation'][] = execs.map((c) => c.observation);
  for (let i = 0; i < 2000; i++) {
    const a = execs[rnd(execs.length)]!.observation as Record<string, Record<string, unknown>>;
    const b = execs[rnd(execs.length)]!.observation as Record<string, Record<string, unknown>>;
    mixes.push({ ...a, process: { ...a.process!, name: b.process!.name, exe: rnd(2) ? a.process!.exe : b.process!.exe }, container: b.container!, inContainer: b.inContainer as unknown as Record<string, unknown> });
  }
  let differ = 0;
  for (const o of mixes) {
    const fast = matchRules(rs, o as { kind: string; process: { name: string } }).map((r) => r.id);
    if (JSON.stringify(fast) !== JSON.stringify(bruteForce(rs, o))) differ++;
  }
  t.equal(differ, 0, `${mixes.length} observations`);
  const ix = rs.index.get('process')!;
  const execRules = rs.rules.filter((r) => r.source === 'process').length;
  t.ok(ix.always.length < execRules / 2, `most exec rules are indexed (${execRules - ix.always.length} of ${execRules})`);
});
