// Patterns of `matches()`, safe against what they are run on. Arguments come from the workload
// (an attacker's command line), so a pattern that backtracks exponentially (nested repetition) or
// polynomially (several unbounded repetitions) would let one exec stall the agent. A pattern with
// at most one unbounded repetition and no quantified group holding a quantifier or an alternation
// cannot backtrack badly: it runs on JavaScript's engine (fast). Any other runs on RE2 (re2js:
// linear time, about 10–80× slower per test), so a rule's cost stays bounded whatever it is fed.
// A leading `(?i)`, `(?s)`, `(?m)` (RE2's way of writing flags) becomes the flag.

import { RE2JS } from 're2js';

export interface Pattern {
  test(s: string): boolean;
}

/**
 * Whether a pattern may backtrack badly on JavaScript's engine: a quantified group that contains
 * a quantifier or an alternation, or more than one unbounded repetition (`*`, `+`, `{n,}`).
 */
export function backtracksBadly(src: string): boolean {
  const groups: { inner: boolean }[] = [{ inner: false }];
  let lastGroupInner: boolean | null = null;
  let unbounded = 0;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '\\') {
      i++;
      lastGroupInner = null;
      continue;
    }
    if (ch === '[') {
      // A character class: to its closing bracket (an escaped one, or one first, does not close it).
      let j = i + 1;
      if (src[j] === '^') j++;
      if (src[j] === ']') j++;
      while (j < src.length && src[j] !== ']') j += src[j] === '\\' ? 2 : 1;
      i = j;
      lastGroupInner = null;
      continue;
    }
    if (ch === '(') {
      groups.push({ inner: false });
      lastGroupInner = null;
      continue;
    }
    if (ch === ')') {
      const g = groups.pop() ?? { inner: false };
      if (groups.length === 0) groups.push({ inner: false });
      lastGroupInner = g.inner;
      // What a group holds, its enclosing group holds too.
      if (g.inner) groups[groups.length - 1]!.inner = true;
      continue;
    }
    if (ch === '|') {
      groups[groups.length - 1]!.inner = true;
      lastGroupInner = null;
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && /^\{\d+(,\d*)?\}/.test(src.slice(i)))) {
      if (ch === '?' && src[i - 1] === '(') continue; // (?: (?= … are group syntax, not a quantifier
      if (lastGroupInner) return true;
      groups[groups.length - 1]!.inner = true;
      if (ch === '*' || ch === '+' || (ch === '{' && /^\{\d+,\}/.test(src.slice(i)))) unbounded++;
      if (unbounded > 1) return true;
      if (ch === '{') i = src.indexOf('}', i);
      lastGroupInner = null;
      continue;
    }
    lastGroupInner = null;
  }
  return false;
}

/** Compile a pattern (throws an Error saying what is wrong with it). */
export function compilePattern(pattern: string): Pattern {
  let src = pattern;
  let flags = '';
  const m = /^\(\?([ims]+)\)/.exec(src);
  if (m) {
    flags = [...new Set(m[1]!)].join('');
    src = src.slice(m[0].length);
  }
  if (!backtracksBadly(src)) return new RegExp(src, `${flags}u`);
  let re2Flags = 0;
  if (flags.includes('i')) re2Flags |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('s')) re2Flags |= RE2JS.DOTALL;
  if (flags.includes('m')) re2Flags |= RE2JS.MULTILINE;
  let re: RE2JS;
  try {
    re = RE2JS.compile(src, re2Flags);
  } catch (err) {
    throw new Error(`a pattern with nested repetition runs on RE2, which refuses it: ${(err as Error).message}`);
  }
  return { test: (s) => re.matcher(s).find() };
}
