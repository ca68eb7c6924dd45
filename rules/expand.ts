// Macros and names in conditions. A condition may name macros (replaced by their CEL text in
// parentheses, recursively) and lists (bound as constants when it is compiled); any other bare
// name must be an observation field, a CEL keyword or a comprehension's variable. Working on
// tokens, not text, keeps string literals and field selections (`process.name`) untouched.

export interface Token {
  kind: 'ident' | 'string' | 'other';
  text: string;
  /** Offset in the condition. */
  at: number;
}

const KEYWORDS = new Set(['true', 'false', 'null', 'in']);
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/** Split a CEL condition into identifiers, string literals and everything else. */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let other = '';
  let otherAt = 0;
  const flush = () => {
    if (other) out.push({ kind: 'other', text: other, at: otherAt });
    other = '';
  };
  while (i < src.length) {
    const ch = src[i]!;
    // A comment runs to the end of the line: it is whitespace to everything here.
    if (ch === '/' && src[i + 1] === '/') {
      let j = i;
      while (j < src.length && src[j] !== '\n') j++;
      if (!other) otherAt = i;
      other += ' ';
      i = j;
      continue;
    }
    // Numbers (0x10, 1e3, 2u, 1.5) are one token, never a name.
    if (/[0-9]/.test(ch) && !/[A-Za-z0-9_]/.test(src[i - 1] ?? '')) {
      let j = i + 1;
      while (j < src.length && (/[A-Za-z0-9_.]/.test(src[j]!) || (/[eE]/.test(src[j - 1]!) && /[+-]/.test(src[j]!)))) j++;
      if (!other) otherAt = i;
      other += src.slice(i, j);
      i = j;
      continue;
    }
    // String literals: optional r/b prefixes, single or triple quotes.
    const prefix = /^[rRbB]{0,2}('''|"""|'|")/.exec(src.slice(i, i + 5));
    if (prefix && (prefix[0].length === prefix[1]!.length || !/[A-Za-z0-9_]/.test(src[i - 1] ?? ''))) {
      const q = prefix[1]!;
      const raw = /[rR]/.test(prefix[0].slice(0, -q.length));
      let j = i + prefix[0].length;
      while (j < src.length && src.slice(j, j + q.length) !== q) j += !raw && src[j] === '\\' ? 2 : 1;
      flush();
      const end = Math.min(src.length, j + q.length);
      out.push({ kind: 'string', text: src.slice(i, end), at: i });
      i = end;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      flush();
      out.push({ kind: 'ident', text: src.slice(i, j), at: i });
      i = j;
      continue;
    }
    if (!other) otherAt = i;
    other += ch;
    i++;
  }
  flush();
  return out;
}

/** Whether token i is a bare name: not after a dot (a field selection) and not a function call. */
function isBareName(tokens: Token[], i: number): boolean {
  const prev = tokens[i - 1];
  if (prev && prev.kind === 'other' && prev.text.trimEnd().endsWith('.')) return false;
  const next = tokens[i + 1];
  if (next && next.kind === 'other' && next.text.trimStart().startsWith('(')) return false;
  return true;
}

/** Names bound by comprehensions (`list.exists(a, …)`): they are not macros or fields. */
export function boundNames(tokens: Token[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 2 < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'ident' || !COMPREHENSIONS.has(t.text)) continue;
    const open = tokens[i + 1]!;
    const v = tokens[i + 2]!;
    const after = tokens[i + 3];
    if (open.kind === 'other' && open.text.trim() === '(' && v.kind === 'ident' && after?.kind === 'other' && after.text.trimStart().startsWith(',')) out.add(v.text);
  }
  return out;
}

export interface ExpandResult {
  text: string;
  /** Bare names that are neither macros, lists, fields nor bound variables. */
  unknown: string[];
  /** Macros and lists the condition uses (directly or through macros). */
  macros: Set<string>;
  lists: Set<string>;
}

/**
 * Replace macro names by their (expanded) text in parentheses. `fields` are the observation's
 * top-level names; lists stay names (compiled as constants). Cycles are reported as unknown.
 */
/** A condition with its macros put in place may not be longer than this, nor nest them deeper. */
export const MAX_EXPANDED = 64 * 1024;
const MAX_MACRO_DEPTH = 32;

export function expand(condition: string, macros: ReadonlyMap<string, string>, lists: ReadonlySet<string>, fields: ReadonlySet<string>, stack: string[] = [], memo = new Map<string, ExpandResult>()): ExpandResult {
  if (stack.length > MAX_MACRO_DEPTH) return { text: condition, unknown: [`(macros nested more than ${MAX_MACRO_DEPTH} deep: ${stack.slice(0, 4).join(' → ')} → …)`], macros: new Set(), lists: new Set() };
  const tokens = tokenize(condition);
  const bound = boundNames(tokens);
  const used = { macros: new Set<string>(), lists: new Set<string>() };
  const unknown: string[] = [];
  let text = '';
  tokens.forEach((t, i) => {
    if (t.kind !== 'ident' || !isBareName(tokens, i) || KEYWORDS.has(t.text) || bound.has(t.text) || fields.has(t.text)) {
      text += t.text;
      return;
    }
    if (lists.has(t.text)) {
      used.lists.add(t.text);
      text += t.text;
      return;
    }
    const body = macros.get(t.text);
    if (body === undefined || stack.includes(t.text)) {
      unknown.push(stack.includes(t.text) ? `${t.text} (a macro that names itself through ${stack.join(' → ')})` : t.text);
      text += t.text;
      return;
    }
    // A macro's expansion does not depend on where it is used: work it out once.
    let inner = memo.get(t.text);
    if (!inner) {
      inner = expand(body, macros, lists, fields, [...stack, t.text], memo);
      memo.set(t.text, inner);
    }
    used.macros.add(t.text);
    for (const m of inner.macros) used.macros.add(m);
    for (const l of inner.lists) used.lists.add(l);
    unknown.push(...inner.unknown);
    if (text.length + inner.text.length > MAX_EXPANDED) {
      unknown.push(`(with its macros in place the condition is longer than ${MAX_EXPANDED} characters)`);
      return;
    }
    text += `(${inner.text})`;
  });
  return { text, unknown: [...new Set(unknown)], ...used };
}

/**
 * Split a condition at its top-level `&&` (outside parentheses, brackets and strings). A
 * condition with a top-level `||` or `?:` is one piece: `a || b && c` is `a || (b && c)`.
 */
export function conjuncts(condition: string): string[] {
  return splitTop(condition, '&&');
}

/** Split a condition at its top-level `||`; one piece when it has a top-level `?:`. */
export function disjuncts(condition: string): string[] {
  return splitTop(condition, '||');
}

function splitTop(condition: string, op: '&&' | '||'): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const t of tokenize(condition)) {
    if (t.kind !== 'other') {
      cur += t.text;
      continue;
    }
    for (let i = 0; i < t.text.length; i++) {
      const ch = t.text[i]!;
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      else if (ch === ')' || ch === ']' || ch === '}') depth--;
      if (depth === 0 && (ch === '?' || (op === '&&' && ch === '|' && t.text[i + 1] === '|'))) return [condition.trim()];
      if (depth === 0 && ch === op[0] && t.text[i + 1] === op[1]) {
        out.push(cur.trim());
        cur = '';
        i++;
        continue;
      }
      cur += ch;
    }
  }
  out.push(cur.trim());
  return out;
}

/** Strip parentheses that wrap the whole of a condition (string literals are not counted). */
export function unwrap(s: string): string {
  let t = s.trim();
  while (t.startsWith('(') && t.endsWith(')')) {
    let depth = 0;
    let whole = true;
    for (const tok of tokenize(t)) {
      if (tok.kind === 'other') {
        for (let i = 0; i < tok.text.length; i++) {
          const ch = tok.text[i]!;
          if (ch === '(') depth++;
          else if (ch === ')') depth--;
          if (depth === 0 && tok.at + i < t.length - 1) whole = false;
        }
      } else if (depth === 0) {
        whole = false;
      }
      if (!whole) break;
    }
    if (!whole) break;
    t = t.slice(1, -1).trim();
  }
  return t;
}
