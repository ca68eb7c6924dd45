// Turns what a runtime says about a container (the verbose ContainerStatus "info" JSON with its OCI
// runtime spec and CRI config, or an OCI bundle's config.json) into the few security facts the
// checks need. Input is untrusted: sizes are capped, JSON.parse is guarded, every field is
// type-checked, and a malformed document gives a ParseResult error, never an exception.

/** A verbose info document larger than this is refused (a real one is 10–30 KiB). */
export const MAX_INFO_BYTES = 4 * 1024 * 1024;
const MAX_LIST = 1024;
const MAX_STRING = 4096;

export interface MountFact {
  /** Host path (bind source). */
  source: string;
  destination: string;
  readonly: boolean;
}

export type SeccompMode = 'unconfined' | 'confined';
export type AppArmorMode = 'unset' | 'unconfined' | 'confined';

export interface ContainerSecurity {
  privileged: boolean;
  /** How privileged was decided: the CRI config's flag, or inferred from the OCI spec alone. */
  privilegedFrom: 'cri-config' | 'oci-spec';
  hostPid: boolean;
  hostIpc: boolean;
  hostNetwork: boolean;
  /** Effective capabilities, upper case without the CAP_ prefix, sorted. */
  capabilities: string[];
  uid: number | null;
  gid: number | null;
  readonlyRootfs: boolean;
  noNewPrivileges: boolean;
  seccomp: SeccompMode;
  /** The seccomp default action when confined, e.g. SCMP_ACT_ERRNO. */
  seccompDefaultAction?: string;
  apparmor: AppArmorMode;
  apparmorProfile?: string;
  /** Host paths mounted into the container, as the container's creator asked for them. */
  mounts: MountFact[];
}

export interface ParsedInfo {
  pid: number;
  sandboxId: string;
  cgroupPath: string;
  security: ContainerSecurity;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, MAX_STRING) : '');
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v.slice(0, MAX_LIST) : []);
const strList = (v: unknown): string[] => list(v).filter((s): s is string => typeof s === 'string').map((s) => s.slice(0, MAX_STRING));

/** JSON.parse with a size cap; errors become values. */
export function parseJsonBounded(text: string, what: string, maxBytes = MAX_INFO_BYTES): ParseResult<unknown> {
  if (text.length > maxBytes) return { ok: false, error: `${what} is ${text.length} bytes, above the ${maxBytes}-byte limit` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: `${what} is not valid JSON: ${(err as Error).message}` };
  }
}

/**
 * Parse the `info` map of a verbose ContainerStatus (containerd and CRI-O both put one JSON
 * document under the key "info" holding pid, sandboxID, runtimeSpec and, for containerd, config).
 */
export function parseVerboseInfo(info: Record<string, string> | null | undefined): ParseResult<ParsedInfo> {
  const raw = info?.['info'];
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, error: 'verbose status has no "info" document' };
  const parsed = parseJsonBounded(raw, 'verbose info');
  if (!parsed.ok) return parsed;
  if (!isObj(parsed.value)) return { ok: false, error: 'verbose info is not a JSON object' };
  const doc = parsed.value;
  if (!isObj(doc['runtimeSpec'])) return { ok: false, error: 'verbose info has no runtimeSpec object' };
  const spec = doc['runtimeSpec'];
  return {
    ok: true,
    value: {
      pid: int(doc['pid']) ?? 0,
      sandboxId: str(doc['sandboxID']),
      cgroupPath: str(obj(spec['linux'])['cgroupsPath']),
      security: securityFromSpec(spec, isObj(doc['config']) ? doc['config'] : undefined),
    },
  };
}

/** Parse an OCI bundle's config.json (a container made outside the CRI has nothing else). */
export function parseOciConfig(text: string): ParseResult<{ cgroupPath: string; security: ContainerSecurity }> {
  const parsed = parseJsonBounded(text, 'OCI config.json');
  if (!parsed.ok) return parsed;
  if (!isObj(parsed.value)) return { ok: false, error: 'OCI config.json is not a JSON object' };
  return {
    ok: true,
    value: { cgroupPath: str(obj(parsed.value['linux'])['cgroupsPath']), security: securityFromSpec(parsed.value, undefined) },
  };
}

/** Mount destinations the runtime itself adds to every container; their sources are its own files. */
const RUNTIME_MANAGED_DESTINATIONS = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm', '/dev/termination-log']);

