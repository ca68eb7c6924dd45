// Loading rule packs: overrides and disabling by id, exceptions, and every kind of load error
// reported with its file, line and rule id.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadRuleset, matchRules } from '../../rules/ruleset.js';
import { completeObservation } from '../../rules/complete.js';
import { EXEC_FIELDS } from '../../rules/schema.js';
import { formatProblem } from '../../rules/pack.js';
import { allowToExceptions } from '../../rules/legacy.js';
import { tempDir } from '../helpers/pipeline.js';

function pack(files: Record<string, string>): string {
  const dir = tempDir('rules');
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

function obs(partial: Record<string, unknown>) {
  const o = completeObservation(partial, EXEC_FIELDS);
  if (o.problems.length) throw new Error(o.problems.join('; '));
  return { kind: 'exec', ...o.value } as { kind: string; process: { name: string } };
}

const shellInPod = obs({
  process: { name: 'bash', exeName: 'bash', exe: '/bin/bash', argv: ['bash'], tty: true },
  inContainer: true, container: { id: 'c1', image: 'debug:1' }, kubernetes: { namespace: 'kube-system', pod: 'debug-1', container: 'debug' },
});

function ids(dirs: string[], o = shellInPod, extra?: Parameters<typeof loadRuleset>[0]['extraExceptions']): string[] {
  const r = loadRuleset({ dirs, extraExceptions: extra });
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return matchRules(r.ruleset, o).map((x) => x.id);
}

function problems(files: Record<string, string>): string[] {
  const r = loadRuleset({ dirs: [pack(files)] });
  return r.ok ? [] : r.problems.map(formatProblem);
}

t.test('a user pack disables a built-in rule by id, or replaces some of its keys', async (t) => {
  t.same(ids([]), ['process.terminal-shell-in-container']);
  t.same(ids([pack({ 'off.yaml': 'rules:\n  - { id: process.terminal-shell-in-container, enabled: false }\n' })]), []);
  const r = loadRuleset({ dirs: [pack({ 'sev.yaml': 'rules:\n  - id: process.terminal-shell-in-container\n    severity: critical\n    tags: [mine]\n' })] });
  t.ok(r.ok);
  if (!r.ok) return;
  const rule = r.ruleset.byId.get('process.terminal-shell-in-container')!;
  t.equal(rule.severity, 'critical', 'the key given is replaced');
  t.same(rule.tags, ['mine']);
  t.equal(rule.title, 'An interactive shell started in a container', 'the others are kept');
});

t.test('a user rule with its own list and macro', async (t) => {
  const dir = pack({
    'mine.yaml': [
      'lists:',
      '  debug_images: [debug:1, busybox:latest]',
      'macros:',
      '  debug_pod: container.image in debug_images',
      'rules:',
      '  - id: process.debug-image-shell',
      '    title: A shell in a debug image',
      '    source: process',
      "    condition: process.name in ['bash', 'sh'] && debug_pod",
      '    severity: info',
      '    output: "{process.name} in {where} ({container.image})"',
    ].join('\n'),
  });
  const r = loadRuleset({ dirs: [dir] });
  t.ok(r.ok);
  if (!r.ok) return;
  const m = matchRules(r.ruleset, shellInPod);
  t.same(m.map((x) => x.id), ['process.terminal-shell-in-container', 'process.debug-image-shell'], 'most severe first');
  t.equal(m[1]!.output(shellInPod), 'bash in kube-system/debug-1/debug (debug:1)');
});

t.test('exceptions relax a rule for matching field values; * is a glob', async (t) => {
  const dir = pack({
    'ex.yaml': [
      'rules:',
      '  - id: process.terminal-shell-in-container',
      '    exceptions:',
      '      - name: debug_pods',
      '        fields: [kubernetes.namespace, kubernetes.pod]',
      '        values: [[kube-system, "debug-*"], [monitoring, x]]',
    ].join('\n'),
  });
  t.same(ids([dir]), [], 'the pod matches debug-*');
  const other = obs({ ...shellInPod, kubernetes: { namespace: 'kube-system', pod: 'coredns-1', container: 'c' } } as Record<string, unknown>);
  t.same(ids([dir], other), ['process.terminal-shell-in-container'], 'another pod still fires');
});

t.test('the allow-list of older configurations becomes exceptions of the renamed rules', async (t) => {
  t.same(ids([], shellInPod, allowToExceptions([{ rule: 'exec-shell-in-container', namespace: 'kube-system', pod: 'debug-*' }])), []);
  t.same(ids([], shellInPod, allowToExceptions([{ rule: 'exec-shell-in-container', namespace: 'default' }])), ['process.terminal-shell-in-container']);
  t.same(ids([], shellInPod, allowToExceptions([{ namespace: 'kube-system' }])), [], 'no rule named: every rule');
  const r = loadRuleset({ dirs: [], extraExceptions: allowToExceptions([{ rule: 'exec-no-such-thing' }]) });
  t.notOk(r.ok, 'an allow entry naming an unknown rule is an error');
});

t.test('each load error names the file, the line, the rule and what is wrong', async (t) => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['bad YAML', { 'a.yaml': 'rules:\n  - id: process.x\n    title: [unclosed\n' }, /a\.yaml:\d+: YAML: /],
    ['unknown top-level key', { 'a.yaml': 'rulez: []\n' }, /a\.yaml:1: unknown top-level key rulez/],
    ['unknown field', { 'a.yaml': 'rules:\n  - id: process.x\n    titel: X\n' }, /a\.yaml:3: rule process\.x: unknown field titel/],
    ['bad rule id', { 'a.yaml': 'rules:\n  - id: Shell In Container\n' }, /a\.yaml:2: rule Shell In Container: id: a rule id is <source>\.<name>/],
    ['unknown macro or list', { 'a.yaml': rule('process.x', 'not_a_macro && process.tty') }, /a\.yaml:6: rule process\.x: condition: unknown macro or list not_a_macro/],
    ['CEL syntax error', { 'a.yaml': rule('process.x', 'process.name == ') }, /a\.yaml:6: rule process\.x: condition: .+/],
    ['CEL type error', { 'a.yaml': rule('process.x', "process.uid == 'root'") }, /a\.yaml:6: rule process\.x: condition: .*(overload|int|string)/i],
    ['unknown observation field', { 'a.yaml': rule('process.x', "process.exee == '/bin/sh'") }, /a\.yaml:6: rule process\.x: condition: .*exee/],
    ['not a boolean', { 'a.yaml': rule('process.x', 'process.name') }, /a\.yaml:6: rule process\.x: condition: .*not bool/],
    ['missing keys', { 'a.yaml': 'rules:\n  - id: process.x\n    title: X\n    source: process\n' }, /a\.yaml:2: rule process\.x: a rule needs condition, severity, output/],
    ['override of no rule', { 'a.yaml': 'rules:\n  - { id: process.no-such-rule, severity: high }\n' }, /no rule has this id to override/],
    ['twice in one file', { 'a.yaml': rule('process.x', 'process.tty') + rule('process.x', 'process.tty').replace('rules:\n', '') }, /rule process\.x: defined twice in this file/],
    ['exception on no field', { 'a.yaml': 'rules:\n  - id: process.shell-in-container\n    exceptions:\n      - { name: e, fields: [process.nope], values: [[x]] }\n' }, /a\.yaml:3: rule process\.shell-in-container: exception e: process\.nope is no field/],
    ['exception tuple of the wrong size', { 'a.yaml': 'rules:\n  - id: process.shell-in-container\n    exceptions:\n      - { name: e, fields: [process.exe, process.name], values: [[x]] }\n' }, /values\[0\] has 1 values for 2 fields/],
    ['template field', { 'a.yaml': rule('process.x', 'process.tty', '{process.nope} ran') }, /a\.yaml:7: rule process\.x: output: \{process\.nope\} is no field/],
    ['id of another source', { 'a.yaml': rule('runtime.x', 'process.tty') }, /rule runtime\.x: a process rule's id starts with "process\."/],
    ['a broken macro', { 'a.yaml': 'macros:\n  m: nope_nope && process.tty\n' }, /a\.yaml:2: macro m: unknown macro or list nope_nope/],
    ['a macro naming itself', { 'a.yaml': 'macros:\n  m: m && process.tty\n' + rule('process.x', 'm') }, /a macro that names itself/],
  ];
  for (const [what, files, re] of cases) {
    const got = problems(files);
    t.ok(got.some((p) => re.test(p)), `${what}: ${got.join(' | ') || 'no problem reported'}`);
  }
});

