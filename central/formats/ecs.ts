// A stored event as an Elastic Common Schema (ECS 9.4.0) document, for the Elasticsearch sink and
// any receiver that speaks ECS. Pure and deterministic: the same event and host facts give the
// same document. ECS fields carry what ECS has a name for; the rest goes under `nodewarden.*`.
//
// Categorisation (checked against ECS's allowed category ↔ type pairs by the tests):
//   source            event.category                      event.type (open | resolved)
//   process           process (+ intrusion_detection)     start, info | change
//   posture, kube     configuration (+ file with a file)  info | change
//   runtime           configuration, or host for the      info | change
//                     runtime's own availability
//   agent, central    host                                info | change
// event.kind is `alert` for every detection and open finding (each is the output of a rule someone
// should look at) and `event` for a resolution: it closes an alert, it is not a new one, and SIEMs
// that promote `kind: alert` documents to alerts (Elastic's external alerts) would otherwise raise
// one for every fix. event.outcome is left out: ECS reserves it for events with a success or
// failure of their own, and a finding of type info has none. event.created is left out too: the
// agent stamps an event once, and ECS says to keep only @timestamp when the two would be equal.
// The agent id and sequence use ECS's own agent.id and event.sequence; rule.name is the rule id
// (ECS's example is a signature name) and rule.description the event's title.

import path from 'node:path';
import type { HostFacts } from '../../core/host-facts.js';
import { severityName, sourceName, stateName } from '../../core/event.js';
import { nodewarden } from '../../gen/nodewarden.js';
import type { SinkEvent } from '../sinks/sink.js';
import { isLong, isoTime, longNanosToMs } from './time.js';

const pb = nodewarden.v1;

export const ECS_VERSION = '9.4.0';

type Doc = Record<string, unknown>;

/** Elastic Security's default risk score for each severity (low 21, medium 47, high 73, critical 99). */
const RISK_SCORE: Record<number, number> = {
  [pb.Severity.SEVERITY_LOW]: 21,
  [pb.Severity.SEVERITY_MEDIUM]: 47,
  [pb.Severity.SEVERITY_HIGH]: 73,
  [pb.Severity.SEVERITY_CRITICAL]: 99,
};

const RULE_CATEGORY: Record<number, string> = {
  [pb.Source.SOURCE_POSTURE]: 'Node posture',
  [pb.Source.SOURCE_RUNTIME]: 'Container runtime',
  [pb.Source.SOURCE_PROCESS]: 'Process activity',
  [pb.Source.SOURCE_AGENT]: 'Agent health',
  [pb.Source.SOURCE_KUBE]: 'Kubernetes API',
  [pb.Source.SOURCE_CENTRAL]: 'Central health',
};

/** Runtime findings about the runtime itself, not about a workload's configuration. */
const RUNTIME_AVAILABILITY = new Set(['runtime.unavailable', 'runtime.runtime-not-ready', 'runtime.network-not-ready']);

const FILE_TYPE: Record<string, string> = { file: 'file', directory: 'dir', symlink: 'symlink' };

const AUID_UNSET = 4294967295;

type Proc = nodewarden.v1.ProcessContext.$Properties;
type Ancestor = nodewarden.v1.ProcessAncestor.$Properties;
type FileCtx = nodewarden.v1.FileContext.$Properties;

