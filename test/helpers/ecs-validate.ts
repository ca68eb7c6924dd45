// Checks a document against the ECS 9.4.0 field definitions (fields.json, generated from ECS's
// ecs_flat.yml; a copy lives in test/fixtures/ref): every field outside the custom `nodewarden.*`
// namespace and the free-form `labels.*` exists in ECS; values fit the field's type and
// array-ness; fields with allowed (or expected) values hold one of them; event.category and
// event.type are a pair ECS expects; the required fields are present. Returns every problem found,
// each naming its path.

import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './paths.js';

interface FieldDef {
  type: string;
  array: boolean;
  allowed?: string[];
  expected?: string[];
  pattern?: string;
  required?: boolean;
}

interface EcsReference {
  ecs_version: string;
  event_category_expected_types: Record<string, string[]>;
  fields: Record<string, FieldDef>;
}

/** $NW_ECS_FIELDS, else the copy in test/fixtures/ref, else the shared reference beside the repository. */
export function ecsFieldsFile(): string {
  const candidates = [
    process.env.NW_ECS_FIELDS,
    path.join(repoRoot, 'test', 'fixtures', 'ref', 'ecs-9.4.0.fields.json'),
    path.resolve(repoRoot, '..', 'shared', 'ref', 'ecs', 'fields.json'),
  ].filter((p): p is string => !!p);
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`no ECS field definitions found (looked at ${candidates.join(', ')})`);
  return file;
}

let cached: EcsReference | null = null;
export function ecsReference(): EcsReference {
  return (cached ??= JSON.parse(readFileSync(ecsFieldsFile(), 'utf8')) as EcsReference);
}

/** Namespaces ECS leaves to the producer: not checked against the field list. */
const FREE = ['nodewarden', 'labels'];

const STRING_TYPES = new Set(['keyword', 'constant_keyword', 'wildcard', 'match_only_text', 'text']);
const INTEGER_TYPES = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long']);
const NUMBER_TYPES = new Set(['float', 'double', 'scaled_float', 'half_float']);
/** Types whose value is an object as a whole (the walk stops there). */
const OBJECT_TYPES = new Set(['object', 'flattened', 'nested', 'geo_point']);

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export function validateEcs(doc: Record<string, unknown>): string[] {
  const ref = ecsReference();
  const errors: string[] = [];
  const leaves = new Map<string, unknown>();
  walk(doc, '', ref.fields, leaves, errors);

  for (const [field, value] of leaves) {
    const def = ref.fields[field]!;
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && !def.array) errors.push(`${field}: ECS defines a single value, got an array`);
    if (!Array.isArray(value) && def.array) errors.push(`${field}: ECS defines an array, got a single value`);
    for (const v of values) {
      const problem = typeProblem(def, v);
      if (problem) errors.push(`${field}: ${problem}`);
      const allowed = def.allowed ?? def.expected;
      if (allowed && typeof v === 'string' && !allowed.includes(v)) errors.push(`${field}: ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
      if (def.pattern && typeof v === 'string' && !new RegExp(def.pattern).test(v)) errors.push(`${field}: ${JSON.stringify(v)} does not match ${def.pattern}`);
    }
  }

  for (const [field, def] of Object.entries(ref.fields)) {
    if (def.required && !leaves.has(field)) errors.push(`${field}: required by ECS, missing`);
  }
  if (leaves.get('ecs.version') !== undefined && leaves.get('ecs.version') !== ref.ecs_version) {
    errors.push(`ecs.version: expected ${ref.ecs_version}, got ${JSON.stringify(leaves.get('ecs.version'))}`);
  }
  errors.push(...categoryTypeProblems(leaves.get('event.category'), leaves.get('event.type'), ref.event_category_expected_types));
  return errors;
}

/** Flattens the document to ECS field paths (dotted), reporting paths ECS does not define. */
function walk(v: unknown, at: string, fields: Record<string, FieldDef>, out: Map<string, unknown>, errors: string[]): void {
  if (at && FREE.includes(at.split('.')[0]!)) {
    if (at === 'labels') labelProblems(v, errors);
    return;
  }
  const def = at ? fields[at] : undefined;
  if (def) {
    out.set(at, v);
    return;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) walk(x, at ? `${at}.${k}` : k, fields, out, errors);
    return;
  }
  errors.push(`${at}: not an ECS field`);
}

/** ECS labels: a flat object of keyword values (no nesting, no dots in keys). */
function labelProblems(v: unknown, errors: string[]): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    errors.push('labels: expected an object of key/value pairs');
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (k.includes('.')) errors.push(`labels.${k}: label keys must not contain dots`);
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') errors.push(`labels.${k}: expected a scalar, got ${kind(x)}`);
  }
}

function typeProblem(def: FieldDef, v: unknown): string | undefined {
  const t = def.type;
  if (STRING_TYPES.has(t)) return typeof v === 'string' ? undefined : `${t} expects a string, got ${kind(v)}`;
  if (INTEGER_TYPES.has(t)) return typeof v === 'number' && Number.isSafeInteger(v) ? undefined : `${t} expects an integer, got ${kind(v)}`;
  if (NUMBER_TYPES.has(t)) return typeof v === 'number' && Number.isFinite(v) ? undefined : `${t} expects a number, got ${kind(v)}`;
  if (t === 'boolean') return typeof v === 'boolean' ? undefined : `boolean expected, got ${kind(v)}`;
  if (t === 'date') return typeof v === 'string' && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v)) ? undefined : `date expects an ISO 8601 string, got ${JSON.stringify(v)}`;
  if (t === 'ip') return typeof v === 'string' && net.isIP(v) !== 0 ? undefined : `ip expects an IPv4 or IPv6 address, got ${JSON.stringify(v)}`;
  if (OBJECT_TYPES.has(t)) return v !== null && typeof v === 'object' ? undefined : `${t} expects an object, got ${kind(v)}`;
  return `no check for ECS type ${t}`;
}

/**
 * ECS lists the event.type values each event.category expects. Every type given must be expected
 * by at least one of the categories, and every category must see at least one of its types
 * (so process + intrusion_detection needs start for the one and info for the other).
 */
function categoryTypeProblems(category: unknown, type: unknown, expected: Record<string, string[]>): string[] {
  if (category === undefined && type === undefined) return [];
  const cats = Array.isArray(category) ? category.map(String) : category === undefined ? [] : [String(category)];
  const types = Array.isArray(type) ? type.map(String) : type === undefined ? [] : [String(type)];
  const errors: string[] = [];
  if (cats.length === 0) errors.push('event.category: missing while event.type is set');
  if (types.length === 0) errors.push('event.type: missing while event.category is set');
  for (const t of types) {
    if (cats.length > 0 && !cats.some((c) => expected[c]?.includes(t))) errors.push(`event.type: ${t} is not expected for event.category ${cats.join(', ')}`);
  }
  for (const c of cats) {
    const want = expected[c];
    if (want && types.length > 0 && !types.some((t) => want.includes(t))) errors.push(`event.category: ${c} expects one of the types ${want.join(', ')}, got ${types.join(', ')}`);
  }
  return errors;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? `the string ${JSON.stringify(v)}` : typeof v;
}
