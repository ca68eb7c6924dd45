// A ruleset: the built-in packs and the user's, merged and compiled. Packs are read in order
// (built-in folder, then each user folder; files by name). A list or macro defined again replaces
// the earlier one; a rule whose id was defined in an earlier file is an override: the keys it
// gives replace those of the earlier rule (`{id: X, enabled: false}` disables X). Every problem is
// collected with its file, line and rule id; a ruleset with problems is not used.

import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExceptionDef, type PackFile, type Problem, type RuleEntry, type RuleSeverity, SEVERITIES, readPack } from './pack.js';
import { EACH_FIELDS, type Field, FIELDS_BY_SOURCE } from './schema.js';
import { conjuncts, disjuncts, expand, unwrap } from './expand.js';
import { type CompiledException, type Template, compileException, compileTemplate } from './fields.js';
import { type ConditionCompiler, CelConditionCompiler, regex } from './cel.js';
import { type Guard, guardsOf } from './guard.js';
import { LAZY_FIELDS } from './schema.js';

/** Words CEL gives a meaning, or reserves: no list or macro may be called so. */
const RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while', 'int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'type', 'dyn', 'has', 'size', 'matches', 'timestamp', 'duration']);

/** The built-in packs, shipped beside the code (rules/packs/ in the source tree and the image). */
export const BUILTIN_DIR = fileURLToPath(new URL('../../rules/packs/', import.meta.url));
/** Findings per rule per minute unless a rule says otherwise. */
export const DEFAULT_MAX_PER_MINUTE = 600;
const MAX_FILES = 1000;

export interface CompiledRule {
  id: string;
  title: string;
  description: string;
  source: string;
  severity: RuleSeverity;
  /** 0 (info) … 4 (critical). */
  rank: number;
  output: Template;
  tags: string[];
  mitre: string[];
  cis?: string;
  remediation: Template;
  /** State rules: what was found and what is expected (templates; empty when the pack gives none). */
  evidence: Template | null;
  expected: Template | null;
  /** Evaluated once per element of a list field: the list, and the name its element has in the condition. */
  each: { list: string; as: string } | null;
  exceptions: CompiledException[];
  maxPerMinute: number;
  /** The condition with macros expanded, as compiled. */
  condition: string;
  test: (obs: object) => boolean;
  /** Where it was defined (and overridden last). */
  file: string;
  line: number;
  /** Position in load order. */
  seq: number;
  /** Plain pre-checks implied by the condition: when one fails, the rule cannot match. */
  guards: Guard[];
  /** Names of `process.name` the rule needs (one of them), when its condition says so: an index. */
  names: Set<string> | null;
}

export interface Ruleset {
  /** Enabled rules, in load order. */
  rules: CompiledRule[];
  byId: Map<string, CompiledRule>;
  /** Rule ids disabled by a pack. */
  disabled: string[];
  files: string[];
  /** The activation conditions read, made once per observation. */
  prepare(source: string, obs: object): object;
  /** Per source: rules indexed by process name, and those every observation needs. */
  index: Map<string, { byName: Map<string, CompiledRule[]>; always: CompiledRule[] }>;
}

export interface LoadOptions {
  /** Default BUILTIN_DIR; tests point it elsewhere. */
  builtinDir?: string;
  /** User folders (config rules.dirs and --rules), in order. */
  dirs: string[];
  /** Extra exceptions from configuration, by rule id (`process.*` for every rule of a source, `*` for every rule). */
  extraExceptions?: { rule: string; exception: ExceptionDef }[];
  /** Lists set by configuration (older collector settings): they replace the packs' lists of the same name. */
  listOverrides?: ReadonlyMap<string, string[]>;
  compiler?: ConditionCompiler;
}

export type LoadResult = { ok: true; ruleset: Ruleset } | { ok: false; problems: Problem[] };

/** The pack files of a folder: *.yaml and *.yml, by name; a missing folder is a problem. */
export function packFiles(dir: string, problems: Problem[]): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir);
  } catch (err) {
    problems.push({ file: dir, line: 0, message: `cannot read the rules folder: ${(err as Error).message}` });
    return [];
  }
  const files = names.filter((n) => /\.ya?ml$/.test(n) && !n.endsWith('.tests.yaml') && !n.endsWith('.tests.yml')).sort().map((n) => path.join(dir, n));
  if (files.length > MAX_FILES) {
    problems.push({ file: dir, line: 0, message: `${files.length} pack files, more than ${MAX_FILES}` });
    return files.slice(0, MAX_FILES);
  }
  return files;
}

