// A structural validator for custom objects against a CRD's openAPIV3Schema, as the API server
// checks them (types, required, enum, items, properties, additionalProperties, integer formats),
// plus one stricter rule: a field the schema does not know is an error here, where the API server
// would silently prune it (data the report meant to carry would be lost). metadata is checked as
// the API server does for every object: a name that is a DNS subdomain.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The openAPIV3Schema of one served version of a CRD file. */
export function crdSchema(file: string, version: string): Schema {
  const crd = parse(readFileSync(file, 'utf8')) as Schema;
  const v = (crd.spec?.versions as Schema[] | undefined)?.find((x) => x.name === version);
  if (!v?.served) throw new Error(`${file}: version ${version} is not served`);
  return v.schema.openAPIV3Schema as Schema;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateObject(obj: unknown, schema: Schema): string[] {
  const errors: string[] = [];
  check(obj, schema, '', errors);
  const name = (obj as Schema)?.metadata?.name;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) errors.push(`metadata.name: ${JSON.stringify(name)} is not a DNS subdomain`);
  return errors;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function check(v: unknown, s: Schema, path: string, errors: string[]): void {
  const at = path || '(object)';
  if (s.type) {
    const t = typeOf(v);
    const ok = t === s.type || (s.type === 'number' && t === 'integer');
    if (!ok) {
      errors.push(`${at}: expected ${s.type}, got ${t}`);
      return;
    }
  }
  if (s.enum && !(s.enum as unknown[]).includes(v)) errors.push(`${at}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (s.type === 'integer' && s.format === 'int32' && ((v as number) < -(2 ** 31) || (v as number) >= 2 ** 31)) errors.push(`${at}: out of int32 range`);
  if (s.type === 'integer' && s.format === 'int64' && !Number.isSafeInteger(v)) errors.push(`${at}: not a safe int64`);
  if (s.type === 'string') {
    if (typeof s.maxLength === 'number' && (v as string).length > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern && !new RegExp(s.pattern).test(v as string)) errors.push(`${at}: does not match ${s.pattern}`);
  }
  if (s.type === 'array' && s.items) (v as unknown[]).forEach((x, i) => check(x, s.items, `${path}[${i}]`, errors));
  if (s.type === 'object') {
    const o = v as Schema;
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in o)) errors.push(`${path ? `${path}.` : ''}${r}: required`);
    if (s['x-kubernetes-preserve-unknown-fields'] || (!s.properties && !s.additionalProperties)) return;
    for (const [k, x] of Object.entries(o)) {
      const p = path ? `${path}.${k}` : k;
      if (s.properties?.[k]) check(x, s.properties[k], p, errors);
      else if (s.additionalProperties && typeof s.additionalProperties === 'object') check(x, s.additionalProperties, p, errors);
      else if (s.additionalProperties !== true) errors.push(`${p}: unknown field (the API server would prune it)`);
    }
  }
}
