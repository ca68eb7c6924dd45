// A validator for OCSF documents written against the compact OCSF schema snapshot
// (shared ref ocsf/schema.json: classes and objects with their attributes, requirement levels,
// profiles, enums, types and constraints). It reports every problem with its path:
// unknown attributes at any depth (except inside `object`-typed and json_t values, which OCSF
// leaves open), missing required attributes, enum values the enum lacks, enum captions that do
// not match, wrong types, deprecated attributes, attributes of undeclared profiles, and the
// objects' at_least_one / just_one constraints.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';

/** One attribute in the snapshot's compact form. */
interface AttrSpec {
  /** A scalar type (string_t, integer_t, timestamp_t, …). */
  t?: string;
  /** An object type (a key of `objects`; `object` means any object). */
  o?: string;
  /** 1 when the attribute is an array of its type. */
  a?: number;
  /** Requirement: required or recommended (optional when absent). */
  r?: 'required' | 'recommended';
  /** Profiles that add the attribute: it may appear only when one is declared. */
  p?: string[];
  /** Index of its enum in `enums`. */
  e?: number;
  /** The sibling attribute holding the enum value's caption. */
  s?: string;
  /** Deprecation note. */
  d?: string;
}

interface Constraints {
  at_least_one?: string[];
  just_one?: string[];
}

interface ObjectSpec {
  caption: string;
  extends: string | null;
  attrs: Record<string, AttrSpec>;
  constraints?: Constraints;
  d?: string;
}

interface ClassSpec extends ObjectSpec {
  name: string;
  category_uid: number;
  profiles: string[];
}

interface TypeSpec {
  base: string | null;
  regex?: string;
  max_len?: number;
  range?: [number, number];
  values?: unknown[];
}

export interface OcsfSchema {
  version: string;
  types: Record<string, TypeSpec>;
  profiles: Record<string, string>;
  enums: Record<string, string>[];
  classes: Record<string, ClassSpec>;
  objects: Record<string, ObjectSpec>;
}

