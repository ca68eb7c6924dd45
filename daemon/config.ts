// Configuration for every nodewarden process: a YAML file, then environment variables, then
// command-line flags (each overriding the one before), validated once at start. Unknown keys
// are refused and every error names its path, e.g. `agent.spool.maxBytes: expected a number`.

import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NwError } from './errors.js';

const hostPort = z.string().regex(/^(\[[^\]]*\]|[^:\s]*):\d{1,5}$/, 'expected HOST:PORT');
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z.strictObject({
  /** Node name put on every event (the Kubernetes node name in a DaemonSet: use the downward API). */
  node: z.string().min(1).default(os.hostname()),
  cluster: z.string().default(''),
  /** Where the host's filesystem is mounted (/host in the DaemonSet). */
  hostRoot: z.string().min(1).default('/'),
  /** The agent's spool, identity and finding state. */
  stateDir: z.string().min(1).default('/var/lib/nodewarden'),
  logLevel: logLevel.default('info'),
  agent: z.strictObject({
    /** Central's Ingest address. */
    central: hostPort.default('127.0.0.1:7443'),
    /** /metrics, /healthz, /readyz of the agent. */
    http: hostPort.default('127.0.0.1:9464'),
    spool: z.strictObject({
      maxBytes: z.number().int().min(1024 * 1024).default(512 * 1024 * 1024),
      segmentBytes: z.number().int().min(64 * 1024).default(8 * 1024 * 1024),
    }).prefault({}).refine((s) => s.maxBytes >= 2 * s.segmentBytes, {
      // The cap drops whole segments: below two, it would drop what is still being sent.
      message: 'maxBytes must be at least twice segmentBytes',
      path: ['maxBytes'],
    }),
    /** Per collector: `enabled` plus the collector's own options (validated by its factory). */
    collectors: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  }).prefault({}),
  central: z.strictObject({
    listen: hostPort.default('0.0.0.0:7443'),
    http: hostPort.default('127.0.0.1:9465'),
    dataDir: z.string().min(1).default('/var/lib/nodewarden/central'),
    /** Append every stored event to this file as JSON lines ('-' for stdout). */
    jsonl: z.string().optional(),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;

/** Environment variables and the config key each one sets. */
export const ENVIRONMENT: Record<string, string> = {
  NODEWARDEN_NODE: 'node',
  NODEWARDEN_CLUSTER: 'cluster',
  NODEWARDEN_HOST_ROOT: 'hostRoot',
  NODEWARDEN_STATE_DIR: 'stateDir',
  NODEWARDEN_LOG_LEVEL: 'logLevel',
  NODEWARDEN_CENTRAL: 'agent.central',
  NODEWARDEN_AGENT_HTTP: 'agent.http',
  NODEWARDEN_LISTEN: 'central.listen',
  NODEWARDEN_CENTRAL_HTTP: 'central.http',
  NODEWARDEN_DATA_DIR: 'central.dataDir',
  NODEWARDEN_JSONL: 'central.jsonl',
};

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Dotted keys from flags, e.g. { 'hostRoot': '/host', 'central.jsonl': 'out.jsonl' }. */
  overrides?: Record<string, unknown>;
}

export function loadConfig(src: ConfigSources): Config {
  let raw: Record<string, unknown> = {};
  if (src.file) {
    let text: string;
    try {
      text = readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `cannot read the config file ${src.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const doc = parseYaml(text) as unknown;
      if (doc !== null && doc !== undefined) {
        if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the top level must be a mapping');
        raw = doc as Record<string, unknown>;
      }
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `${src.file}: not valid YAML: ${(err as Error).message}`, { cause: err });
    }
  }
  const env = src.env ?? {};
  for (const [name, key] of Object.entries(ENVIRONMENT)) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, key, v);
  }
  for (const [key, v] of Object.entries(src.overrides ?? {})) {
    if (v !== undefined) setPath(raw, key, v);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new NwError('NW_ERR_CONFIG', `invalid configuration${src.file ? ` in ${src.file}` : ''}:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = value;
}
