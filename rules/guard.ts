// Guards: plain JavaScript pre-checks taken from a condition's top-level conjuncts, so that a rule
// that cannot match is skipped without a CEL evaluation (most execs are benign: most rules fail on
// a cheap test such as `inContainer` or `process.fileless`). A guard is only ever built from a
// conjunct it reproduces exactly: when the condition holds, every guard holds. Terms it does not
// recognise are left to CEL, so a guard can make evaluation faster, never different.
//
// Recognised terms: `F`, `!F` (bool fields), `F == 'x'`, `F != 'x'`, `F == 3`, `F != 3`,
// `F in LIST`, `F in ['a', 'b']`, `F.startsWith('x')`, `F.matches('re')`,
// `LIST.exists(v, F.startsWith(v))`, and `||` of recognised terms. Lazy fields (read from /proc
// when a condition reads them) are never guarded on: a guard runs before the conditions would.

import { conjuncts, disjuncts, unwrap } from './expand.js';
import { type Field, fieldType } from './schema.js';

export type Guard = (obs: object) => boolean;

const F = String.raw`([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)`;
const LIT = String.raw`'((?:[^'\\]|\\.)*)'`;

function read(path: string[]): (o: object) => unknown {
  if (path.length === 1) return (o) => (o as Record<string, unknown>)[path[0]!];
  if (path.length === 2) return (o) => ((o as Record<string, Record<string, unknown>>)[path[0]!]!)[path[1]!];
  return (o) => path.reduce<unknown>((v, p) => (v as Record<string, unknown>)[p], o);
}

/**
 * A CEL single-quoted literal's value, when it has no escapes; null otherwise (CEL's escapes —
 * \x41, \u0041, \101, \a… — are CEL's business: such a term gets no guard).
 */
function unquote(s: string): string | null {
  return s.includes('\\') ? null : s;
}

export interface GuardContext {
  fields: Record<string, Field>;
  lists: ReadonlyMap<string, string[]>;
  /** Field paths read lazily (never guarded on). */
  lazy: ReadonlySet<string>;
  /** The regex matcher conditions use for matches(), so a guard agrees with CEL exactly. */
  regex: (pattern: string) => { test(s: string): boolean };
}

function term(s: string, ctx: GuardContext): Guard | null {
  const t = unwrap(s);
  const or = disjuncts(t);
  if (or.length > 1) {
    const parts = or.map((d) => term(d, ctx));
    if (parts.some((p) => p === null)) return null;
    const gs = parts as Guard[];
    return (o) => gs.some((g) => g(o));
  }
  const field = (path: string, want: 'bool' | 'string' | 'int' | 'any') => {
    if (ctx.lazy.has(path)) return null;
    const type = fieldType(ctx.fields, path);
    if (type === undefined || typeof type !== 'string') return null;
    if (want !== 'any' && type !== want) return null;
    return read(path.split('.'));
  };
  let m = new RegExp(`^(!?)\\s*${F}$`).exec(t);
  if (m) {
    const get = field(m[2]!, 'bool');
    if (!get) return null;
    return m[1] ? (o) => get(o) !== true : (o) => get(o) === true;
  }
  m = new RegExp(`^${F}\\s*(==|!=)\\s*(?:${LIT}|(-?\\d+))$`).exec(t);
  if (m) {
    const isString = m[3] !== undefined;
    const get = field(m[1]!, isString ? 'string' : 'int');
    if (!get) return null;
    const want: unknown = isString ? unquote(m[3]!) : Number(m[4]);
    if (want === null) return null;
    return m[2] === '==' ? (o) => get(o) === want : (o) => get(o) !== want;
  }
  m = new RegExp(`^${F}\\s+in\\s+([A-Za-z_][A-Za-z0-9_]*)$`).exec(t);
  if (m && ctx.lists.has(m[2]!)) {
    const get = field(m[1]!, 'string');
    if (!get) return null;
    const set = new Set(ctx.lists.get(m[2]!));
    return (o) => set.has(get(o) as string);
  }
  m = new RegExp(`^${F}\\s+in\\s+\\[((?:\\s*${LIT}\\s*,?)*)\\]$`).exec(t);
  if (m) {
    const get = field(m[1]!, 'string');
    if (!get) return null;
    const items = [...m[2]!.matchAll(new RegExp(LIT, 'g'))].map((x) => unquote(x[1]!));
    if (items.some((x) => x === null)) return null;
    const set = new Set(items);
    return (o) => set.has(get(o) as string);
  }
  m = new RegExp(`^${F}\\.(startsWith|endsWith|contains|matches)\\(\\s*${LIT}\\s*\\)$`).exec(t);
  if (m) {
    const get = field(m[1]!, 'string');
    if (!get) return null;
    const lit = unquote(m[3]!);
    if (lit === null) return null;
    if (m[2] === 'startsWith') return (o) => (get(o) as string).startsWith(lit);
    if (m[2] === 'endsWith') return (o) => (get(o) as string).endsWith(lit);
    if (m[2] === 'contains') return (o) => (get(o) as string).includes(lit);
    let re: { test(s: string): boolean };
    try {
      re = ctx.regex(lit);
    } catch {
      return null; // CEL will say what is wrong with the pattern
    }
    return (o) => re.test(get(o) as string);
  }
  m = new RegExp(`^([A-Za-z_][A-Za-z0-9_]*)\\.exists\\(\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*,\\s*${F}\\.startsWith\\(\\s*\\2\\s*\\)\\s*\\)$`).exec(t);
  if (m && ctx.lists.has(m[1]!)) {
    const get = field(m[3]!, 'string');
    if (!get) return null;
    const prefixes = ctx.lists.get(m[1]!)!;
    return (o) => {
      const v = get(o) as string;
      return prefixes.some((p) => v.startsWith(p));
    };
  }
  return null;
}

/** The guards of a condition (its recognised top-level conjuncts, nested `&&` groups included). */
export function guardsOf(condition: string, ctx: GuardContext, depth = 0): Guard[] {
  if (depth > 16) return [];
  const and = conjuncts(unwrap(condition));
  if (and.length === 1) {
    const g = term(and[0]!, ctx);
    return g ? [g] : [];
  }
  return and.flatMap((c) => guardsOf(c, ctx, depth + 1));
}
