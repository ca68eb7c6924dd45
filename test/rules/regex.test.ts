// matches() patterns: those that could backtrack badly run on RE2, so a hostile command line
// cannot stall the agent through a rule; the others on JavaScript's engine, with RE2's flags.
import t from 'tap';
import { backtracksBadly, compilePattern } from '../../rules/regex.js';

t.test('which patterns could backtrack badly', async (t) => {
  for (const p of ['(a+)+$', '(.*a){3}', '(a|aa)*b', 'a*a*b', '\\s*\\S*x']) t.ok(backtracksBadly(p), p);
  for (const p of ['stratum\\+(tcp|ssl|tls)://', '[a-z]+x', '(^|[ /])\\.(bash|zsh)_history', 'a{2,3}b', '[(*+]+']) t.notOk(backtracksBadly(p), p);
});

t.test('a nested repetition against a hostile argument stays fast, and answers right', async (t) => {
  const p = compilePattern('(a+)+$');
  const t0 = performance.now();
  t.equal(p.test(`${'a'.repeat(4000)}!`), false);
  t.equal(p.test('aaa'), true);
  t.ok(performance.now() - t0 < 500, `${(performance.now() - t0).toFixed(1)} ms`);
});

t.test('RE2 flags written as a prefix; a pattern RE2 refuses is said to be refused', async (t) => {
  t.equal(compilePattern('(?i)STRATUM').test('stratum+tcp://'), true);
  t.equal(compilePattern('(?i)(a|b)*C').test('abc'), true, 'on RE2 too');
  t.throws(() => compilePattern('(a+)+(?=x)'), /runs on RE2, which refuses it/);
  t.throws(() => compilePattern('('));
});
