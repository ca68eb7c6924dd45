// Rule test files: recorded (or written) observations in, the rules that must fire out. A user's
// unit test for their own rules (`nodewarden rules test FILE`), and how every built-in rule proves
// it fires when it should and stays quiet when it should not (rules/packs/*.tests.yaml, run in CI).
//
//   cases:
//     - name: an interactive shell in a pod
//       observation: { process: { name: bash, tty: true }, inContainer: true }   # the rest empty
//       expect: [process.terminal-shell-in-container]   # exactly these rules match
//       notExpect: [process.shell-in-container]         # optional: a near miss, named

import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import { z } from 'zod';
import { completeObservation } from './complete.js';
import { FIELDS_BY_SOURCE } from './schema.js';
import { type Problem, MAX_PACK_BYTES, toJs } from './pack.js';
import { type Ruleset, matchRules } from './ruleset.js';
import { matchState } from './state.js';
import type { StateObservation } from '../core/observation.js';

const caseSchema = z.strictObject({
  name: z.string().min(1).max(200),
  source: z.enum(['process', 'runtime', 'posture', 'kube']).default('process'),
  observation: z.record(z.string(), z.unknown()),
  expect: z.array(z.string()).max(100),
  notExpect: z.array(z.string()).max(100).default([]),
});

export interface RuleCase {
  name: string;
  source: string;
  observation: Record<string, unknown>;
  expect: string[];
  notExpect: string[];
  file: string;
  line: number;
}

export interface CaseResult {
  case: RuleCase;
  ok: boolean;
  got: string[];
  /** What was wrong, when not ok. */
  detail: string;
}

/** Read a test file; problems (with lines) are appended, valid cases returned. */
export function readCases(file: string, problems: Problem[]): RuleCase[] {
  let text: string;
  try {
    const st = statSync(file);
    if (st.size > MAX_PACK_BYTES) throw new Error(`${st.size} bytes, more than ${MAX_PACK_BYTES}`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, line: 0, message: `cannot read the file: ${(err as Error).message}` });
    return [];
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push({ file, line: e.linePos?.[0]?.line ?? 0, message: `YAML: ${e.message.split('\n')[0]}` });
    return [];
  }
  const root = doc.contents;
  const cases = isMap(root) ? root.get('cases', true) : null;
  if (!isMap(root) || !isSeq(cases) || root.items.length !== 1) {
    problems.push({ file, line: 1, message: 'a test file is a mapping with one key, cases: a list of {name, observation, expect}' });
    return [];
  }
  const out: RuleCase[] = [];
  for (const node of cases.items as Node[]) {
    const line = node?.range ? lc.linePos(node.range[0]).line : 0;
    const raw = toJs(doc, node);
    if (raw instanceof Error) {
      problems.push({ file, line, message: `case: ${raw.message}` });
      continue;
    }
    const r = caseSchema.safeParse(raw);
    if (!r.success) {
      for (const i of r.error.issues) problems.push({ file, line, message: `case: ${i.path.join('.') || '(case)'}: ${i.message}` });
      continue;
    }
    const filled = completeObservation(r.data.observation, FIELDS_BY_SOURCE[r.data.source]!);
    if (filled.problems.length > 0) {
      for (const p of filled.problems) problems.push({ file, line, message: `case ${r.data.name}: observation.${p}` });
      continue;
    }
    const kind = r.data.source === 'process' ? 'exec' : r.data.source;
    out.push({ ...r.data, observation: { kind, ...(kind === 'exec' ? {} : { key: 'test' }), ...filled.value }, file, line });
  }
  return out;
}

/** Run cases against a ruleset. */
export function runCases(rs: Ruleset, cases: RuleCase[]): CaseResult[] {
  return cases.map((c) => {
    let got: string[];
    try {
      const hooks = {
        failed: (r: { id: string }, err: unknown) => {
          throw new Error(`rule ${r.id} failed to evaluate: ${(err as Error).message}`);
        },
      };
      got = c.source === 'process'
        ? matchRules(rs, c.observation as { kind: string; process: { name: string } }, hooks).map((r) => r.id)
        // A state rule may hold for several elements (mounts): it fired, once.
        : [...new Set(matchState(rs, c.observation as unknown as StateObservation, hooks).map((m) => m.rule.id))];
    } catch (err) {
      return { case: c, ok: false, got: [], detail: (err as Error).message };
    }
    const want = new Set(c.expect);
    const missing = c.expect.filter((id) => !got.includes(id));
    const extra = got.filter((id) => !want.has(id));
    const forbidden = c.notExpect.filter((id) => got.includes(id));
    const ok = missing.length === 0 && extra.length === 0 && forbidden.length === 0;
    const detail = ok ? '' : [
      missing.length ? `did not fire: ${missing.join(', ')}` : '',
      extra.length ? `fired too: ${extra.join(', ')}` : '',
    ].filter(Boolean).join('; ');
    return { case: c, ok, got, detail };
  });
}
