// Validation of `central.sinks`: the keys every sink has, then its type's own keys (from its
// factory's schema), each entry strict; every error is reported at once with its path
// (`central.sinks.2.url: …`). Pure: no I/O (secrets are read when a sink sends).

import { z } from 'zod';
import { NwError } from '../../core/errors.js';
import type { CommonSinkConfig, SinkFactory } from './sink.js';
import { fileCursor } from './file/file-sink.js';

const severity = z.enum(['info', 'low', 'medium', 'high', 'critical']);
const source = z.enum(['posture', 'runtime', 'process', 'agent', 'kube', 'central']);

export const commonSinkShape = {
  /** Unique: names the sink's cursor and its metrics. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected letters, digits, ".", "_" or "-" (at most 63)'),
  type: z.string(),
  enabled: z.boolean().default(true),
  filter: z.strictObject({
    minSeverity: severity.optional(),
    sources: z.array(source).optional(),
    namespaces: z.array(z.string().min(1)).optional(),
    rules: z.array(z.string().min(1)).optional(),
  }).default({}),
  batch: z.strictObject({ maxEvents: z.number().int().min(1).max(10_000).default(500) }).prefault({}),
  retry: z.strictObject({
    initialMs: z.number().int().min(10).default(500),
    maxMs: z.number().int().min(100).default(60_000),
  }).prefault({}),
  timeoutMs: z.number().int().min(100).default(10_000),
};

export type ValidSinks = { ok: true; sinks: (CommonSinkConfig & Record<string, unknown>)[] } | { ok: false; errors: string[] };

export function validateSinks(raw: unknown[], factories: ReadonlyMap<string, SinkFactory>, path = 'central.sinks'): ValidSinks {
  const errors: string[] = [];
  const sinks: (CommonSinkConfig & Record<string, unknown>)[] = [];
  const names = new Set<string>();
  raw.forEach((entry, i) => {
    const at = `${path}.${i}`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      errors.push(`${at}: expected a mapping with name and type`);
      return;
    }
    const type = (entry as { type?: unknown }).type;
    const factory = typeof type === 'string' ? factories.get(type) : undefined;
    if (!factory) {
      errors.push(`${at}.type: expected one of ${[...factories.keys()].join(', ')}, got ${JSON.stringify(type)}`);
      return;
    }
    const schema = (factory.schema as unknown as z.ZodObject).extend(commonSinkShape);
    const parsed = schema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push(`${[at, ...issue.path].join('.')}: ${issue.message}`);
      return;
    }
    const sink = parsed.data as CommonSinkConfig & Record<string, unknown>;
    if (names.has(sink.name)) errors.push(`${at}.name: ${sink.name} is used by another sink (names are cursors: they must be unique)`);
    names.add(sink.name);
    if (sink.retry.maxMs < sink.retry.initialMs) errors.push(`${at}.retry.maxMs: must be at least retry.initialMs`);
    sinks.push(sink);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, sinks };
}

/** One sink as configured and validated: the common keys and its type's own. */
export type SinkConfig = CommonSinkConfig & Record<string, unknown>;

/**
 * The sinks central runs: `central.sinks` validated (every error at once), the disabled ones
 * left out, and `--jsonl FILE` as a jsonl sink. Throws NW_ERR_CONFIG naming every problem. Pure:
 * what needs I/O (a CA file, a secret) is checked when the sink thread creates the sinks.
 */
export function sinkConfigs(central: { sinks: unknown[]; jsonl?: string | undefined }, factories: ReadonlyMap<string, SinkFactory>): SinkConfig[] {
  const valid = validateSinks(central.sinks, factories);
  if (!valid.ok) throw new NwError('NW_ERR_CONFIG', `invalid sink configuration:\n  ${valid.errors.join('\n  ')}`);
  const configs = valid.sinks.filter((s) => s.enabled);
  // Two file sinks writing one file would cut each other's lines: one file, one sink.
  const files = new Map<string, string>();
  for (const sc of configs) {
    if (typeof sc.path !== 'string') continue;
    const cursor = fileCursor('file', sc.path);
    const other = files.get(cursor);
    if (other) throw new NwError('NW_ERR_CONFIG', `invalid sink configuration:\n  central.sinks: ${sc.name} and ${other} both write ${sc.path}`);
    files.set(cursor, sc.name);
  }
  if (central.jsonl && !files.has(fileCursor('file', central.jsonl))) {
    // The shorthand's cursor is the one it always had (`jsonl:<file>`): an upgrade rewrites nothing.
    configs.push({
      name: configs.some((s) => s.name === 'jsonl') ? 'jsonl-flag' : 'jsonl', type: 'jsonl', path: central.jsonl, enabled: true, filter: {},
      batch: { maxEvents: 1000 }, retry: { initialMs: 500, maxMs: 60_000 }, timeoutMs: 10_000,
    });
  }
  return configs;
}