t.test('a missing rules folder is a problem, not a crash', async (t) => {
  const r = loadRuleset({ dirs: ['/nonexistent/rules'] });
  t.notOk(r.ok);
  if (!r.ok) t.match(formatProblem(r.problems[0]!), /\/nonexistent\/rules:0: cannot read the rules folder/);
});

t.test('a file with aliases that expand without bound is refused', async (t) => {
  const bomb = ['lists:', '  a: &a [x, x, x, x, x, x, x, x, x, x]', '  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', '  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', '  d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
  const got = problems({ 'bomb.yaml': bomb });
  t.ok(got.length > 0, got.join(' | '));
});

function rule(id: string, condition: string, output = '{process.name}'): string {
  return `rules:\n  - id: ${id}\n    title: T\n    source: process\n    severity: low\n    condition: "${condition.replace(/"/g, '\\"')}"\n    output: "${output}"\n`;
}

t.test('lists and macros defined again in a later pack replace the earlier ones', async (t) => {
  const dir = pack({ 'shells.yaml': 'lists:\n  shells: [bash, mysh]\n' });
  const mysh = obs({ ...shellInPod, process: { name: 'mysh', exe: '/bin/mysh', argv: ['mysh'], tty: true } } as Record<string, unknown>);
  t.same(ids([], mysh), []);
  t.same(ids([dir], mysh), ['process.terminal-shell-in-container']);
  mkdirSync(path.join(dir, 'sub'));
});

t.test('conditions the index, guards and rewrites must not change (found in review)', async (t) => {
  const named = (name: string, extra: Record<string, unknown> = {}) => obs({ process: { name, exe: '/x/' + name, argv: [name], args: '' }, ...extra });
  const cases: [string, string, ReturnType<typeof obs>, boolean][] = [
    ['an escape in a guarded literal', "process.name == '\\x41'", named('A'), true],
    ['an escape in a literal list', "process.name in ['\\u0041']", named('A'), true],
    ['a comment with a quote', "process.name == 'a' && inContainer // it's fine\n || process.name == 'b'", named('b'), true],
    ['a hex number', 'size(process.argv) < 0x10', named('a'), true],
    ['a number with an exponent', 'double(size(process.argv)) < 1e3', named('a'), true],
    ['a list name bound by a comprehension', '[process.argv].exists(shells, process.name in shells)', named('foo'), true],
    ['a list joined to another', "process.name in shells + ['mysh']", named('mysh'), true],
    ['a literal list of names', "process.name in ['a', 'b'] && !inContainer", named('b'), true],
    ['a literal list, not matching', "process.name in ['a', 'b']", named('c'), false],
  ];
  for (const [what, condition, o, want] of cases) {
    const dir = pack({ 'r.yaml': `rules:\n  - id: process.x\n    title: T\n    source: process\n    severity: low\n    output: x\n    condition: ${JSON.stringify(condition)}\n` });
    const r = loadRuleset({ dirs: [dir] });
    if (!r.ok) {
      t.fail(`${what}: ${r.problems.map(formatProblem).join(' | ')}`);
      continue;
    }
    const rule = r.ruleset.byId.get('process.x')!;
    t.equal(rule.test(r.ruleset.prepare('process', o)), want, `${what}: CEL says ${want}`);
    t.equal(matchRules(r.ruleset, o).some((m) => m.id === 'process.x'), want, `${what}: the index and guards agree`);
  }
});

t.test('more load errors: a bad pattern, a macro bomb, prototype names, names already taken', async (t) => {
  const bomb = ['macros:', '  m0: process.tty', ...Array.from({ length: 20 }, (_, i) => `  m${i + 1}: m${i} && m${i}`), 'rules:', '  - { id: process.x, title: T, source: process, severity: low, output: x, condition: m20 }'].join('\n');
  const t0 = Date.now();
  const cases: [string, Record<string, string>, RegExp][] = [
    ['a pattern that does not compile', { 'a.yaml': "rules:\n  - { id: process.x, title: T, source: process, severity: low, output: x, condition: \"process.args.matches('(')\" }\n" }, /rule process\.x: condition: matches\('\('\): not a valid pattern/],
    ['macros that double 20 times', { 'a.yaml': bomb }, /longer than 65536 characters/],
    ['a prototype name in a template', { 'a.yaml': "rules:\n  - { id: process.x, title: T, source: process, severity: low, output: '{hasOwnProperty} {__proto__}', condition: process.tty }\n" }, /output: \{hasOwnProperty\} is no field/],
    ['a list named like a field', { 'a.yaml': 'lists:\n  process: [a]\n' }, /a\.yaml:2: list process: the name is an observation field/],
    ['a macro named like a list', { 'a.yaml': 'macros:\n  shells: process.tty\n' }, /a\.yaml:2: macro shells: the name is already a list/],
    ['an internal name', { 'a.yaml': 'lists:\n  __set_x: [a]\n' }, /list __set_x: the name is reserved/],
  ];
  for (const [what, files, re] of cases) {
    const got = problems(files);
    t.ok(got.some((p) => re.test(p)), `${what}: ${got.join(' | ').slice(0, 400) || 'no problem reported'}`);
  }
  t.ok(Date.now() - t0 < 10_000, `all refused quickly (${Date.now() - t0} ms)`);
});

t.test('each: only a list the source has; element fields only in rules that iterate', async (t) => {
  const rule = (extra: string) => `rules:\n  - { id: runtime.mine, title: x, source: runtime, severity: low, output: "{mount.source}", ${extra} }\n`;
  t.same(problems({ 'a.yaml': rule('each: mounts, condition: "mount.readonly"') }), []);
  t.match(problems({ 'b.yaml': rule('each: volumes, condition: "true"') })[0], /b\.yaml:2: rule runtime\.mine: each: volumes is no list a runtime rule can iterate \(mounts\)/);
  t.match(problems({ 'c.yaml': rule('condition: "mount.readonly"') }).join('\n'), /c\.yaml:2: rule runtime\.mine: condition: mount is only set in a rule with each: mounts/);
  t.match(problems({ 'd.yaml': rule('condition: "true"') }).join('\n'), /output: \{mount\.source\} is no field/);
  t.match(problems({ 'e.yaml': 'rules:\n  - { id: process.mine, title: x, source: process, severity: low, output: x, each: mounts, condition: "true" }\n' }).join('\n'), /each: mounts is no list a process rule can iterate/);
  t.match(problems({ 'f.yaml': 'rules:\n  - { id: runtime.mine, title: x, source: runtime, severity: low, output: x, evidence: "{runtime.nope}", condition: "true" }\n' }).join('\n'), /evidence: \{runtime\.nope\} is no field/);
  t.match(problems({ 'g.yaml': 'rules:\n  - { id: runtime.mine, title: x, source: runtime, severity: low, output: "{runtime.name:octal}", condition: "true" }\n' }).join('\n'), /\{runtime\.name:octal\} is for int fields/);
});
