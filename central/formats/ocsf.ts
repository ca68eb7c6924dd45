// A stored event as an OCSF 1.8.0 document, for SIEMs that speak the Open Cybersecurity Schema
// Framework. Exec detections become Detection Findings (2004); posture, runtime, agent, Kubernetes
// and central findings become Compliance Findings (2003). Pure: no I/O, one document per event.
//
// Where things go (attributes OCSF lacks are never invented):
//   finding_info   title, message, rule (analytic), ATT&CK techniques (attacks), the finding's uid
//   evidences[]    the process (with its parent chain), the container, the file checked; facts
//                  about them OCSF has no attribute for go in that evidence's `data`
//   resources[]    the Kubernetes pod (namespace, name, uid), else the node for a compliance check
//   device         the node and its host facts (os, kernel, architecture, boot time, agent)
//   compliance     CIS control, standard, pass/fail/warning, expected value (desc), evidence
//   metadata       product, the event's id (uid), fingerprint (correlation_uid), rule (event_code),
//                  source (log_name), tags (labels), attributes (tags), the profiles used
//   unmapped       the cluster name, which no OCSF attribute holds
// Profiles are declared from what the document holds: `host` with device, `container` with
// process.container, `linux/linux_users` with euid/egid/auid/group.

import path from 'node:path';
import Long from 'long';
import { nodewarden } from '../../gen/nodewarden.js';
import { sourceName } from '../../core/event.js';
import type { HostFacts } from '../../core/host-facts.js';
import type { SinkEvent } from '../sinks/sink.js';
import { isLong, longNanosToMs } from './time.js';

const pb = nodewarden.v1;

export const OCSF_VERSION = '1.8.0';
const PRODUCT = 'nodewarden';
const CIS_STANDARD = 'CIS Kubernetes Benchmark';

type Doc = Record<string, unknown>;

const DETECTION_FINDING = { uid: 2004, name: 'Detection Finding' } as const;
const COMPLIANCE_FINDING = { uid: 2003, name: 'Compliance Finding' } as const;

// Finding activity (enum of activity_id in both classes).
const ACTIVITY_CREATE = { id: 1, name: 'Create' } as const;
const ACTIVITY_CLOSE = { id: 3, name: 'Close' } as const;