/** The snapshot: $NW_OCSF_SCHEMA, else the copy of the published OCSF 1.8.0 schema in test/fixtures/ref. */
export function loadOcsfSchema(): OcsfSchema {
  const candidates = [process.env.NW_OCSF_SCHEMA, path.join(repoRoot, 'test', 'fixtures', 'ref', 'ocsf-1.8.0.schema.json')].filter((p): p is string => !!p);
  const file = candidates.find((p) => existsSync(p));
  if (!file) throw new Error(`OCSF schema snapshot not found (looked at ${candidates.join(', ')}); set NW_OCSF_SCHEMA`);
  return JSON.parse(readFileSync(file, 'utf8')) as OcsfSchema;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const present = (v: unknown): boolean => v !== undefined && v !== null;

/** Every problem with `doc` as an event of its class_uid; empty when it is valid. */
export function validateOcsf(doc: unknown, schema: OcsfSchema): string[] {
  const errors: string[] = [];
  if (!isObject(doc)) return ['the document is not a JSON object'];
  const classUid = doc.class_uid;
  const cls = typeof classUid === 'number' ? schema.classes[String(classUid)] : undefined;
  if (!cls || typeof classUid !== 'number') return [`class_uid: ${JSON.stringify(classUid)} is not a class of OCSF ${schema.version}`];
  if (cls.d) errors.push(`class_uid: class ${cls.name} is deprecated (${cls.d})`);

  const metadata = isObject(doc.metadata) ? doc.metadata : {};
  const declared = Array.isArray(metadata.profiles) ? metadata.profiles.filter((p): p is string => typeof p === 'string') : [];
  for (const p of declared) {
    if (!cls.profiles.includes(p)) errors.push(`metadata.profiles: ${p} is not a profile of class ${cls.name}`);
  }
  const v = new Validator(schema, new Set(declared), errors);
  v.object('', doc, cls);

  // Relations between the class's own attributes.
  if (doc.category_uid !== cls.category_uid) errors.push(`category_uid: ${JSON.stringify(doc.category_uid)}, class ${cls.name} is in category ${cls.category_uid}`);
  if (typeof doc.activity_id === 'number' && doc.type_uid !== classUid * 100 + doc.activity_id) {
    errors.push(`type_uid: ${JSON.stringify(doc.type_uid)}, expected class_uid × 100 + activity_id = ${classUid * 100 + doc.activity_id}`);
  }
  if (metadata.version !== undefined && metadata.version !== schema.version) errors.push(`metadata.version: ${JSON.stringify(metadata.version)}, the schema is ${schema.version}`);
  return errors;
}

class Validator {
  constructor(private readonly schema: OcsfSchema, private readonly profiles: Set<string>, private readonly errors: string[]) {}

  private inProfile(spec: AttrSpec): boolean {
    return !spec.p || spec.p.some((p) => this.profiles.has(p));
  }

  object(where: string, value: Json, spec: ObjectSpec): void {
    const at = (k: string) => (where ? `${where}.${k}` : k);
    for (const [key, val] of Object.entries(value)) {
      const attr = spec.attrs[key];
      if (!attr) {
        this.errors.push(`${at(key)}: unknown attribute of ${spec.caption}`);
        continue;
      }
      if (!this.inProfile(attr)) this.errors.push(`${at(key)}: belongs to profile ${attr.p!.join(' or ')}, not declared in metadata.profiles`);
      if (attr.d) this.errors.push(`${at(key)}: deprecated (${attr.d})`);
      if (!present(val)) continue;
      this.attribute(at(key), val, attr, value);
    }
    for (const [key, attr] of Object.entries(spec.attrs)) {
      // A profile's required attribute is required only when the profile is declared.
      if (attr.r === 'required' && (!attr.p || this.inProfile(attr)) && !present(value[key])) {
        this.errors.push(`${at(key)}: required by ${spec.caption}, missing`);
      }
    }
    const c = spec.constraints;
    if (c?.at_least_one && !c.at_least_one.some((p) => present(lookup(value, p)))) {
      this.errors.push(`${where || '(event)'}: ${spec.caption} needs at least one of ${c.at_least_one.join(', ')}`);
    }
    if (c?.just_one && c.just_one.filter((p) => present(lookup(value, p))).length !== 1) {
      this.errors.push(`${where || '(event)'}: ${spec.caption} needs exactly one of ${c.just_one.join(', ')}`);
    }
  }

  private attribute(where: string, val: unknown, attr: AttrSpec, parent: Json): void {
    if (attr.a) {
      if (!Array.isArray(val)) {
        this.errors.push(`${where}: expected an array`);
        return;
      }
      val.forEach((item, i) => this.single(`${where}[${i}]`, item, attr, parent, false));
      return;
    }
    if (Array.isArray(val)) {
      this.errors.push(`${where}: expected a single value, not an array`);
      return;
    }
    this.single(where, val, attr, parent, true);
  }

  private single(where: string, val: unknown, attr: AttrSpec, parent: Json, checkSibling: boolean): void {
    if (attr.o) {
      if (!isObject(val)) {
        this.errors.push(`${where}: expected an object (${attr.o})`);
        return;
      }
      if (attr.o === 'object') return; // OCSF's open object: anything goes (unmapped, xattributes)
      const spec = this.schema.objects[attr.o];
      if (!spec) {
        this.errors.push(`${where}: object type ${attr.o} is not in the snapshot`);
        return;
      }
      if (spec.d) this.errors.push(`${where}: object ${attr.o} is deprecated (${spec.d})`);
      this.object(where, val, spec);
      return;
    }
    if (attr.t) this.scalar(where, val, attr.t);
    if (attr.e !== undefined) {
      const values = this.schema.enums[attr.e] ?? {};
      const caption = values[String(val)];
      if (caption === undefined) {
        this.errors.push(`${where}: ${JSON.stringify(val)} is not one of ${Object.keys(values).join(', ')}`);
      } else if (checkSibling && attr.s) {
        // The caption sibling: required for Other (99), the enum's caption when given otherwise.
        const sibling = parent[attr.s];
        const at = where.replace(/[^.]+$/, attr.s);
        if (String(val) === '99') {
          if (typeof sibling !== 'string' || sibling === '') this.errors.push(`${at}: required when ${where} is 99 (Other)`);
        } else if (present(sibling) && sibling !== caption) {
          this.errors.push(`${at}: ${JSON.stringify(sibling)} does not match ${where} ${JSON.stringify(val)} (${caption})`);
        }
      }
    }
  }

  private scalar(where: string, val: unknown, typeName: string): void {
    const chain: TypeSpec[] = [];
    let root = typeName;
    for (let t: string | null = typeName; t; ) {
      const spec: TypeSpec | undefined = this.schema.types[t];
      if (!spec) {
        this.errors.push(`${where}: type ${t} is not in the snapshot`);
        return;
      }
      chain.push(spec);
      root = t;
      t = spec.base;
    }
    const bad = (what: string): void => void this.errors.push(`${where}: ${JSON.stringify(val)} is not ${what} (${typeName})`);
    switch (root) {
      case 'string_t':
        if (typeof val !== 'string') return bad('a string');
        break;
      case 'integer_t':
        // OCSF's integer is 32-bit signed; long_t holds the rest.
        if (typeof val !== 'number' || !Number.isInteger(val) || val < -(2 ** 31) || val > 2 ** 31 - 1) return bad('a 32-bit integer');
        break;
      case 'long_t':
        if (typeof val !== 'number' || !Number.isSafeInteger(val)) return bad('a 64-bit integer');
        break;
      case 'float_t':
        if (typeof val !== 'number' || !Number.isFinite(val)) return bad('a number');
        break;
      case 'boolean_t':
        if (typeof val !== 'boolean') return bad('a boolean');
        break;
      case 'json_t':
        return;
      default:
        return bad(`a known kind of value (base ${root})`);
    }
    for (const spec of chain) {
      if (spec.regex && typeof val === 'string' && !new RegExp(spec.regex).test(val)) return bad(`matching ${spec.regex}`);
      if (spec.max_len !== undefined && typeof val === 'string' && val.length > spec.max_len) return bad(`at most ${spec.max_len} characters`);
      if (spec.range && typeof val === 'number' && (val < spec.range[0] || val > spec.range[1])) return bad(`in ${spec.range[0]}..${spec.range[1]}`);
    }
  }
}

/** `a.b.c` inside an object (constraints may name nested attributes). */
function lookup(value: Json, dotted: string): unknown {
  let cur: unknown = value;
  for (const part of dotted.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}
