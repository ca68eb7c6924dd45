// Reading a YAML (or JSON) file from the host once per evaluation and saying plainly what went
// wrong when it cannot be used: absent, unreadable, too large, not YAML, or not a mapping. Every
// message names the file, because it ends up as the evidence of a check.

import { parse } from 'yaml';
import type { HostView } from './host-view.js';
import { ContentCache } from './content-cache.js';

/** Parsed documents by text (read-only to every caller), or the parser's message. */
const parsedTexts = new ContentCache<{ data: unknown } | { error: string }>(64, 256 * 1024);

export type YamlOutcome =
  | { kind: 'ok'; data: Record<string, unknown> }
  | { kind: 'missing' }
  | { kind: 'error'; message: string };

export function loadYamlMapping(view: HostView, hostPath: string, what: string): Promise<YamlOutcome> {
  return view.cached(`yaml\0${hostPath}`, async () => {
    const read = await view.readText(hostPath);
    if (read.kind === 'missing') return { kind: 'missing' };
    if (read.kind === 'error') {
      const message = read.message.includes(hostPath) ? read.message : `${hostPath}: ${read.message}`;
      return { kind: 'error', message: `cannot read ${what} ${hostPath} (${message})` };
    }
    const out = parsedTexts.get(read.text, () => {
      try {
        // maxAliasCount bounds alias expansion, so a "billion laughs" file cannot blow up memory.
        return { data: parse(read.text, { prettyErrors: true, maxAliasCount: 100, uniqueKeys: false }) as unknown };
      } catch (err) {
        return { error: String((err as Error).message).split('\n')[0]! };
      }
    });
    if ('error' in out) return { kind: 'error', message: `${what} ${hostPath} is not valid YAML: ${out.error}` };
    let data = out.data;
    if (data === null || data === undefined) data = {};
    if (typeof data !== 'object' || Array.isArray(data)) {
      return { kind: 'error', message: `${what} ${hostPath} is not a YAML mapping (found ${describeValue(data)})` };
    }
    return { kind: 'ok', data: data as Record<string, unknown> };
  });
}

/** A short description of an unexpected value for evidence text. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  return String(value);
}

/** The value at a dotted path of nested mappings; undefined when any step is missing. */
export function getPath(data: Record<string, unknown>, keys: readonly string[]): unknown {
  let cur: unknown = data;
  for (const key of keys) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
