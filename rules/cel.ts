// Conditions in CEL, through @marcbachmann/cel-js (why this library: README.md, "Rules"). Each
// ruleset gets its own environment: the observation's types (from rules/schema.ts) as CEL types,
// so a condition is type-checked when it loads (`process.uid == 'root'` and `process.exee` are
// load errors, not silent non-matches); each pack list as a constant; `x in LIST` and
// `x in ['a', 'b']` as set look-ups instead of list scans.
//
// cel-js represents CEL ints as BigInt. Observations keep plain numbers; the views below turn a
// field into a BigInt only when a condition reads it, and read the collector's lazy fields
// (container.init, container.drift, ancestors) only then too.

import { Environment } from '@marcbachmann/cel-js';
import { type Field, type FieldType, FIELDS_BY_SOURCE } from './schema.js';
import { boundNames, tokenize } from './expand.js';
import { type Pattern, compilePattern } from './regex.js';
import { globToRegExp } from './fields.js';

export interface ConditionCompiler {
  /** The lists conditions may name (call before compile). */
  setLists(lists: ReadonlyMap<string, string[]>): void;
  /** Check and compile; throws an Error whose message says what is wrong and where. */
  compile(source: string, text: string): (activation: object) => boolean;
  /** The activation every compiled condition of a source reads, made once per observation. */
  prepare(source: string, obs: object): object;
}

/** Limits on what one condition may be: bounded parse and evaluation cost. */
const LIMITS = { maxAstNodes: 2000, maxDepth: 64, maxListElements: 1000, maxMapEntries: 100, maxCallArguments: 16 };

class StringSet {
  constructor(readonly set: ReadonlySet<string>) {}
}

const regexCache = new Map<string, Pattern>();
/** A compiled `matches()` pattern, kept (rules/regex.ts: JavaScript's engine, or RE2 when it could backtrack badly). */
export function regex(pattern: string): Pattern {
  let re = regexCache.get(pattern);
  if (!re) {
    re = compilePattern(pattern);
    if (regexCache.size < 10_000) regexCache.set(pattern, re);
  }
  return re;
}

function octal(mask: string): number {
  if (!/^0?[0-7]{1,4}$/.test(mask)) throw new Error(`modeWithin: ${JSON.stringify(mask)} is not an octal mode such as '0640'`);
  return parseInt(mask, 8);
}

const globCache = new Map<string, RegExp>();
function glob(pattern: string): RegExp {
  let re = globCache.get(pattern);
  if (!re) {
    re = globToRegExp(pattern);
    if (globCache.size < 10_000) globCache.set(pattern, re);
  }
  return re;
}

type View = new (o: Record<string, unknown>) => object;

/**
 * A class per object type whose getters read the observation and give ints as BigInt. A plain
 * constructor function: class fields would be defined property by property on every instance.
 */
function viewClass(converters: ReadonlyMap<string, ((v: unknown) => unknown) | null>): View {
  const C = function (this: { o: Record<string, unknown> }, o: Record<string, unknown>) {
    this.o = o;
  } as unknown as View;
  for (const [name, conv] of converters) {
    Object.defineProperty(C.prototype, name, {
      enumerable: true,
      get(this: { o: Record<string, unknown> }) {
        const v = this.o[name];
        return conv ? conv(v) : v;
      },
    });
  }
  return C;
}

/**
 * The activation: one getter per variable, each made into its view on first read and kept, so a
 * condition that reads `process` alone does not pay for `parent`, `container` and the others.
 */
function activationClass(top: Record<string, ((v: unknown) => unknown) | null>): View {
  const A = function (this: { o: Record<string, unknown>; c: Record<string, unknown> }, o: Record<string, unknown>) {
    this.o = o;
    this.c = {};
  } as unknown as View;
  for (const [name, conv] of Object.entries(top)) {
    Object.defineProperty(A.prototype, name, {
      enumerable: true,
      get(this: { o: Record<string, unknown>; c: Record<string, unknown> }) {
        let v = this.c[name];
        if (v === undefined) {
          v = conv ? conv(this.o[name]) : this.o[name];
          this.c[name] = v;
        }
        return v;
      },
    });
  }
  return A;
}

interface SourceTypes {
  env: Environment;
  prepare: (obs: object) => object;
}