/** nodewarden severities map one to one onto OCSF's severity_id (0 Unknown … 5 Critical). */
const SEVERITY: Record<number, string> = { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical' };

/** What kind of finding each source reports (finding_info.types). */
const FINDING_TYPE: Record<number, string> = {
  [pb.Source.SOURCE_POSTURE]: 'Node Configuration',
  [pb.Source.SOURCE_RUNTIME]: 'Container Runtime',
  [pb.Source.SOURCE_PROCESS]: 'Process Execution',
  [pb.Source.SOURCE_AGENT]: 'Agent Health',
  [pb.Source.SOURCE_KUBE]: 'Kubernetes API',
  [pb.Source.SOURCE_CENTRAL]: 'Collector Health',
};

const AUID_UNSET = 4294967295;
const INT32_MAX = 2 ** 31 - 1;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The OCSF document for one stored event. `version` is nodewarden's (metadata.product.version). */
export function toOcsf(e: SinkEvent, opts: { version: string }): Record<string, unknown> {
  const ev = e.event;
  const detection = ev.source === pb.Source.SOURCE_PROCESS;
  const cls = detection ? DETECTION_FINDING : COMPLIANCE_FINDING;
  const resolved = ev.state === pb.FindingState.FINDING_STATE_RESOLVED;
  const activity = resolved ? ACTIVITY_CLOSE : ACTIVITY_CREATE;
  const profiles = new Set<string>();
  const time = nanosToMs(ev.timeUnixNano);
  const severityId = SEVERITY[ev.severity] === undefined ? 0 : ev.severity;

  const doc: Doc = {
    class_uid: cls.uid,
    class_name: cls.name,
    category_uid: 2,
    category_name: 'Findings',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: cls.uid * 100 + activity.id,
    type_name: `${cls.name}: ${activity.name}`,
    time,
    timezone_offset: 0,
    severity_id: severityId,
    severity: SEVERITY[severityId],
    // A lifecycle finding is New until it resolves; a one-off detection stays New (triage is the
    // SIEM's work, not ours).
    status_id: resolved ? 4 : 1,
    status: resolved ? 'Resolved' : 'New',
    message: ev.message || ev.title,
    finding_info: findingInfo(ev, time),
  };
  if (ev.count > 0) doc.count = Math.min(ev.count, INT32_MAX);

  const device = deviceOf(ev, e.host);
  if (device) {
    doc.device = device;
    profiles.add('host');
  }

  const evidence = evidenceOf(ev, detection, profiles);
  if (evidence) doc.evidences = [evidence];

  const resources = resourcesOf(ev, detection);
  if (resources.length > 0) doc.resources = resources;

  if (detection) doc.is_alert = true;
  else doc.compliance = complianceOf(ev, severityId);

  if (ev.remediation) doc.remediation = { desc: ev.remediation };

  doc.metadata = metadataOf(ev, opts.version, [...profiles].sort());
  if (ev.cluster) doc.unmapped = { cluster: ev.cluster };
  return doc;
}

function findingInfo(ev: nodewarden.v1.Event, time: number): Doc {
  const info: Doc = {
    uid: findingUid(ev),
    title: ev.title || ev.ruleId || 'nodewarden event',
    created_time: time,
    first_seen_time: time,
    last_seen_time: time,
  };
  // The event's own id stays reachable when the finding's uid is the lifecycle's.
  if (info.uid !== ev.id && ev.id) info.uid_alt = ev.id;
  if (ev.message) info.desc = ev.message;
  const type = FINDING_TYPE[ev.source];
  if (type) info.types = [type];
  if (ev.ruleId) info.analytic = { uid: ev.ruleId, name: ev.title || ev.ruleId, type_id: 1, type: 'Rule', category: sourceName(ev.source) };
  const attacks = ev.mitreTechniques.map(attackOf).filter((a): a is Doc => a !== null);
  if (attacks.length > 0) info.attacks = attacks;
  if (ev.process?.capture) info.data_sources = [`exec capture: ${ev.process.capture}`];
  return info;
}

/**
 * The finding's identity. A lifecycle finding (open → resolved) keeps one uid across its events,
 * so a SIEM closes the finding it opened (activity Close on the same uid): the node and the
 * fingerprint. A one-off detection is its own finding: the event id.
 */
function findingUid(ev: nodewarden.v1.Event): string {
  const lifecycle = ev.state === pb.FindingState.FINDING_STATE_OPEN || ev.state === pb.FindingState.FINDING_STATE_RESOLVED;
  if (lifecycle && ev.fingerprint) return `${ev.node}/${ev.fingerprint}`;
  return ev.id || `${ev.node}/${ev.fingerprint}`;
}

/** T1059 → technique; T1059.004 → technique T1059 + sub-technique T1059.004 (ATT&CK's own split). */
function attackOf(id: string): Doc | null {
  const m = /^(T\d{4})(?:\.(\d{3}))?$/.exec(id.trim());
  if (!m) return null;
  const technique = { uid: m[1], src_url: `https://attack.mitre.org/techniques/${m[1]}/` };
  if (!m[2]) return { technique };
  return { technique, sub_technique: { uid: `${m[1]}.${m[2]}`, src_url: `https://attack.mitre.org/techniques/${m[1]}/${m[2]}/` } };
}

function deviceOf(ev: nodewarden.v1.Event, host: HostFacts | undefined): Doc | undefined {
  const hostname = host?.hostname || ev.node;
  if (!hostname) return undefined;
  // A Kubernetes node is a server whatever it runs on; OCSF requires a type.
  const device: Doc = { type_id: 1, type: 'Server', hostname };
  if (ev.node) device.name = ev.node;
  if (host) {
    const osName = host.os.name || host.os.platform;
    if (osName) {
      const linux = host.os.platform.toLowerCase() === 'linux';
      const os: Doc = { name: osName, type_id: linux ? 200 : 0, type: linux ? 'Linux' : 'Unknown' };
      if (host.os.version) os.version = host.os.version;
      if (host.kernel) os.kernel_release = host.kernel;
      device.os = os;
    }
    if (host.bootTime > 0) device.boot_time = host.bootTime;
    const hw = hardwareOf(host.architecture);
    if (hw) device.hw_info = hw;
  }
  if (ev.agentId) {
    const agent: Doc = { uid: ev.agentId, name: `${PRODUCT}-agent`, vendor_name: PRODUCT, type_id: 99, type: 'Kubernetes Node Security Monitor' };
    if (ev.agentVersion) agent.version = ev.agentVersion;
    device.agent_list = [agent];
  }
  return device;
}

function hardwareOf(arch: string): Doc | undefined {
  if (!arch) return undefined;
  const a = arch.toLowerCase();
  const bits = /64/.test(a) ? 64 : /^(i[3-6]86|x86|arm|armv[67]l?)$/.test(a) ? 32 : undefined;
  const known: [RegExp, number, string][] = [[/^(x86_64|amd64|i[3-6]86|x86)$/, 1, 'x86'], [/^(aarch64|arm64|arm.*)$/, 2, 'ARM'], [/^riscv/, 3, 'RISC-V']];
  const hit = known.find(([re]) => re.test(a));
  const hw: Doc = hit ? { cpu_architecture_id: hit[1], cpu_architecture: hit[2] } : { cpu_architecture_id: 99, cpu_architecture: arch };
  if (bits) hw.cpu_bits = bits;
  return hw;
}

/**
 * The evidence artefacts: the process for a detection, the container and the file checked for a
 * compliance finding. Their facts without an OCSF attribute go in `data`.
 */
function evidenceOf(ev: nodewarden.v1.Event, detection: boolean, profiles: Set<string>): Doc | undefined {
  const evidence: Doc = {};
  const data: Doc = {};
  const container = containerOf(ev);
  if (ev.process) {
    const p = processOf(ev.process, profiles);
    if (container) {
      // The container profile's place for it; evidences[].container below is the place every
      // finding class shares, so a query for a container works on both classes.
      p.container = container;
      profiles.add('container');
    }
    evidence.process = p;
    if (ev.process.argvTruncated) data.argv_truncated = true;
    if (ev.process.capture) data.capture = ev.process.capture;
  }
  if (container) {
    evidence.container = container;
    const c = ev.container;
    if (c) data.privileged = c.privileged;
    if (c?.state) data.container_state = c.state;
    if (c?.sandboxId) data.sandbox_id = c.sandboxId;
    if (c?.pid) data.container_pid = c.pid;
  }
  if (ev.file && ev.file.path) {
    evidence.file = fileOf(ev.file);
    data.file_exists = ev.file.exists;
    if (ev.file.exists) {
      data.file_mode = `0${(ev.file.mode ?? 0).toString(8).padStart(3, '0')}`;
      data.file_gid = ev.file.gid;
    }
  }
  // A detection's evidence text describes what was seen; a compliance finding carries it in
  // compliance.status_details instead.
  if (detection && ev.evidence) data.evidence = ev.evidence;
  if (Object.keys(data).length > 0) evidence.data = data;
  // OCSF asks an evidence for at least one artefact among process, file, data and others, and a
  // container alone is not one; a container always brings data (privileged), so only a bare
  // Kubernetes container name is dropped here (the pod stays in resources).
  return evidence.process || evidence.file || evidence.data ? evidence : undefined;
}

function processOf(p: nodewarden.v1.IProcessContext, profiles: Set<string>): Doc {
  const exe = p.exe ?? '';
  const argv = p.argv ?? [];
  const proc: Doc = { pid: p.pid ?? 0 };
  const name = p.comm || (exe ? path.posix.basename(exe) : '');
  if (name) proc.name = name;
  if (argv.length > 0) proc.cmd_line = commandLine(argv);
  if (exe) proc.file = executableOf(exe);
  if (p.cwd) proc.working_directory = p.cwd;
  const created = nanosToMs(p.startTimeUnixNano);
  if (created > 0) proc.created_time = created;
  proc.user = { uid: String(p.uid ?? 0) };
  // Effective and audit ids and the group are the Linux users profile's attributes.
  proc.euid = p.euid ?? 0;
  proc.egid = p.egid ?? 0;
  proc.group = { uid: String(p.gid ?? 0) };
  if (p.auid !== undefined && p.auid !== null && p.auid !== AUID_UNSET) proc.auid = p.auid;
  profiles.add('linux/linux_users');
  const parent = parentChain(p.ancestors ?? [], p.ppid ?? 0);
  if (parent) proc.parent_process = parent;
  return proc;
}

/** process.ancestors (parent first) as nested parent_process objects. */
function parentChain(ancestors: nodewarden.v1.IProcessAncestor[], ppid: number): Doc | undefined {
  let chain: Doc | undefined;
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const a = ancestors[i]!;
    const node: Doc = { pid: a.pid ?? 0 };
    const name = a.comm || (a.exe ? path.posix.basename(a.exe) : '');
    if (name) node.name = name;
    if (a.argv && a.argv.length > 0) node.cmd_line = commandLine(a.argv);
    if (a.exe) node.file = executableOf(a.exe);
    if (chain) node.parent_process = chain;
    chain = node;
  }
  if (!chain && ppid > 0) chain = { pid: ppid };
  return chain;
}

