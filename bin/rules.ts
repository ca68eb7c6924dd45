// `nodewarden rules`: check rule packs before they reach a node, list what a ruleset holds, and
// run rule test files (observations in, fired rules out). Exit codes: 0 fine, 1 problems or
// failed cases, 2 bad usage.

import { Command } from 'commander';
import { formatProblem, type Problem } from '../rules/pack.js';
import { loadRuleset } from '../rules/ruleset.js';
import { readCases, runCases } from '../rules/testing.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function rulesCommand(): Command {
  const rules = new Command('rules').description('validate, list and test rule packs (YAML with CEL conditions)');

  rules.command('validate')
    .description('load the built-in packs and the packs in each DIR, and report every problem with its file and line')
    .argument('[dirs...]', 'folders of user packs, in the order the agent reads them')
    .action((dirs: string[]) => {
      const r = loadRuleset({ dirs });
      if (!r.ok) {
        for (const p of r.problems) print(formatProblem(p));
        print(`${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; the agent would refuse these rules.`);
        process.exitCode = 1;
        return;
      }
      print(`ok: ${r.ruleset.rules.length} rules enabled, ${r.ruleset.disabled.length} disabled, from ${r.ruleset.files.length} files.`);
    });

  rules.command('list')
    .description('list the rules in use: id, severity, source and title')
    .option('--rules <dir>', 'a folder of user packs (repeatable)', collect, [])
    .option('--json', 'one JSON object per rule')
    .action((flags: { rules: string[]; json?: boolean }) => {
      const r = loadRuleset({ dirs: flags.rules });
      if (!r.ok) {
        for (const p of r.problems) print(formatProblem(p));
        process.exitCode = 1;
        return;
      }
      for (const rule of r.ruleset.rules) {
        if (flags.json) print(JSON.stringify({ id: rule.id, severity: rule.severity, source: rule.source, title: rule.title, mitre: rule.mitre, tags: rule.tags, file: rule.file }));
        else print(`${rule.id.padEnd(52)} ${rule.severity.padEnd(8)} ${rule.title}`);
      }
      if (!flags.json && r.ruleset.disabled.length > 0) print(`disabled: ${r.ruleset.disabled.join(', ')}`);
    });

  rules.command('test')
    .description('run rule test files: each case is an observation and the exact set of rules it must fire')
    .argument('<files...>', 'test files (YAML with cases: [{name, observation, expect, notExpect}])')
    .option('--rules <dir>', 'a folder of user packs to test with the built-in ones (repeatable)', collect, [])
    .action((files: string[], flags: { rules: string[] }) => {
      const r = loadRuleset({ dirs: flags.rules });
      if (!r.ok) {
        for (const p of r.problems) print(formatProblem(p));
        process.exitCode = 1;
        return;
      }
      const problems: Problem[] = [];
      const cases = files.flatMap((f) => readCases(f, problems));
      for (const p of problems) print(formatProblem(p));
      const results = runCases(r.ruleset, cases);
      let failed = 0;
      for (const res of results) {
        if (res.ok) continue;
        failed++;
        print(`FAIL ${res.case.file}:${res.case.line}: ${res.case.name}: ${res.detail} (fired: ${res.got.join(', ') || 'nothing'})`);
      }
      print(`${results.length - failed} of ${results.length} cases passed${problems.length ? `; ${problems.length} problems in the files` : ''}.`);
      if (failed > 0 || problems.length > 0) process.exitCode = 1;
    });

  return rules;
}
