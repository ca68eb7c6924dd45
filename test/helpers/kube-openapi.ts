// Strict validation of Kubernetes objects against the schemas the API server itself publishes:
// built-in kinds against a release's OpenAPI v3 documents (api/v1, apis/<group>/<version>), custom
// kinds against their CRD's openAPIV3Schema. "Strict" is `kubectl apply --validate=strict`: a
// field the schema does not know is an error (the API server would drop it, or refuse it), as are
// a wrong type, a missing required field, a value outside an enum, a malformed quantity or base64
// string, an integer out of its format's range, and two entries of a list-type=map with one key.
// A null value counts as absent, as the API server decodes it.
//
// What schemas cannot say (a selector matching its template, a probe's handler count, admission)
// is not checked here.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { crdSchema } from './crd-validate.js';

type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
// <signedNumber><suffix>, the grammar in Quantity's own description.
const QUANTITY_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Ctx {
  /** `#/components/schemas/<name>` targets of the document the schema came from. */
  components: Record<string, Schema>;
  errors: string[];
}

/** The schemas of one Kubernetes release, read from `<dir>/<version>/{api,apis}/…json.gz`. */
export class KubeOpenApi {
  private readonly docs = new Map<string, Record<string, Schema>>();
  private readonly crds = new Map<string, { file: string }>();

  /**
   * @param dir the folder holding `<release>/api/v1.json.gz` and `<release>/apis/<group>/<v>.json.gz`
   * @param release e.g. '1.30'
   * @param crdFiles CRD files for custom kinds (their group, kinds and served versions are read from them)
   */
  constructor(private readonly dir: string, readonly release: string, crdFiles: string[] = []) {
    for (const file of crdFiles) {
      const crd = parseYaml(readFileSync(file, 'utf8')) as Obj;
      for (const v of (crd.spec?.versions ?? []) as Obj[]) {
        if (v.served) this.crds.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, { file });
      }
    }
  }

  /** Every problem with `obj`, each with its path (`spec.template.spec.containers[0].foo: …`). */
  validate(obj: Obj): string[] {
    const apiVersion = obj?.apiVersion;
    const kind = obj?.kind;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['(object): apiVersion and kind are required'];
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') as [string, string] : ['', apiVersion];
    const crd = this.crds.get(`${group}/${version}/${kind}`);
    if (crd) return this.validateCustom(obj, crd.file, version);
    const components = this.document(group, version);
    if (!components) return [`${apiVersion} ${kind}: no schema for ${apiVersion} in Kubernetes ${this.release} (nor a CRD)`];
    const name = Object.keys(components).find((n) => (components[n]!['x-kubernetes-group-version-kind'] as Obj[] | undefined)
      ?.some((g) => g.group === group && g.version === version && g.kind === kind));
    if (!name) return [`${apiVersion} ${kind}: Kubernetes ${this.release} has no such kind`];
    const ctx: Ctx = { components, errors: [] };
    check(obj, components[name]!, '', ctx);
    return ctx.errors;
  }

  /** A custom object: its CRD's schema, with metadata checked as the ObjectMeta it always is. */
  private validateCustom(obj: Obj, file: string, version: string): string[] {
    const schema = crdSchema(file, version);
    const components = this.document('', 'v1') ?? {};
    const ctx: Ctx = { components, errors: [] };
    const meta = components[OBJECT_META];
    const withMeta = meta ? { ...schema, properties: { ...schema.properties, metadata: { $ref: `#/components/schemas/${OBJECT_META}` } } } : schema;
    check(obj, withMeta, '', ctx);
    return ctx.errors;
  }

  private document(group: string, version: string): Record<string, Schema> | undefined {
    const rel = group ? path.join('apis', group, `${version}.json.gz`) : path.join('api', `${version}.json.gz`);
    if (!this.docs.has(rel)) {
      let doc: Obj;
      try {
        doc = JSON.parse(gunzipSync(readFileSync(path.join(this.dir, this.release, rel))).toString('utf8')) as Obj;
      } catch {
        return undefined;
      }
      this.docs.set(rel, doc.components.schemas as Record<string, Schema>);
    }
    return this.docs.get(rel);
  }
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function at(p: string): string {
  return p || '(object)';
}