function executableOf(exe: string): Doc {
  return { name: path.posix.basename(exe) || exe, path: exe, type_id: 1, type: 'Regular File' };
}

const FILE_TYPE: Record<string, [number, string]> = {
  file: [1, 'Regular File'], directory: [2, 'Folder'], symlink: [7, 'Symbolic Link'], socket: [5, 'Local Socket'], other: [99, 'Other'],
};

function fileOf(f: nodewarden.v1.IFileContext): Doc {
  const p = f.path ?? '';
  const [typeId, type] = FILE_TYPE[f.kind ?? ''] ?? [0, 'Unknown'];
  const file: Doc = { name: path.posix.basename(p) || p, path: p, type_id: typeId, type };
  if (f.exists) file.owner = { uid: String(f.uid ?? 0) };
  return file;
}

function containerOf(ev: nodewarden.v1.Event): Doc | undefined {
  const c = ev.container;
  const k = ev.kubernetes;
  const uid = c?.id ?? '';
  const name = c?.name || k?.container || '';
  if (!uid && !name) return undefined;
  const container: Doc = {};
  if (uid) container.uid = uid;
  if (name) container.name = name;
  // OCSF requires an image uid: the digest when the runtime gave one, else the reference.
  const imageUid = c?.imageDigest || c?.image;
  if (imageUid) container.image = c?.image ? { uid: imageUid, name: c.image } : { uid: imageUid };
  if (c?.runtime) container.runtime = c.runtime;
  if (k && (k.namespace || k.pod)) container.orchestrator = 'Kubernetes';
  if (k?.podUid && UUID.test(k.podUid)) container.pod_uuid = k.podUid;
  return container;
}