export function loadRuleset(opts: LoadOptions): LoadResult {
  const problems: Problem[] = [];
  const packs: PackFile[] = [];
  for (const dir of [opts.builtinDir ?? BUILTIN_DIR, ...opts.dirs]) {
    for (const file of packFiles(dir, problems)) {
      const p = readPack(file, problems);
      if (p) packs.push(p);
    }
  }
  if (opts.listOverrides && opts.listOverrides.size > 0) {
    packs.push({ file: '(configuration)', lists: [...opts.listOverrides].map(([name, items]) => ({ name, items, file: '(configuration)', line: 0 })), macros: [], rules: [] });
  }
  const ruleset = buildRuleset(packs, opts.compiler ?? new CelConditionCompiler(), problems, opts.extraExceptions ?? []);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, ruleset };
}

interface Merged {
  entry: RuleEntry;
  file: string;
  line: number;
  /** Line of each key, in the file that gave it last. */
  keyLines: Record<string, { file: string; line: number }>;
}

const REQUIRED = ['title', 'source', 'condition', 'severity', 'output'] as const;

export function buildRuleset(packs: PackFile[], compiler: ConditionCompiler, problems: Problem[], extraExceptions: { rule: string; exception: ExceptionDef }[] = []): Ruleset {
  const lists = new Map<string, string[]>();
  const macros = new Map<string, { condition: string; file: string; line: number }>();
  const merged = new Map<string, Merged>();
  // A list or macro may not take a name conditions already give a meaning (a field, a CEL word,
  // our internal names), nor be both a list and a macro: said where it is defined.
  const fieldNames = new Set(Object.values(FIELDS_BY_SOURCE).flatMap((f) => Object.keys(f)));
  const taken = (name: string, file: string, line: number, what: string, other: ReadonlyMap<string, unknown>): boolean => {
    const why = fieldNames.has(name) ? 'an observation field' : RESERVED.has(name) ? 'a CEL word' : name.startsWith('__') ? 'reserved (names starting with __ are internal)' : other.has(name) ? `already a ${what === 'list' ? 'macro' : 'list'}` : null;
    if (why) problems.push({ file, line, message: `${what} ${name}: the name is ${why}` });
    return why !== null;
  };
  for (const p of packs) {
    for (const l of p.lists) if (!taken(l.name, p.file, l.line, 'list', macros)) lists.set(l.name, l.items);
    for (const m of p.macros) if (!taken(m.name, p.file, m.line, 'macro', lists)) macros.set(m.name, m);
    const seenHere = new Set<string>();
    for (const r of p.rules) {
      const id = r.value.id;
      if (seenHere.has(id)) {
        problems.push({ file: p.file, line: r.line, ruleId: id, message: 'defined twice in this file' });
        continue;
      }
      seenHere.add(id);
      const keyLines = Object.fromEntries(Object.entries(r.keyLines).map(([k, line]) => [k, { file: p.file, line }]));
      const prev = merged.get(id);
      if (prev) {
        prev.entry = { ...prev.entry, ...r.value };
        Object.assign(prev.keyLines, keyLines);
        prev.file = p.file;
        prev.line = r.line;
      } else {
        merged.set(id, { entry: { ...r.value }, file: p.file, line: r.line, keyLines });
      }
    }
  }
  const rules: CompiledRule[] = [];
  const disabled: string[] = [];
  const macroText = new Map([...macros].map(([k, v]) => [k, v.condition]));
  const listNames = new Set(lists.keys());
  compiler.setLists(lists);
  // Macros are checked on their own too, so a broken one is named even when no rule uses it.
  const memo = new Map<string, ReturnType<typeof expand>>();
  // A macro may serve any source: a name is unknown only when no source has such a field.
  const allFields = new Set(Object.values(FIELDS_BY_SOURCE).flatMap((f) => Object.keys(f)));
  const macroMemo = new Map<string, ReturnType<typeof expand>>();
  for (const [name, m] of macros) {
    const x = expand(m.condition, macroText, listNames, allFields, [name], macroMemo);
    if (x.unknown.length > 0) problems.push({ file: m.file, line: m.line, message: `macro ${name}: ${unknownMessage(x.unknown)}` });
  }
  for (const [id, m] of merged) {
    const e = m.entry;
    const at = (key: string) => m.keyLines[key] ?? { file: m.file, line: m.line };
    const missing = REQUIRED.filter((k) => e[k] === undefined);
    if (missing.length > 0) {
      // Neither a title nor a condition: meant as an override, of a rule no pack defines.
      const overrideOnly = e.title === undefined && e.condition === undefined;
      problems.push({
        file: m.file, line: m.line, ruleId: id,
        message: overrideOnly
          ? `no rule has this id to override, and as a new rule it lacks ${missing.join(', ')}`
          : `a rule needs ${missing.join(', ')}`,
      });
      continue;
    }
    if (e.enabled === false) {
      disabled.push(id);
      continue;
    }
    if (!id.startsWith(`${e.source}.`)) {
      problems.push({ ...at('id'), ruleId: id, message: `a ${e.source} rule's id starts with "${e.source}."` });
      continue;
    }
    // Element fields (mount) exist only in rules that iterate their list (each: mounts).
    const eachOf = EACH_FIELDS[e.source!] ?? {};
    if (e.each !== undefined && !Object.hasOwn(eachOf, e.each)) {
      const lists = Object.keys(eachOf);
      problems.push({ ...at('each'), ruleId: id, message: `each: ${e.each} is no list a ${e.source} rule can iterate${lists.length ? ` (${lists.join(', ')})` : ''}` });
      continue;
    }
    const hidden = new Set(Object.entries(eachOf).filter(([list]) => list !== e.each).map(([, as]) => as));
    const fields: Record<string, Field> = Object.fromEntries(Object.entries(FIELDS_BY_SOURCE[e.source!]!).filter(([k]) => !hidden.has(k)));
    const local: string[] = [];
    const output = compileTemplate(e.output!, fields, local);
    const remediation = compileTemplate(e.remediation ?? '', fields, local, 'remediation');
    const evidence = e.evidence === undefined ? null : compileTemplate(e.evidence, fields, local, 'evidence');
    const expected = e.expected === undefined ? null : compileTemplate(e.expected, fields, local, 'expected');
    const exceptions = (e.exceptions ?? []).map((x) => compileException(x, fields, local));
    for (const x of extraExceptions) if (appliesTo(x.rule, id)) exceptions.push(compileException(x.exception, fields, local));
    for (const msg of local) problems.push({ ...at(/^(output|evidence|expected|remediation)\b/.exec(msg)?.[1] ?? 'exceptions'), ruleId: id, message: msg });
    const x = expand(e.condition!, macroText, listNames, new Set(Object.keys(fields)), [], e.source === 'process' ? memo : undefined);
    if (x.unknown.length > 0) {
      const element = x.unknown.filter((u) => hidden.has(u));
      problems.push({
        ...at('condition'), ruleId: id,
        message: element.length > 0
          ? `condition: ${element.join(', ')} is only set in a rule with each: ${Object.entries(eachOf).find(([, as]) => as === element[0])?.[0]}`
          : `condition: ${unknownMessage(x.unknown)} (fields are ${Object.keys(fields).join(', ')})`,
      });
      continue;
    }
    let test: (obs: object) => boolean;
    try {
      test = compiler.compile(e.source!, x.text);
    } catch (err) {
      problems.push({ ...at('condition'), ruleId: id, message: `condition: ${(err as Error).message}` });
      continue;
    }
    if (local.length > 0) continue;
    rules.push({
      id, title: e.title!, description: e.description ?? '', source: e.source!, severity: e.severity!,
      rank: SEVERITIES.indexOf(e.severity!), output, tags: e.tags ?? [], mitre: e.mitre ?? [], cis: e.cis,
      remediation, evidence, expected,
      each: e.each === undefined ? null : { list: e.each, as: eachOf[e.each]! }, exceptions, maxPerMinute: e.maxPerMinute ?? DEFAULT_MAX_PER_MINUTE,
      condition: x.text, test, file: m.file, line: m.line, seq: rules.length, names: nameIndex(x.text, lists),
      guards: guardsOf(x.text, { fields, lists, lazy: LAZY_FIELDS, regex }),
    });
  }
  for (const x of extraExceptions) {
    if (!x.rule.endsWith('*') && !merged.has(x.rule)) problems.push({ file: '(configuration)', line: 0, ruleId: x.rule, message: `an exception names rule ${x.rule}, which no pack defines` });
  }
  const index = new Map<string, { byName: Map<string, CompiledRule[]>; always: CompiledRule[] }>();
  for (const r of rules) {
    let ix = index.get(r.source);
    if (!ix) index.set(r.source, (ix = { byName: new Map(), always: [] }));
    if (!r.names) ix.always.push(r);
    else for (const n of r.names) ix.byName.set(n, [...(ix.byName.get(n) ?? []), r]);
  }
  return { rules, byId: new Map(rules.map((r) => [r.id, r])), disabled, files: packs.map((p) => p.file), index, prepare: (source, obs) => compiler.prepare(source, obs) };
}