/** Follow `$ref` and single-element `allOf` wrappers (how the v3 documents nest every reference). */
function resolve(s: Schema, ctx: Ctx): { schema: Schema; refName?: string } {
  let cur = s;
  let refName: string | undefined;
  for (let i = 0; i < 32; i++) {
    if (typeof cur.$ref === 'string') {
      refName = cur.$ref.replace('#/components/schemas/', '');
      const target = ctx.components[refName];
      if (!target) throw new Error(`schema reference ${cur.$ref} not found`);
      cur = target;
    } else if (Array.isArray(cur.allOf) && cur.allOf.length === 1 && !cur.type && !cur.properties) {
      cur = cur.allOf[0] as Schema;
    } else {
      break;
    }
  }
  return { schema: cur, refName };
}

function check(v: unknown, raw: Schema, p: string, ctx: Ctx): void {
  const { schema: s, refName } = resolve(raw, ctx);
  if (Array.isArray(s.allOf) && s.allOf.length > 1) {
    for (const part of s.allOf as Schema[]) check(v, part, p, ctx);
  }
  if (refName === QUANTITY) {
    if (typeof v === 'number') return;
    if (typeof v !== 'string' || !QUANTITY_TEXT.test(v)) ctx.errors.push(`${at(p)}: ${JSON.stringify(v)} is not a quantity`);
    return;
  }
  if (s.format === 'int-or-string' || s['x-kubernetes-int-or-string'] === true) {
    const t = typeOf(v);
    if (t !== 'integer' && t !== 'string') ctx.errors.push(`${at(p)}: expected an integer or a string, got ${t}`);
    return;
  }
  const alternatives = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
  if (alternatives && !s.type) {
    const fits = alternatives.some((alt) => {
      const sub: Ctx = { components: ctx.components, errors: [] };
      check(v, alt, p, sub);
      return sub.errors.length === 0;
    });
    if (!fits) ctx.errors.push(`${at(p)}: ${JSON.stringify(v)} matches none of the allowed forms`);
    return;
  }
  if (s.type) {
    const t = typeOf(v);
    const ok = t === s.type || (s.type === 'number' && t === 'integer');
    if (!ok) {
      ctx.errors.push(`${at(p)}: expected ${s.type}, got ${t}`);
      return;
    }
  }
  if (Array.isArray(s.enum) && !s.enum.includes(v)) ctx.errors.push(`${at(p)}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof v === 'number') checkNumber(v, s, p, ctx);
  if (typeof v === 'string') checkString(v, s, p, ctx);
  if (Array.isArray(v)) checkArray(v, s, p, ctx);
  else if (typeOf(v) === 'object') checkObject(v as Obj, s, p, ctx);
}

function checkNumber(v: number, s: Schema, p: string, ctx: Ctx): void {
  if (s.format === 'int32' && (v < -(2 ** 31) || v >= 2 ** 31)) ctx.errors.push(`${at(p)}: ${v} is out of int32 range`);
  if (s.format === 'int64' && !Number.isSafeInteger(v)) ctx.errors.push(`${at(p)}: ${v} is not a safe int64`);
  if (typeof s.minimum === 'number' && v < s.minimum) ctx.errors.push(`${at(p)}: below the minimum ${s.minimum}`);
  if (typeof s.maximum === 'number' && v > s.maximum) ctx.errors.push(`${at(p)}: above the maximum ${s.maximum}`);
}

function checkString(v: string, s: Schema, p: string, ctx: Ctx): void {
  // Go's base64 decoder skips line breaks (kustomize wraps long values in a block scalar).
  if (s.format === 'byte' && !BASE64.test(v.replace(/[\r\n]/g, ''))) ctx.errors.push(`${at(p)}: not base64`);
  if (s.format === 'date-time' && Number.isNaN(Date.parse(v))) ctx.errors.push(`${at(p)}: not a date-time`);
  if (typeof s.minLength === 'number' && v.length < s.minLength) ctx.errors.push(`${at(p)}: shorter than ${s.minLength}`);
  if (typeof s.maxLength === 'number' && v.length > s.maxLength) ctx.errors.push(`${at(p)}: longer than ${s.maxLength}`);
  if (typeof s.pattern === 'string') {
    // CRD patterns are RE2; a leading (?i) is a flag there and in JavaScript.
    const caseless = s.pattern.startsWith('(?i)');
    const re = new RegExp(caseless ? s.pattern.slice(4) : s.pattern, caseless ? 'iu' : 'u');
    if (!re.test(v)) ctx.errors.push(`${at(p)}: ${JSON.stringify(v)} does not match ${s.pattern}`);
  }
}

function checkArray(v: unknown[], s: Schema, p: string, ctx: Ctx): void {
  if (typeof s.minItems === 'number' && v.length < s.minItems) ctx.errors.push(`${at(p)}: fewer than ${s.minItems} items`);
  if (typeof s.maxItems === 'number' && v.length > s.maxItems) ctx.errors.push(`${at(p)}: more than ${s.maxItems} items`);
  if (s.items) v.forEach((x, i) => check(x, s.items as Schema, `${p}[${i}]`, ctx));
  const listType = s['x-kubernetes-list-type'];
  if (listType === 'set') {
    const seen = new Set<string>();
    for (const x of v) {
      const k = JSON.stringify(x);
      if (seen.has(k)) ctx.errors.push(`${at(p)}: ${k} is listed twice (list-type set)`);
      seen.add(k);
    }
  } else if (listType === 'map' && Array.isArray(s['x-kubernetes-list-map-keys'])) {
    // Entries are identified by their keys, a missing key taking its default (a port's protocol: TCP).
    const item = s.items ? resolve(s.items as Schema, ctx).schema : {};
    const keys = s['x-kubernetes-list-map-keys'] as string[];
    const seen = new Set<string>();
    v.forEach((x, i) => {
      const id = JSON.stringify(keys.map((k) => (x as Obj)?.[k] ?? resolve(item.properties?.[k] ?? {}, ctx).schema.default ?? item.properties?.[k]?.default ?? null));
      if (seen.has(id)) ctx.errors.push(`${p}[${i}]: another entry has the same ${keys.join('+')} ${id} (list-type map)`);
      seen.add(id);
    });
  }
}

function checkObject(o: Obj, s: Schema, p: string, ctx: Ctx): void {
  for (const r of (s.required as string[] | undefined) ?? []) {
    if (o[r] === undefined || o[r] === null) ctx.errors.push(`${p ? `${p}.` : ''}${r}: required`);
  }
  if (typeof s.maxProperties === 'number' && Object.keys(o).length > s.maxProperties) ctx.errors.push(`${at(p)}: more than ${s.maxProperties} fields`);
  if (s['x-kubernetes-preserve-unknown-fields'] === true && !s.properties) return;
  // An object without properties or additionalProperties is free-form (RawExtension, FieldsV1).
  if (!s.properties && s.additionalProperties === undefined) return;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  for (const [k, x] of Object.entries(o)) {
    const fp = p ? `${p}.${k}` : k;
    if (x === null) continue; // absent, as the API server reads it
    if (s.properties?.[k]) check(x, s.properties[k] as Schema, fp, ctx);
    else if (embedded && (k === 'apiVersion' || k === 'kind' || k === 'metadata')) continue;
    else if (typeof s.additionalProperties === 'object') check(x, s.additionalProperties as Schema, fp, ctx);
    else if (s.additionalProperties !== true && s['x-kubernetes-preserve-unknown-fields'] !== true) ctx.errors.push(`${fp}: unknown field`);
  }
}