function normCap(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u.slice(4) : u;
}

/** CRI NamespaceMode NODE in the config JSON (containerd writes the enum as its number). */
const NODE = 2;

/**
 * The security facts of one container. The OCI spec is what runs; the CRI config (containerd's
 * verbose info only) adds what the spec cannot show: the privileged flag and, because a
 * container joins its sandbox's namespaces by path, whether those are the host's.
 */
export function securityFromSpec(spec: Obj, criConfig: Obj | undefined): ContainerSecurity {
  const proc = obj(spec['process']);
  const linux = obj(spec['linux']);
  const caps = obj(proc['capabilities']);
  const namespaces = list(linux['namespaces']).map(obj);
  const hasNs = (t: string): boolean => namespaces.some((n) => n['type'] === t);
  const sc = obj(obj(criConfig?.['linux'])['security_context']);
  const nsOpts = obj(sc['namespace_options']);

  const effective = [...new Set(strList(caps['effective']).map(normCap))].sort();
  const bounding = new Set(strList(caps['bounding']).map(normCap));
  const masked = strList(linux['maskedPaths']);

  // Without a CRI config (ctr run, CRI-O), "privileged" is inferred the way runtimes implement it:
  // CAP_SYS_ADMIN in the bounding set and no masked paths (privileged mode unmasks /proc).
  const privilegedFromConfig = typeof sc['privileged'] === 'boolean' ? (sc['privileged'] as boolean) : undefined;
  const privileged = privilegedFromConfig ?? (bounding.has('SYS_ADMIN') && masked.length === 0);

  const seccompObj = linux['seccomp'];
  let seccomp: SeccompMode = 'unconfined';
  let seccompDefaultAction: string | undefined;
  if (isObj(seccompObj)) {
    seccompDefaultAction = str(seccompObj['defaultAction']);
    const rules = list(seccompObj['syscalls']);
    // A profile that allows by default and lists no syscall is a filter in name only.
    seccomp = seccompDefaultAction === 'SCMP_ACT_ALLOW' && rules.length === 0 ? 'unconfined' : 'confined';
  }

  const aa = str(proc['apparmorProfile']);
  const apparmor: AppArmorMode = aa === '' ? 'unset' : aa === 'unconfined' ? 'unconfined' : 'confined';

  const user = obj(proc['user']);
  const root = obj(spec['root']);

  return {
    privileged,
    privilegedFrom: privilegedFromConfig === undefined ? 'oci-spec' : 'cri-config',
    hostPid: nsOpts['pid'] === NODE || !hasNs('pid'),
    hostIpc: nsOpts['ipc'] === NODE || !hasNs('ipc'),
    hostNetwork: nsOpts['network'] === NODE || !hasNs('network'),
    capabilities: effective,
    uid: int(user['uid']),
    gid: int(user['gid']),
    readonlyRootfs: root['readonly'] === true,
    noNewPrivileges: proc['noNewPrivileges'] === true,
    seccomp,
    seccompDefaultAction,
    apparmor,
    apparmorProfile: aa || undefined,
    mounts: criConfig && Array.isArray(criConfig['mounts']) ? mountsFromCriConfig(criConfig['mounts']) : mountsFromSpec(spec),
  };
}

/** The host mounts the kubelet (or whoever called the CRI) asked for: snake_case JSON from containerd. */
function mountsFromCriConfig(mounts: unknown[]): MountFact[] {
  return mounts
    .slice(0, MAX_LIST)
    .map(obj)
    .filter((m) => str(m['host_path']) !== '')
    .map((m) => ({ source: str(m['host_path']), destination: str(m['container_path']), readonly: m['readonly'] === true }));
}

/** Bind mounts from the OCI spec, minus the files the runtime adds to every container itself. */
export function mountsFromSpec(spec: Obj): MountFact[] {
  const out: MountFact[] = [];
  for (const m of list(spec['mounts']).map(obj)) {
    const options = strList(m['options']);
    const isBind = m['type'] === 'bind' || options.includes('bind') || options.includes('rbind');
    const destination = str(m['destination']);
    if (!isBind || RUNTIME_MANAGED_DESTINATIONS.has(destination)) continue;
    out.push({ source: str(m['source']), destination, readonly: options.includes('ro') || options.includes('rro') });
  }
  return out;
}
