// Configuration for every nodewarden process: a YAML file, then environment variables, then
// command-line flags (each overriding the one before), validated once at start. Unknown keys
// are refused and every error names its path, e.g. `agent.spool.maxBytes: expected a number`.

import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { NwError } from './errors.js';
import { parseDuration } from './duration.js';

const hostPort = z.string().regex(/^(\[[^\]]*\]|[^:\s]*):\d{1,5}$/, 'expected HOST:PORT');
/** A duration as milliseconds or text (`90s`, `30m`, `12h`, `7d`), kept as milliseconds. */
const duration = z.union([z.number().int().min(0), z.string()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 90s, 30m, 12h or 7d, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});
/** Flags and environment variables arrive as text. */
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0'])]).transform((v) => v === true || v === 'true' || v === '1');
const path = z.string().min(1);
/** A list that an environment variable gives as one comma-separated string. */
const commaList = <T extends z.ZodType>(list: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), list);
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
  /**
   * Plaintext gRPC between agent, central and their clients. Only with this explicit switch:
   * without it every process refuses to start without TLS material (`nodewarden run` stays on
   * loopback in one process and needs none).
   */
  insecure: flag.default(false),
  /**
   * The Kubernetes API server: TokenReview on central; the node's pods and Node object, and the
   * PolicyReport, on the agent. Default: in-cluster (the pod's service account), then $KUBECONFIG.
   */
  kube: z.strictObject({
    kubeconfig: path.optional(),
    /** The agent publishes its node's posture results as a ClusterPolicyReport (wgpolicyk8s.io/v1alpha2). */
    policyReport: flag.default(true),
  }).prefault({}),
  /** Rule packs: user folders besides the built-in ones (also --rules DIR, repeatable). */
  rules: z.strictObject({
    /** Folders of YAML packs, read after the built-in packs in this order. The environment gives them colon-separated. */
    dirs: z.union([z.array(path), z.string()]).transform((v) => (typeof v === 'string' ? v.split(':').filter(Boolean) : v)).default([]),
    /** Identical detections within this window are folded into one with a count. */
    repeatWindowMs: z.number().int().min(100).default(60_000),
    /** Process baselines per workload (rule process.unexpected-process). */
    baselines: z.strictObject({
      enabled: flag.default(true),
      /** How long a workload's baseline learns after its first exec. */
      learnFor: duration.default(3_600_000),
      maxWorkloads: z.number().int().min(1).default(10_000),
      /** Executables kept per workload; past it the baseline is marked full. */
      maxExecutables: z.number().int().min(1).default(1_000),
    }).prefault({}),
  }).prefault({}),
  agent: z.strictObject({
    /** Central's Ingest address. */
    central: hostPort.default('127.0.0.1:7443'),
    /** How the agent checks central (ca) and, with cert and key, proves its node (mTLS). */
    tls: z.strictObject({
      ca: path.optional(),
      cert: path.optional(),
      key: path.optional(),
      /** The name central's certificate must carry, when it differs from agent.central's host. */
      serverName: z.string().min(1).optional(),
    }).prefault({}).refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key go together', path: ['cert'] }),
    /** The projected service account token file (audience nodewarden): the agent's Kubernetes identity. */
    token: path.optional(),
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
    /**
     * Feed and Query on an address of their own, so a network policy can keep readers and agents
     * apart; unset, they share `listen` with Ingest.
     */
    readListen: hostPort.optional(),
    http: hostPort.default('127.0.0.1:9465'),
    dataDir: z.string().min(1).default('/var/lib/nodewarden/central'),
    /** Append every stored event to this file as JSON lines ('-' for stdout): a jsonl sink's shorthand. */
    jsonl: z.string().optional(),
    /** Sinks: each `{ name, type, filter?, batch?, retry?, timeoutMs?, ...its type's keys }`, validated by its type at start. */
    sinks: z.array(z.record(z.string(), z.unknown())).default([]),
    /** Central's certificate, and the CA whose client certificates name nodes and operators. */
    tls: z.strictObject({
      cert: path.optional(),
      key: path.optional(),
      clientCa: path.optional(),
    }).prefault({}).refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key go together', path: ['cert'] }),
    /** Agents (and operators) proving themselves with Kubernetes service account tokens. */
    tokenReview: z.strictObject({
      /** Default: on when central runs in a cluster or kube.kubeconfig is set. */
      enabled: flag.optional(),
      audience: z.string().min(1).default('nodewarden'),
      /** The agent's service accounts, as NAMESPACE:NAME. */
      serviceAccounts: commaList(z.array(z.string().regex(/^[^:\s]+:[^:\s]+$/, 'expected NAMESPACE:NAME'))).default(['nodewarden:nodewarden-agent']),
      /** Who may read (Query, Feed) with a token: user names, NAMESPACE:NAME service accounts, or group:NAME. */
      readers: commaList(z.array(z.string().min(1))).default([]),
    }).prefault({}),
    /** Fair share per node identity, enforced by withholding acknowledgements (never by dropping). */
    limits: z.strictObject({
      eventsPerSecond: z.number().int().min(1).default(2_000),
      burst: z.number().int().min(1).default(10_000),
      /** Bytes per second per node (a few huge events must not fill the disk on an events budget); burst: 5 s. */
      bytesPerSecond: z.number().int().min(64 * 1024).default(16 * 1024 * 1024),
    }).prefault({}),
    /** How long and how much the event log keeps; undelivered events are kept unless maxBytes forces. */
    retention: z.strictObject({
      maxAge: duration.default(30 * 86_400_000),
      maxBytes: z.number().int().min(1024 * 1024).default(10 * 1024 * 1024 * 1024),
      intervalMs: z.number().int().min(1_000).default(60_000),
    }).prefault({}),
    /** /readyz fails when the event log's file system has less free space than this. */
    minFreeDiskBytes: z.number().int().min(0).default(256 * 1024 * 1024),
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
  NODEWARDEN_INSECURE: 'insecure',
  NODEWARDEN_RULES: 'rules.dirs',
  NODEWARDEN_CENTRAL: 'agent.central',
  NODEWARDEN_TLS_CA: 'agent.tls.ca',
  NODEWARDEN_TLS_CERT: 'agent.tls.cert',
  NODEWARDEN_TLS_KEY: 'agent.tls.key',
  NODEWARDEN_TLS_SERVER_NAME: 'agent.tls.serverName',
  NODEWARDEN_TOKEN: 'agent.token',
  NODEWARDEN_AGENT_HTTP: 'agent.http',
  NODEWARDEN_LISTEN: 'central.listen',
  NODEWARDEN_READ_LISTEN: 'central.readListen',
  NODEWARDEN_CENTRAL_HTTP: 'central.http',
  NODEWARDEN_DATA_DIR: 'central.dataDir',
  NODEWARDEN_JSONL: 'central.jsonl',
  NODEWARDEN_CENTRAL_TLS_CERT: 'central.tls.cert',
  NODEWARDEN_CENTRAL_TLS_KEY: 'central.tls.key',
  NODEWARDEN_CENTRAL_TLS_CLIENT_CA: 'central.tls.clientCa',
  NODEWARDEN_TOKEN_REVIEW: 'central.tokenReview.enabled',
  NODEWARDEN_TOKEN_AUDIENCE: 'central.tokenReview.audience',
  NODEWARDEN_TOKEN_SERVICE_ACCOUNTS: 'central.tokenReview.serviceAccounts',
  NODEWARDEN_TOKEN_READERS: 'central.tokenReview.readers',
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
