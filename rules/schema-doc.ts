// docs/observations.md, written from the schema (rules/schema.ts), so the document and what rules
// are checked against cannot drift apart: test/rules/schema-doc.test.ts compares the two, and
// `node dist/rules/schema-doc.js > docs/observations.md` writes it.

import { pathToFileURL } from 'node:url';
import { EACH_FIELDS, type Field, FIELDS_BY_SOURCE, SOURCE_DOCS } from './schema.js';
import { DERIVED_NAMES } from './fields.js';

function typeName(f: Field): string {
  const t = f.type;
  if (typeof t === 'string') return t;
  return 'object' in t ? 'object' : 'list of objects';
}

function rows(fields: Record<string, Field>, prefix: string, out: string[]): void {
  for (const [name, f] of Object.entries(fields)) {
    const full = prefix ? `${prefix}.${name}` : name;
    out.push(`| \`${full}\` | ${typeName(f)} | ${f.doc.replace(/\|/g, '\\|')} |`);
    const t = f.type;
    if (typeof t === 'object') rows('object' in t ? t.object : t.list, 'object' in t ? full : `${full}[]`, out);
  }
}

export function observationsDoc(): string {
  const out = [
    '# Observations: what rules read',
    '',
    'Collectors hand the rule engine typed observations; a rule\'s `condition` is CEL over one of',
    'them, and its `output` and `exceptions` name the same fields. Every field is always present:',
    'what is not known, or does not apply, is `\'\'`, `0` or `false` (so `kubernetes.namespace != \'\'`',
    'says whether the process runs in a pod). Ids (`uid`, `euid`, `auid`) that are unknown are',
    '4294967295. Conditions are type-checked against this schema when rules load: a field that is',
    'not here, or a comparison of the wrong types, is a load error.',
    '',
    'This file is written from `rules/schema.ts` (`node dist/rules/schema-doc.js > docs/observations.md`);',
    'a test keeps the two equal.',
    '',
  ];
  for (const [source, fields] of Object.entries(FIELDS_BY_SOURCE)) {
    out.push(`## Source \`${source}\`: ${SOURCE_DOCS[source] ?? source}`, '');
    if (source === 'runtime') {
      out.push('A state, offered whole on every refresh of the runtime: one observation with `subject` "runtime",',
        'and one per container with `subject` "container" (which carries the runtime\'s facts too). Every rule',
        'that holds is a finding of its own, open while it holds. A rule with `each: mounts` is judged once',
        'per mount, with the mount as `mount`.', '');
    }
    out.push('| Field | Type | Meaning |', '|---|---|---|');
    rows(fields, '', out);
    const each = Object.entries(EACH_FIELDS[source] ?? {});
    if (each.length > 0) out.push('', `Element fields (only in rules with \`each\`): ${each.map(([list, as]) => `\`${as}\` (each: ${list})`).join(', ')}.`);
    out.push('');
  }
  out.push('## In output, evidence and expected templates', '', `Besides the fields above, \`${DERIVED_NAMES.map((n) => `{${n}}`).join('`, `')}\` may be used: \`{where}\` is`,
    'namespace/pod/container (or the container id, or "the host"), `{who}` the container as a phrase',
    '("container web of pod default/web-1", or its id and containerd namespace outside the CRI),',
    '`{cmdline}` the command line cut at 300 characters. `{field:octal}` shows an int field in octal',
    '(modes: `{runtime.socketMode:octal}` gives `0660`).', '',
    '## Functions', '',
    "Besides CEL's own: `modeWithin(mode, '0660')` is true when the permission bits grant nothing beyond",
    'the octal mask (CEL has no bitwise operators); `matchesGlob(value, LIST)` is true when the value',
    'matches one of the globs in the list (`*` matches any run of characters).', '');
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.stdout.write(observationsDoc());
