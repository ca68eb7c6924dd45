// A whole observation from a partial one: what rule test files (`nodewarden rules test`) and
// recorded observations give is filled in from the schema with empty values (the same values
// collectors use for "not known"), and a key the schema does not have is an error.

import { type Field, type FieldType } from './schema.js';

export function completeObservation(partial: unknown, fields: Record<string, Field>, path = ''): { value: Record<string, unknown>; problems: string[] } {
  const problems: string[] = [];
  // `kind` says what the observation is; it is no field of it.
  const { kind: _kind, ...rest } = (partial ?? {}) as Record<string, unknown>;
  const value = fill(rest, { object: fields }, path, problems) as Record<string, unknown>;
  return { value, problems };
}

function empty(type: FieldType): unknown {
  if (type === 'string') return '';
  if (type === 'int') return 0;
  if (type === 'bool') return false;
  if (type === 'list<string>') return [];
  if ('list' in type) return [];
  return Object.fromEntries(Object.entries(type.object).map(([k, f]) => [k, f.unknown ?? empty(f.type)]));
}

function fill(v: unknown, type: FieldType, path: string, problems: string[], unknown?: number): unknown {
  if (v === undefined || v === null) return unknown ?? empty(type);
  const at = path || '(observation)';
  if (type === 'string') {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  } else if (type === 'int') {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
  } else if (type === 'bool') {
    if (typeof v === 'boolean') return v;
  } else if (type === 'list<string>') {
    if (Array.isArray(v)) return v.map((x, i) => fill(x, 'string', `${path}[${i}]`, problems));
  } else if ('list' in type) {
    if (Array.isArray(v)) return v.map((x, i) => fill(x, { object: type.list }, `${path}[${i}]`, problems));
  } else if (typeof v === 'object' && !Array.isArray(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      if (!Object.hasOwn(type.object, k)) problems.push(`${path ? `${path}.` : ''}${k}: no such field`);
    }
    for (const [k, f] of Object.entries(type.object)) out[k] = fill((v as Record<string, unknown>)[k], f.type, path ? `${path}.${k}` : k, problems, f.unknown);
    return out;
  }
  problems.push(`${at}: expected ${typeof type === 'string' ? type : 'list' in type ? 'a list' : 'a mapping'}`);
  return empty(type);
}