/** An extra exception's rule: an id, `SOURCE.*` (every rule of a source) or `*` (every rule). */
function appliesTo(pattern: string, id: string): boolean {
  return pattern === id || pattern === '*' || (pattern.endsWith('.*') && id.startsWith(pattern.slice(0, -1)));
}

/** What expand() could not place: names nobody defines, and limits passed (in parentheses). */
function unknownMessage(unknown: string[]): string {
  const names = unknown.filter((u) => !u.startsWith('('));
  const limits = unknown.filter((u) => u.startsWith('(')).map((u) => u.slice(1, -1));
  return [...(names.length ? [`unknown macro or list ${names.join(', ')}`] : []), ...limits].join('; ');
}

/**
 * The process names a condition requires: `process.name in LIST`, `process.name in [literals]`
 * or `process.name == 'x'` as one of its top-level conjuncts, or a disjunction whose every branch
 * requires names (their union). Such a rule can only match execs of those names and is not
 * evaluated for others. Anything less plain gives null (always evaluated): never wrong, only slower.
 */
function nameIndex(condition: string, lists: ReadonlyMap<string, string[]>, depth = 0): Set<string> | null {
  if (depth > 16) return null;
  const part = unwrap(condition);
  const and = conjuncts(part);
  if (and.length > 1) {
    for (const c of and) {
      const n = nameIndex(c, lists, depth + 1);
      if (n) return n;
    }
    return null;
  }
  const or = disjuncts(part);
  if (or.length > 1) {
    const all = new Set<string>();
    for (const d of or) {
      const n = nameIndex(d, lists, depth + 1);
      if (!n) return null;
      for (const x of n) all.add(x);
    }
    return all;
  }
  let m = /^process\.name\s+in\s+([A-Za-z_][A-Za-z0-9_]*)$/.exec(part);
  if (m && lists.has(m[1]!)) return new Set(lists.get(m[1]!));
  m = /^process\.name\s+in\s+\[((?:\s*'[^'\\]*'\s*,?)*)\]$/.exec(part);
  if (m) return new Set([...m[1]!.matchAll(/'([^'\\]*)'/g)].map((x) => x[1]!));
  m = /^process\.name\s*==\s*'([^'\\]*)'$/.exec(part);
  if (m) return new Set([m[1]!]);
  return null;
}

export interface MatchHooks {
  /** The condition held (before exceptions). */
  matched?: (r: CompiledRule) => void;
  /** It held, and an exception relaxed it. */
  excepted?: (r: CompiledRule) => void;
  /** The condition failed to evaluate (counts as no match). */
  failed?: (r: CompiledRule, err: unknown) => void;
}

/**
 * The rules an observation matches, exceptions applied, most severe first (ties in load order).
 * Only rules whose name index admits the observation's process name are evaluated.
 */
export function matchRules(rs: Ruleset, obs: { kind: string; process: { name: string } }, hooks: MatchHooks = {}): CompiledRule[] {
  const source = obs.kind === 'exec' ? 'process' : obs.kind;
  const ix = rs.index.get(source);
  if (!ix) return [];
  const named = ix.byName.get(obs.process.name);
  const out: CompiledRule[] = [];
  // The CEL activation is made only when a rule gets past its guards (most execs: never).
  let act: object | null = null;
  const consider = (r: CompiledRule) => {
    for (const g of r.guards) if (!g(obs)) return;
    let hit: boolean;
    try {
      hit = r.test((act ??= rs.prepare(source, obs)));
    } catch (err) {
      hooks.failed?.(r, err);
      return;
    }
    if (!hit) return;
    hooks.matched?.(r);
    if (r.exceptions.length > 0 && r.exceptions.some((x) => x.matches(obs))) {
      hooks.excepted?.(r);
      return;
    }
    out.push(r);
  };
  if (named) {
    let i = 0;
    for (const r of ix.always) {
      while (i < named.length && named[i]!.seq < r.seq) consider(named[i++]!);
      consider(r);
    }
    while (i < named.length) consider(named[i++]!);
  } else {
    for (const r of ix.always) consider(r);
  }
  return out.length > 1 ? out.sort((a, b) => b.rank - a.rank || a.seq - b.seq) : out;
}