export function toEcs(e: SinkEvent, opts: { version: string }): Record<string, unknown> {
  const ev = e.event;
  const timeMs = nanosToMs(ev.timeUnixNano);
  const source = sourceName(ev.source);
  const resolved = ev.state === pb.FindingState.FINDING_STATE_RESOLVED;
  const { category, type } = categorise(ev, resolved);
  const version = ev.agentVersion || opts.version;

  return compact({
    '@timestamp': iso(timeMs),
    ecs: { version: ECS_VERSION },
    message: ev.message || ev.title,
    tags: [...ev.tags],
    labels: labels(ev.attributes),
    event: {
      kind: resolved ? 'event' : 'alert',
      category,
      type,
      severity: ev.severity || undefined,
      risk_score: RISK_SCORE[ev.severity],
      id: ev.id,
      sequence: isLong(ev.sequence) ? ev.sequence.toNumber() : Number(int64(ev.sequence)),
      dataset: `nodewarden.${source}`,
      module: 'nodewarden',
      provider: source,
      action: ev.ruleId,
      reason: ev.title,
    },
    rule: {
      id: ev.ruleId,
      name: ev.ruleId,
      description: ev.title,
      category: RULE_CATEGORY[ev.source],
      ruleset: ev.cisId ? 'CIS Kubernetes Benchmark' : `nodewarden ${source}`,
      version,
    },
    threat: threat(ev.mitreTechniques),
    agent: { type: 'nodewarden', id: ev.agentId, version },
    host: host(ev.node, e.host, timeMs),
    orchestrator: orchestrator(ev),
    container: container(ev),
    process: ev.process ? processFields(ev.process) : undefined,
    file: ev.file?.path ? fileFields({ ...ev.file, path: ev.file.path }) : undefined,
    nodewarden: {
      severity: severityName(ev.severity),
      state: ev.state ? stateName(ev.state) : undefined,
      fingerprint: ev.fingerprint,
      cis_id: ev.cisId,
      evidence: ev.evidence,
      expected: ev.expected,
      remediation: ev.remediation,
      count: ev.count || undefined,
      process: ev.process ? {
        capture: ev.process.capture,
        args_truncated: ev.process.argvTruncated || undefined,
        // The audit login uid: who logged in to the node, surviving su and sudo.
        login_user_id: ev.process.auid != null && ev.process.auid !== AUID_UNSET ? String(ev.process.auid) : undefined,
        ancestors: (ev.process.ancestors ?? []).map((a) => ({ pid: a.pid ?? undefined, executable: a.exe, name: a.comm, args: argvOf(a) })),
      } : undefined,
      container: ev.container ? {
        state: ev.container.state,
        pid: ev.container.pid || undefined,
        sandbox_id: ev.container.sandboxId,
      } : undefined,
      file: ev.file?.path ? { exists: ev.file.exists ?? false, kind: ev.file.kind } : undefined,
      // What ECS has no field for: the workload's name, the service account, the pod's labels.
      kubernetes: ev.kubernetes?.workloadKind || ev.kubernetes?.serviceAccount ? {
        workload: ev.kubernetes.workloadKind ? { kind: ev.kubernetes.workloadKind, name: ev.kubernetes.workloadName } : undefined,
        service_account: ev.kubernetes.serviceAccount || undefined,
        labels: ev.kubernetes.labels && Object.keys(ev.kubernetes.labels).length > 0 ? { ...ev.kubernetes.labels } : undefined,
      } : undefined,
    },
  }) as Record<string, unknown>;
}

function categorise(ev: nodewarden.v1.Event, resolved: boolean): { category: string[]; type: string[] } {
  const type = resolved ? ['change'] : ['info'];
  switch (ev.source) {
    case pb.Source.SOURCE_PROCESS:
      // An exec detection is a process start seen by an intrusion detector; ECS expects `start`
      // for process and `info` for intrusion_detection, so both types are given.
      return resolved ? { category: ['process'], type } : { category: ['process', 'intrusion_detection'], type: ['start', 'info'] };
    case pb.Source.SOURCE_RUNTIME:
      return { category: RUNTIME_AVAILABILITY.has(ev.ruleId) ? ['host'] : ['configuration'], type };
    case pb.Source.SOURCE_AGENT:
    case pb.Source.SOURCE_CENTRAL:
      return { category: ['host'], type };
    default:
      return { category: ev.file?.path ? ['configuration', 'file'] : ['configuration'], type };
  }
}

/** ATT&CK ids split as ECS wants them: T1059.004 is technique T1059, sub-technique T1059.004. */
function threat(ids: string[]): Doc | undefined {
  if (ids.length === 0) return undefined;
  const techniques = unique(ids.map((id) => id.split('.')[0]!));
  const subs = unique(ids.filter((id) => id.includes('.')));
  return {
    framework: 'MITRE ATT&CK',
    technique: {
      id: techniques,
      reference: techniques.map((t) => `https://attack.mitre.org/techniques/${t}/`),
      subtechnique: subs.length ? {
        id: subs,
        reference: subs.map((s) => `https://attack.mitre.org/techniques/${s.replace('.', '/')}/`),
      } : undefined,
    },
  };
}

function host(node: string, facts: HostFacts | undefined, timeMs: number): Doc {
  if (!facts) return { name: node };
  return {
    name: node,
    hostname: facts.hostname,
    architecture: facts.architecture,
    // Seconds since boot when the event happened (ECS host.uptime is in seconds).
    uptime: facts.bootTime > 0 && timeMs >= facts.bootTime ? Math.floor((timeMs - facts.bootTime) / 1000) : undefined,
    os: {
      name: facts.os.name,
      version: facts.os.version,
      family: facts.os.family,
      platform: facts.os.platform,
      kernel: facts.kernel,
      type: osType(facts.os.platform),
    },
  };
}

function osType(platform: string): string | undefined {
  switch (platform.toLowerCase()) {
    case 'linux': return 'linux';
    case 'darwin': return 'macos';
    case 'win32':
    case 'windows': return 'windows';
    default: return undefined;
  }
}

function orchestrator(ev: nodewarden.v1.Event): Doc {
  const k = ev.kubernetes;
  return {
    type: 'kubernetes',
    cluster: ev.cluster ? { name: ev.cluster } : undefined,
    namespace: k?.namespace,
    // The owner workload's kind (Deployment, DaemonSet…), when the agent had it from the API server.
    resource: k?.pod ? { type: 'pod', name: k.pod, id: k.podUid, ...(k.workloadKind ? { parent: { type: k.workloadKind } } : {}) } : undefined,
  };
}

