// Reading rule pack files: YAML with three top-level keys, `lists`, `macros` and `rules`, checked
// field by field, every problem reported with its file and line (and rule id where there is one).
// This file only parses and checks shapes; rules/ruleset.ts merges packs and compiles conditions.
//
//   lists:  { shells: [sh, bash] }                 names → lists of strings
//   macros: { in_container: "inContainer && !container.init" }   names → CEL fragments
//   rules:  [ { id, title, description, source, condition, severity, output, tags, mitre, cis,
//               remediation, enabled, exceptions, maxPerMinute } ]

import { readFileSync, statSync } from 'node:fs';
import { type Document, LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';
import { z } from 'zod';

/** A pack file larger than this is refused: rules are text, not data dumps. */
export const MAX_PACK_BYTES = 4 * 1024 * 1024;

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type RuleSeverity = (typeof SEVERITIES)[number];
/** The observation sources rules can be written for today. */
export const RULE_SOURCES = ['process', 'runtime', 'posture', 'kube'] as const;
export type RuleSource = (typeof RULE_SOURCES)[number];

/**
 * Rule ids: `<source>.<name>`, the name lower-case letters, digits, dots and dashes. Ids are a
 * public contract: exceptions and overrides name them, Alertmanager's alertname and SIEM rule
 * ids carry them.
 */
export const RULE_ID = /^(process|runtime|posture|agent|kube)\.[a-z0-9][a-z0-9.-]{0,126}$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface Problem {
  file: string;
  line: number;
  ruleId?: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}: ${p.ruleId ? `rule ${p.ruleId}: ` : ''}${p.message}`;
}

const exceptionSchema = z.strictObject({
  name: z.string().regex(NAME, 'an exception name is a letter or _ then letters, digits or _'),
  /** Observation fields compared, e.g. [kubernetes.namespace, container.image]. */
  fields: z.array(z.string().min(1)).min(1).max(8),
  /** Tuples of values, one per field; a value may hold * (any run of characters). */
  values: z.array(z.array(z.string().max(1024)).min(1).max(8)).max(10_000),
});
export type ExceptionDef = z.infer<typeof exceptionSchema>;

const ruleSchema = z.strictObject({
  id: z.string().regex(RULE_ID, 'a rule id is <source>.<name>: source one of process, runtime, posture, agent, kube; name of a-z, 0-9, dots and dashes'),
  title: z.string().min(1).max(200).optional(),
  description: z.string().max(4000).optional(),
  source: z.enum(RULE_SOURCES).optional(),
  condition: z.string().min(1).max(16_384).optional(),
  severity: z.enum(SEVERITIES).optional(),
  output: z.string().min(1).max(2000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  mitre: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'an ATT&CK id looks like T1059 or T1059.004')).max(16).optional(),
  cis: z.string().regex(/^\d+(\.\d+)*$/, 'a CIS id looks like 4.1.1').optional(),
  remediation: z.string().max(4000).optional(),
  /** State rules: what was found, and what is expected instead (templates like output). */
  evidence: z.string().max(4000).optional(),
  expected: z.string().max(4000).optional(),
  /** Evaluate once per element of this list field (e.g. mounts); each match is a finding of its own. */
  each: z.string().regex(/^[a-z][A-Za-z]*$/, 'a list field of the observation, like mounts').optional(),
  enabled: z.boolean().optional(),
  exceptions: z.array(exceptionSchema).max(64).optional(),
  /** Findings of this rule per minute before the rest are counted instead of sent. */
  maxPerMinute: z.number().int().min(1).max(1_000_000).optional(),
});
export type RuleEntry = z.infer<typeof ruleSchema>;

export interface Located<T> {
  value: T;
  file: string;
  line: number;
  /** Line of each key of the entry, for errors about one field. */
  keyLines: Record<string, number>;
}

export interface PackFile {
  file: string;
  lists: { name: string; items: string[]; file: string; line: number }[];
  macros: { name: string; condition: string; file: string; line: number }[];
  rules: Located<RuleEntry>[];
}

/** Parse one pack file; problems are appended to `problems` and what is valid is returned. */
export function readPack(file: string, problems: Problem[]): PackFile | null {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_PACK_BYTES) throw new Error(`${st.size} bytes, more than the ${MAX_PACK_BYTES} a pack may have`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, line: 0, message: `cannot read the file: ${(err as Error).message}` });
    return null;
  }
  return parsePack(file, text, problems);
}

/**
 * A node as plain data, aliases and merge keys resolved (bounded, so a billion-laughs file is
 * refused); a value that cannot be made into data is returned as the error, which the schemas
 * then refuse with a message.
 */
export function toJs(doc: Document, node: Node | null | undefined): unknown {
  if (node === null || node === undefined) return null;
  try {
    return node.toJS(doc, { maxAliasCount: 1000 });
  } catch (err) {
    return new Error((err as Error).message);
  }
}

export function parsePack(file: string, text: string, problems: Problem[]): PackFile | null {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, merge: true });
  const lineOf = (n: Node | null | undefined): number => (n?.range ? lc.linePos(n.range[0]).line : 0);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push({ file, line: e.linePos?.[0]?.line ?? 0, message: `YAML: ${e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}` });
    return null;
  }
  const out: PackFile = { file, lists: [], macros: [], rules: [] };
  const root = doc.contents;
  if (root === null) return out; // an empty file is an empty pack
  if (!isMap(root)) {
    problems.push({ file, line: lineOf(root), message: 'a pack is a mapping with the keys lists, macros and rules' });
    return null;
  }
  for (const pair of root.items) {
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    const keyLine = lineOf(pair.key as Node);
    const value = pair.value as Node | null;
    if (key === 'lists') {
      if (value === null) continue;
      if (!isMap(value)) {
        problems.push({ file, line: keyLine, message: 'lists: a mapping of list names to lists of strings' });
        continue;
      }
      for (const item of value.items) {
        const name = String((item.key as { value?: unknown }).value);
        const line = lineOf(item.key as Node);
        const items = toJs(doc, item.value as Node | null);
        if (!NAME.test(name)) problems.push({ file, line, message: `list ${name}: a name is a letter or _ then letters, digits or _` });
        else if (!Array.isArray(items) || !items.every((s) => typeof s === 'string' || typeof s === 'number')) problems.push({ file, line, message: `list ${name}: items must be strings` });
        else if (items.length > 10_000) problems.push({ file, line, message: `list ${name}: ${items.length} items, more than 10,000` });
        else out.lists.push({ name, items: items.map(String), file, line });
      }
    } else if (key === 'macros') {
      if (value === null) continue;
      if (!isMap(value)) {
        problems.push({ file, line: keyLine, message: 'macros: a mapping of macro names to CEL conditions' });
        continue;
      }
      for (const item of value.items) {
        const name = String((item.key as { value?: unknown }).value);
        const line = lineOf(item.key as Node);
        const cond = toJs(doc, item.value as Node | null);
        if (!NAME.test(name)) problems.push({ file, line, message: `macro ${name}: a name is a letter or _ then letters, digits or _` });
        else if (typeof cond !== 'string' || cond.trim() === '') problems.push({ file, line, message: `macro ${name}: its value is a CEL condition (a string)` });
        else out.macros.push({ name, condition: cond, file, line });
      }
    } else if (key === 'rules') {
      if (value === null) continue;
      if (!isSeq(value)) {
        problems.push({ file, line: keyLine, message: 'rules: a list of rules' });
        continue;
      }
      for (const node of value.items as Node[]) {
        const line = lineOf(node);
        const raw = toJs(doc, node);
        const id = typeof (raw as { id?: unknown } | null)?.id === 'string' ? (raw as { id: string }).id : undefined;
        const keyLines: Record<string, number> = {};
        if (isMap(node)) for (const p of node.items) keyLines[String((p.key as { value?: unknown }).value)] = lineOf(p.key as Node);
        const r = ruleSchema.safeParse(raw);
        if (!r.success) {
          for (const issue of r.error.issues) {
            const field = issue.path[0];
            const where = field !== undefined ? keyLines[String(field)] ?? line : line;
            if (issue.code === 'unrecognized_keys' && issue.path.length === 0) {
              for (const k of issue.keys) problems.push({ file, line: keyLines[k] ?? line, ruleId: id, message: `unknown field ${k}` });
            } else {
              problems.push({ file, line: where, ruleId: id, message: `${issue.path.join('.') || 'the rule'}: ${issue.message}` });
            }
          }
          continue;
        }
        out.rules.push({ value: r.data, file, line, keyLines });
      }
    } else {
      problems.push({ file, line: keyLine, message: `unknown top-level key ${key} (a pack has lists, macros and rules)` });
    }
  }
  return out;
}