export class CelConditionCompiler implements ConditionCompiler {
  private lists: ReadonlyMap<string, string[]> = new Map();
  private readonly sources = new Map<string, SourceTypes>();
  private hoisted = 0;

  setLists(lists: ReadonlyMap<string, string[]>): void {
    this.lists = lists;
    this.sources.clear();
  }

  prepare(source: string, obs: object): object {
    return this.typesOf(source).prepare(obs);
  }

  compile(source: string, text: string): (activation: object) => boolean {
    const { env } = this.typesOf(source);
    const rewritten = this.setLookups(env, text);
    let fn: ReturnType<Environment['parse']>;
    try {
      fn = env.parse(rewritten);
    } catch (err) {
      throw new Error(cleanMessage(err, text, rewritten));
    }
    const checked = fn.check();
    if (!checked.valid) throw new Error(cleanMessage(checked.error, text, rewritten));
    if (checked.type !== 'bool') throw new Error(`the condition is of type ${checked.type}, not bool`);
    return (activation) => fn(activation as Record<string, unknown>) === true;
  }

  /**
   * `x in LIST` → a set look-up on the list's set constant; `x in ['a', 'b', …]` (string
   * literals without escapes) → a set constant made for it. Only where the operand ends there
   * (`x in LIST + [...]` keeps the list: `+` binds tighter than `in`), and never for a name a
   * comprehension binds. Other uses of a list (`LIST.exists(…)`) keep the list. `.matches(` →
   * `.__matches(` (compiled patterns, kept); literal patterns are compiled now, so a bad one is a
   * load error.
   */
  private setLookups(env: Environment, text: string): string {
    const tokens = tokenize(text);
    const bound = boundNames(tokens);
    /** The text after token j (from offset `from` in it), enough to see what comes next. */
    const after = (j: number, from = 0): string => {
      let rest = (tokens[j]?.text ?? '').slice(from);
      for (let k = j + 1; rest.trim() === '' && k < tokens.length; k++) rest += tokens[k]!.text;
      return rest;
    };
    const endsOperand = (rest: string) => /^\s*($|\)|,|\]|\}|&&|\|\||\?|:)/.test(rest);
    const isIn = (k: number) => tokens[k]?.kind === 'ident' && tokens[k]!.text === 'in';
    let out = '';
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t.kind === 'ident' && t.text === 'matches' && /\.\s*$/.test(tokens[i - 1]?.text ?? '') && /^\s*\(/.test(tokens[i + 1]?.text ?? '')) {
        const pattern = tokens[i + 2];
        if (pattern?.kind === 'string' && /^\s*\)/.test(tokens[i + 3]?.text ?? '') && /^'[^'\\]*'$|^"[^"\\]*"$/.test(pattern.text)) {
          try {
            regex(pattern.text.slice(1, -1));
          } catch (err) {
            throw new Error(`matches(${pattern.text}): not a valid pattern: ${(err as Error).message}`);
          }
        }
        out += '__matches';
        continue;
      }
      const afterIn = i >= 2 && isIn(i - 2) && tokens[i - 1]!.kind === 'other' && tokens[i - 1]!.text.trim() === '';
      if (t.kind === 'ident' && afterIn && this.lists.has(t.text) && !bound.has(t.text) && endsOperand(after(i + 1))) {
        out += `__set_${t.text}`;
        continue;
      }
      if (t.kind === 'other' && t.text.trim() === '[' && isIn(i - 1)) {
        // A literal list of strings: find its end.
        const items: string[] = [];
        let j = i + 1;
        let ok = true;
        for (; j < tokens.length; j++) {
          const u = tokens[j]!;
          if (u.kind === 'string' && /^'[^'\\]*'$|^"[^"\\]*"$/.test(u.text)) items.push(u.text.slice(1, -1));
          else if (u.kind === 'other' && /^\s*,\s*$/.test(u.text)) continue;
          else if (u.kind === 'other' && /^\s*,?\s*\]/.test(u.text)) break;
          else {
            ok = false;
            break;
          }
        }
        const close = j < tokens.length ? tokens[j]!.text.indexOf(']') : -1;
        if (ok && close >= 0 && items.length > 0 && endsOperand(after(j, close + 1))) {
          const name = `__lit_${this.hoisted++}`;
          env.registerConstant(name, 'StringSet', new StringSet(new Set(items)));
          out += `${t.text.slice(0, t.text.indexOf('['))}${name}${tokens[j]!.text.slice(close + 1)}`;
          i = j;
          continue;
        }
      }
      out += t.text;
    }
    return out;
  }

  private typesOf(source: string): SourceTypes {
    let t = this.sources.get(source);
    if (t) return t;
    const fields = FIELDS_BY_SOURCE[source];
    if (!fields) throw new Error(`no observations of source ${source}`);
    const env = new Environment({ limits: LIMITS });
    env.registerType('StringSet', StringSet);
    env.registerOperator('string in StringSet', (s: string, l: StringSet) => l.set.has(s));
    // The built-in matches() translates its pattern on every call; ours keeps it compiled.
    env.registerFunction('string.__matches(string): bool', (s: string, p: string) => regex(p).test(s));
    // Permission bits: modeWithin(m, '0660') is true when m grants nothing beyond 0660 (CEL has
    // no bitwise operators); a mask that is not octal is an evaluation error.
    env.registerFunction('modeWithin(int, string): bool', (mode: bigint, max: string) => (Number(mode) & ~octal(max) & 0o7777) === 0);
    // matchesGlob(value, patterns): the value matches one of the globs (`*`: any run of characters).
    env.registerFunction('matchesGlob(string, list<string>): bool', (v: string, patterns: string[]) => patterns.some((p) => glob(p).test(v)));
    for (const [name, items] of this.lists) {
      env.registerConstant(name, 'list<string>', items);
      env.registerConstant(`__set_${name}`, 'StringSet', new StringSet(new Set(items)));
    }
    // One CEL type per object (or list element) type, named after its field path.
    const typeName = (pathName: string) => pathName.replace(/(^|\.)([a-z])/g, (_, _d, c: string) => c.toUpperCase());
    const declare = (pathName: string, obj: Record<string, Field>): { name: string; view: View } => {
      const name = typeName(pathName);
      const celFields: Record<string, string> = {};
      const conv = (ft: FieldType, at: string): ((v: unknown) => unknown) | null => {
        if (ft === 'int') return (v) => BigInt(v as number);
        if (typeof ft === 'string') return null;
        if ('object' in ft) {
          const d = declare(at, ft.object);
          return (v) => new d.view(v as Record<string, unknown>);
        }
        const d = declare(at, ft.list);
        return (v) => (v as Record<string, unknown>[]).map((x) => new d.view(x));
      };
      const converters = new Map<string, ((v: unknown) => unknown) | null>();
      for (const [k, f] of Object.entries(obj)) {
        const at = `${pathName}.${k}`;
        const c = conv(f.type, at);
        converters.set(k, c);
        celFields[k] = typeof f.type === 'string' ? f.type : 'object' in f.type ? typeName(at) : `list<${typeName(at)}>`;
      }
      const view = viewClass(converters);
      env.registerType(name, { ctor: view as unknown as new (...args: unknown[]) => object, fields: celFields });
      return { name, view };
    };
    const top: Record<string, ((v: unknown) => unknown) | null> = {};
    for (const [k, f] of Object.entries(fields)) {
      const ft = f.type;
      if (typeof ft === 'string') {
        env.registerVariable(k, ft);
        top[k] = ft === 'int' ? (v) => BigInt(v as number) : null;
      } else if ('object' in ft) {
        const d = declare(k, ft.object);
        env.registerVariable(k, d.name);
        top[k] = (v) => new d.view(v as Record<string, unknown>);
      } else {
        const d = declare(k, ft.list);
        env.registerVariable(k, `list<${d.name}>`);
        top[k] = (v) => (v as Record<string, unknown>[]).map((x) => new d.view(x));
      }
    }
    const Activation = activationClass(top);
    const prepare = (obs: object): object => new Activation(obs as Record<string, unknown>);
    t = { env, prepare };
    this.sources.set(source, t);
    return t;
  }
}

/** The library's message, with our internal names turned back into what the rule author wrote. */
function cleanMessage(err: unknown, original: string, rewritten: string): string {
  let msg = err instanceof Error ? err.message : String(err);
  msg = msg.replace(/__set_([A-Za-z_][A-Za-z0-9_]*)/g, '$1').replace(/__lit_\d+/g, '[…]').replace(/__matches/g, 'matches');
  if (rewritten !== original) msg = msg.replace(/\n[\s\S]*$/, '');
  return msg.split('\n').slice(0, 3).join(' ').trim();
}