function container(ev: nodewarden.v1.Event): Doc | undefined {
  const c = ev.container;
  const name = c?.name || ev.kubernetes?.container;
  if (!c && !name) return undefined;
  return {
    id: c?.id,
    name,
    image: c?.image || c?.imageDigest ? {
      name: c.image,
      hash: c.imageDigest ? { all: [digestOf(c.imageDigest)] } : undefined,
    } : undefined,
    // ECS names the runtime ("containerd"); the CRI's version string follows it ("containerd 1.7.2").
    runtime: c?.runtime ? c.runtime.split(/\s+/)[0]!.toLowerCase() : undefined,
    security_context: c?.privileged ? { privileged: true } : undefined,
  };
}

/** `repo@sha256:…` or `sha256:…` → `sha256:…` (ECS: algorithm:value). */
function digestOf(d: string): string {
  const at = d.lastIndexOf('@');
  return at >= 0 ? d.slice(at + 1) : d;
}

function processFields(p: Proc): Doc {
  const parent = p.ancestors?.[0];
  const argv = argvOf(p);
  const parentArgv = parent ? argvOf(parent) : [];
  const startMs = nanosToMs(p.startTimeUnixNano);
  return {
    pid: p.pid ?? undefined,
    executable: p.exe,
    name: p.comm || (p.exe ? path.posix.basename(p.exe) : undefined),
    args: argv,
    args_count: argv.length,
    command_line: argv.join(' '),
    working_directory: p.cwd,
    // ECS: process.user is the effective user, process.real_user the real one.
    user: { id: String(p.euid ?? 0) },
    real_user: { id: String(p.uid ?? 0) },
    group: { id: String(p.egid ?? 0) },
    real_group: { id: String(p.gid ?? 0) },
    start: positive(p.startTimeUnixNano) ? iso(startMs) : undefined,
    parent: {
      pid: p.ppid || parent?.pid || undefined,
      executable: parent?.exe,
      name: parent?.comm,
      args: parentArgv,
      args_count: parentArgv.length || undefined,
      command_line: parentArgv.join(' '),
    },
  };
}

function argvOf(p: Proc | Ancestor): string[] {
  return [...(p.argv ?? [])];
}

function fileFields(f: FileCtx & { path: string }): Doc {
  return {
    path: f.path,
    name: path.posix.basename(f.path),
    directory: path.posix.dirname(f.path),
    type: FILE_TYPE[f.kind ?? ''],
    // Proto3 cannot tell 0 from unset: a file that does not exist has no mode or owner.
    ...(f.exists ? {
      mode: ((f.mode ?? 0) & 0o7777).toString(8).padStart(4, '0'),
      uid: String(f.uid ?? 0),
      gid: String(f.gid ?? 0),
    } : {}),
  };
}

/** Attribute keys become label keys; dots would turn into object paths in Elasticsearch. */
/**
 * Attributes as ECS labels, at most MAX_LABELS of them: every new key is a new field in the
 * index, and a node inventing keys must not push an index past its field limit (after which
 * every document would be refused).
 */
const MAX_LABELS = 32;
function labels(attrs: Record<string, string>): Doc {
  const out: Doc = {};
  for (const [k, v] of Object.entries(attrs).slice(0, MAX_LABELS)) out[k.replace(/\./g, '_').slice(0, 128)] = v;
  return out;
}

/**
 * Drops undefined, empty strings, empty arrays and empty objects, recursively. Runs once per
 * document, so written without the intermediate arrays of Object.entries, map and filter.
 */
function compact(v: unknown): unknown {
  if (v === '' || v === undefined || v === null) return undefined;
  if (typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const a: unknown[] = [];
    for (const x of v) {
      const c = compact(x);
      if (c !== undefined) a.push(c);
    }
    return a.length ? a : undefined;
  }
  const out: Doc = {};
  let kept = 0;
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue;
    const c = compact((v as Doc)[k]);
    if (c !== undefined) {
      out[k] = c;
      kept++;
    }
  }
  return kept ? out : undefined;
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function iso(ms: number): string {
  return isoTime(ms);
}

/** Unix nanoseconds as milliseconds, truncated toward zero. */
function nanosToMs(v: { toString(): string } | number | null | undefined): number {
  return isLong(v) ? longNanosToMs(v) : Number(int64(v) / 1_000_000n);
}

/** A protobuf 64-bit integer above zero. */
function positive(v: { toString(): string } | number | null | undefined): boolean {
  return isLong(v) ? !v.isZero() && !v.isNegative() : int64(v) > 0n;
}

/** A protobuf 64-bit integer (Long or number) as a bigint. */
function int64(v: { toString(): string } | number | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  return typeof v === 'number' ? BigInt(Math.trunc(v)) : BigInt(v.toString());
}
