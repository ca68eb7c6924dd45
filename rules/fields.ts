// What rules read besides their condition: output templates (`{process.name} ran in {where}`) and
// exception field values. Both name observation fields checked against the schema at load, and
// both read them without CEL (a path lookup is all they need).

import { type Field, fieldType, readPath } from './schema.js';

/** Template names that are not fields: made from several fields, for messages. */
const DERIVED: Record<string, (obs: Record<string, unknown>) => string> = {
  /** namespace/pod/container, or the container id, or "the host". */
  where: (o) => {
    const k = o.kubernetes as { namespace: string; pod: string; container: string };
    const c = o.container as { id: string; name: string };
    if (k.namespace) return `${k.namespace}/${k.pod}/${k.container}`;
    if (c.id) return `container ${c.id.slice(0, 12)}`;
    return o.inContainer ? 'an unknown container' : 'the host';
  },
  /** The container as a phrase: "container C of pod NS/POD", "container ID (… outside the CRI)", or "the host". */
  who: (o) => {
    const k = o.kubernetes as { namespace: string; pod: string; container: string };
    const c = o.container as { id: string; name: string; origin: string; runtimeNamespace?: string };
    if (k.namespace) return `container ${k.container} of pod ${k.namespace}/${k.pod}`;
    if (c.origin === 'outside-cri') return `container ${c.id} (containerd namespace ${c.runtimeNamespace || '?'}, outside the CRI)`;
    if (c.id) return `container ${c.id.slice(0, 12)}`;
    return 'the host';
  },
  /** The command line, at most 300 characters. */
  cmdline: (o) => {
    const s = ((o.process as { argv: string[] } | undefined)?.argv ?? []).join(' ');
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
  },
};

export const DERIVED_NAMES = Object.keys(DERIVED);

export type Template = (obs: object) => string;

/**
 * Compile `text {field.path} text`; unknown fields are problems, returned as messages (starting
 * with `what`, the rule key the template is). `{field:octal}` shows an int in octal (modes).
 */
export function compileTemplate(text: string, fields: Record<string, Field>, problems: string[], what = 'output'): Template {
  const parts: (string | ((o: Record<string, unknown>) => string))[] = [];
  let last = 0;
  for (const m of text.matchAll(/\{([A-Za-z_][A-Za-z0-9_.]*)(:octal)?\}/g)) {
    parts.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    const name = m[1]!;
    const octal = m[2] !== undefined;
    const derived = Object.hasOwn(DERIVED, name) ? DERIVED[name] : undefined;
    if (derived && !octal) {
      parts.push(derived);
      continue;
    }
    const type = fieldType(fields, name);
    if (type === undefined) {
      problems.push(`${what}: {${name}} is no field of the observation (nor one of ${DERIVED_NAMES.join(', ')})`);
      continue;
    }
    if (typeof type === 'object') {
      problems.push(`${what}: {${name}} is an object or a list of objects; name one of its fields`);
      continue;
    }
    if (octal && type !== 'int') {
      problems.push(`${what}: {${name}:octal} is for int fields; ${name} is a ${type}`);
      continue;
    }
    const path = name.split('.');
    parts.push(octal ? (o) => Number(readPath(o, path)).toString(8).padStart(4, '0') : (o) => show(readPath(o, path)));
  }
  parts.push(text.slice(last));
  return (obs) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(obs as Record<string, unknown>);
    return s;
  };
}

function show(v: unknown): string {
  if (Array.isArray(v)) {
    const s = v.join(' ');
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
  }
  const s = String(v);
  return s.length > 1024 ? `${s.slice(0, 1024)}…` : s;
}

/** A glob: `*` matches any run of characters, everything else itself. One dialect everywhere. */
export function globToRegExp(pattern: string): RegExp {
  let src = '^';
  for (const ch of pattern) src += ch === '*' ? '.*' : ch.replace(/[.+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`${src}$`, 's');
}

export type ValueTest = (v: unknown) => boolean;

/** Equality, or a glob match when the value holds `*`; numbers and booleans compare as text. */
export function valueTest(value: string): ValueTest {
  if (!value.includes('*')) return (v) => String(v) === value;
  const re = globToRegExp(value);
  return (v) => re.test(String(v));
}

export interface CompiledException {
  name: string;
  /** True when the observation matches one of the exception's value tuples. */
  matches(obs: object): boolean;
}

/** Compile an exception (fields + tuples of values); problems are returned as messages. */
export function compileException(e: { name: string; fields: string[]; values: string[][] }, fields: Record<string, Field>, problems: string[]): CompiledException {
  const paths: string[][] = [];
  for (const f of e.fields) {
    const type = fieldType(fields, f);
    if (type === undefined) problems.push(`exception ${e.name}: ${f} is no field of the observation`);
    else if (typeof type === 'object') problems.push(`exception ${e.name}: ${f} is an object or a list of objects; name one of its fields`);
    else paths.push(f.split('.'));
  }
  const tuples: ValueTest[][] = [];
  e.values.forEach((tuple, i) => {
    if (tuple.length !== e.fields.length) problems.push(`exception ${e.name}: values[${i}] has ${tuple.length} values for ${e.fields.length} fields`);
    else tuples.push(tuple.map(valueTest));
  });
  return {
    name: e.name,
    matches(obs) {
      if (paths.length !== e.fields.length) return false;
      const got = paths.map((p) => {
        const v = readPath(obs, p);
        return Array.isArray(v) ? v.join(' ') : v;
      });
      return tuples.some((t) => t.every((test, i) => test(got[i])));
    },
  };
}