/** The pod the event is about; for a compliance finding without a pod, the node checked. */
function resourcesOf(ev: nodewarden.v1.Event, detection: boolean): Doc[] {
  const k = ev.kubernetes;
  if (k && k.pod) {
    const pod: Doc = { type: 'Kubernetes Pod', name: k.pod, role_id: 3, role: 'Affected' };
    if (k.namespace) pod.namespace = k.namespace;
    if (k.podUid) pod.uid = k.podUid;
    return [pod];
  }
  if (!detection && ev.node) return [{ type: 'Kubernetes Node', name: ev.node, role_id: 1, role: 'Target' }];
  return [];
}

function complianceOf(ev: nodewarden.v1.Event, severityId: number): Doc {
  const [statusId, status] = complianceStatus(ev);
  const control = ev.cisId || ev.ruleId;
  const compliance: Doc = { status_id: statusId, status };
  if (control) compliance.control = control;
  const standards = ev.cisId ? [CIS_STANDARD] : undefined;
  if (standards) compliance.standards = standards;
  // desc is "the criteria of a control": what the check expected.
  if (ev.expected) compliance.desc = ev.expected;
  if (ev.evidence) compliance.status_details = [ev.evidence];
  const check: Doc = { status_id: statusId, status, severity_id: severityId, severity: SEVERITY[severityId] };
  if (ev.ruleId) check.uid = ev.ruleId;
  if (ev.title) check.name = ev.title;
  if (standards) check.standards = standards;
  compliance.checks = [check];
  return compliance;
}

/**
 * Resolved → Pass; open or one-off → Fail, unless the check said otherwise (posture tags carry
 * `status:warn` and `status:error`); the agent's and central's own reports are warnings.
 */
function complianceStatus(ev: nodewarden.v1.Event): [number, string] {
  if (ev.state === pb.FindingState.FINDING_STATE_RESOLVED) return [1, 'Pass'];
  if (ev.tags.includes('status:error')) return [99, 'Error'];
  if (ev.tags.includes('status:warn')) return [2, 'Warning'];
  if (ev.source === pb.Source.SOURCE_AGENT || ev.source === pb.Source.SOURCE_CENTRAL) return [2, 'Warning'];
  return [3, 'Fail'];
}

function metadataOf(ev: nodewarden.v1.Event, version: string, profiles: string[]): Doc {
  const md: Doc = {
    version: OCSF_VERSION,
    product: { name: PRODUCT, vendor_name: PRODUCT, version },
    log_name: sourceName(ev.source),
  };
  if (ev.id) md.uid = ev.id;
  if (ev.fingerprint) md.correlation_uid = `${ev.node}/${ev.fingerprint}`;
  if (ev.ruleId) md.event_code = ev.ruleId;
  // The time as the source gave it: Unix nanoseconds (`time` holds milliseconds).
  if (ev.timeUnixNano) md.original_time = ev.timeUnixNano.toString();
  if (ev.tags.length > 0) md.labels = [...ev.tags];
  const attrs = Object.entries(ev.attributes ?? {});
  if (attrs.length > 0) md.tags = attrs.map(([name, value]) => ({ name, value }));
  if (profiles.length > 0) md.profiles = profiles;
  return md;
}

/** An argv as one command line, quoting (POSIX shell style) the arguments that need it. */
function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Unix nanoseconds (Long, number or unset) as Unix milliseconds. */
function nanosToMs(v: Long | number | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return Math.floor(v / 1_000_000);
  return isLong(v) ? longNanosToMs(v) : Long.fromValue(v).div(1_000_000).toNumber();
}
