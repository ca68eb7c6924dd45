// The kubelet's effective configuration, field by field, as the kubelet itself computes it:
// command-line flag > --config-dir drop-ins (later files win) > --config file > default. Each
// value carries where it came from, so evidence can say "set by --read-only-port on the command
// line" or "not set; the kubelet's default". A bad value or an unusable file is an error value.

import path from 'node:path';
import type { HostView } from './host-view.js';
import type { KubeletDiscovery } from './types.js';
import { parseArgs, lastFlag, parseGoBool, parseGoDuration, parseFeatureGates, type ParsedArgs } from './flags.js';
import { loadYamlMapping, getPath, describeValue } from './yaml-file.js';

export type SettingSource = 'flag' | 'file' | 'default';

export interface Setting<T> {
  value: T;
  source: SettingSource;
  /** Where the value came from, for evidence: a flag, a file path, or the default's reason. */
  origin: string;
}

export type SettingOutcome<T> = { ok: true; setting: Setting<T> } | { ok: false; error: string };

type FieldType = 'bool' | 'string' | 'int' | 'duration' | 'stringList';
type ValueOf<T extends FieldType> = T extends 'bool'
  ? boolean
  : T extends 'int'
    ? number
    : T extends 'stringList'
      ? string[]
      : string;

interface FieldSpec<T extends FieldType> {
  /** Field path in KubeletConfiguration (kubelet.config.k8s.io/v1beta1). */
  field: string;
  flag?: string;
  type: T;
  /**
   * Default when a config file is used: SetDefaults_KubeletConfiguration of v1beta1
   * (pkg/kubelet/apis/config/v1beta1/defaults.go).
   */
  fileDefault: ValueOf<T>;
  /**
   * Default without a config file, when it differs: the kubelet then applies "legacy" defaults
   * to keep its historical command-line behaviour (cmd/kubelet/app/options applyLegacyDefaults).
   */
  legacyDefault?: ValueOf<T>;
}

/**
 * The fields the checks read. Defaults, as the kubelet applies them:
 * - authentication.anonymous.enabled: false with a config file; true without one (legacy).
 * - authorization.mode: Webhook with a config file; AlwaysAllow without one (legacy).
 * - readOnlyPort: not defaulted in v1beta1, so 0 (disabled) with a config file; 10255 without.
 * - streamingConnectionIdleTimeout: 4h; a zero duration in the file is "unset" and becomes 4h.
 * - makeIPTablesUtilChains: true. eventRecordQPS: 50 (0 means no limit).
 * - rotateCertificates, serverTLSBootstrap, seccompDefault: false (not defaulted). podPidsLimit: -1 (none);
 *   a negative value in the file is normalised to -1.
 * - tlsCertFile / tlsPrivateKeyFile / clientCAFile / tlsCipherSuites: empty (the kubelet then
 *   self-signs a serving certificate and uses Go's default cipher suites).
 */
export const KUBELET_FIELDS = {
  anonymousAuth: { field: 'authentication.anonymous.enabled', flag: 'anonymous-auth', type: 'bool', fileDefault: false, legacyDefault: true },
  authorizationMode: { field: 'authorization.mode', flag: 'authorization-mode', type: 'string', fileDefault: 'Webhook', legacyDefault: 'AlwaysAllow' },
  clientCAFile: { field: 'authentication.x509.clientCAFile', flag: 'client-ca-file', type: 'string', fileDefault: '' },
  readOnlyPort: { field: 'readOnlyPort', flag: 'read-only-port', type: 'int', fileDefault: 0, legacyDefault: 10255 },
  streamingConnectionIdleTimeout: { field: 'streamingConnectionIdleTimeout', flag: 'streaming-connection-idle-timeout', type: 'duration', fileDefault: '4h0m0s' },
  makeIPTablesUtilChains: { field: 'makeIPTablesUtilChains', flag: 'make-iptables-util-chains', type: 'bool', fileDefault: true },
  eventRecordQPS: { field: 'eventRecordQPS', flag: 'event-qps', type: 'int', fileDefault: 50 },
  tlsCertFile: { field: 'tlsCertFile', flag: 'tls-cert-file', type: 'string', fileDefault: '' },
  tlsPrivateKeyFile: { field: 'tlsPrivateKeyFile', flag: 'tls-private-key-file', type: 'string', fileDefault: '' },
  rotateCertificates: { field: 'rotateCertificates', flag: 'rotate-certificates', type: 'bool', fileDefault: false },
  serverTLSBootstrap: { field: 'serverTLSBootstrap', flag: 'rotate-server-certificates', type: 'bool', fileDefault: false },
  tlsCipherSuites: { field: 'tlsCipherSuites', flag: 'tls-cipher-suites', type: 'stringList', fileDefault: [] },
  podPidsLimit: { field: 'podPidsLimit', flag: 'pod-max-pids', type: 'int', fileDefault: -1 },
  staticPodPath: { field: 'staticPodPath', flag: 'pod-manifest-path', type: 'string', fileDefault: '' },
  seccompDefault: { field: 'seccompDefault', flag: 'seccomp-default', type: 'bool', fileDefault: false },
} as const satisfies Record<string, FieldSpec<FieldType>>;

export type KubeletField = keyof typeof KUBELET_FIELDS;
type FieldValue<K extends KubeletField> = ValueOf<(typeof KUBELET_FIELDS)[K]['type']>;

/** RotateKubeletServerCertificate has been on by default since Kubernetes 1.12 (beta). */
const ROTATE_SERVER_CERT_GATE = 'RotateKubeletServerCertificate';
const ROTATE_SERVER_CERT_GATE_DEFAULT = true;

interface Layer {
  /** The file's host path, for evidence. */
  label: string;
  data?: Record<string, unknown>;
  /** Set when the file exists but cannot be used. */
  error?: string;
}

export interface KubeletConfig {
  /** Whether there is a kubelet to speak of: a process, a unit that starts one, or a config file. */
  present: boolean;
  /** Where flags came from, for evidence: 'on the kubelet command line' or 'in the kubelet's systemd unit'. */
  argsWhere: string;
  usesConfigFile: boolean;
  /** The config file (or a drop-in) could not be used: fields not set by a flag are unknown. */
  fileError?: string;
  args: ParsedArgs;
  get<K extends KubeletField>(key: K): SettingOutcome<FieldValue<K>>;
  /** RotateKubeletServerCertificate: --feature-gates over featureGates over the default. */
  rotateServerCertGate(): SettingOutcome<boolean>;
  /** --hostname-override has no config-file field: a flag only. */
  hostnameOverride(): string | undefined;
}

export function loadKubeletConfig(view: HostView, d: KubeletDiscovery): Promise<KubeletConfig> {
  return view.cached('kubelet-config', () => buildKubeletConfig(view, d));
}

async function buildKubeletConfig(view: HostView, d: KubeletDiscovery): Promise<KubeletConfig> {
  const args = parseArgs(d.args);
  const argsWhere = d.argsSource === 'unit' ? "in the kubelet's systemd unit" : 'on the kubelet command line';
  const layers: Layer[] = []; // highest precedence first (after flags)
  let configExists = false;
  if (d.configDir) {
    view.watch(d.configDir.hostPath);
    const names = (await view.list(d.configDir.hostPath)).filter((n) => n.endsWith('.conf'));
    // The kubelet reads drop-ins in lexical order, later ones overriding earlier ones.
    const dropIns = await Promise.all(
      names.map(async (n) => {
        const p = path.posix.join(d.configDir!.hostPath, n);
        view.watch(p);
        return toLayer(p, await loadYamlMapping(view, p, 'kubelet config drop-in'));
      }),
    );
    for (const l of dropIns.reverse()) if (l) layers.push(l);
  }
  if (d.configFile) {
    view.watch(d.configFile.hostPath);
    const l = toLayer(d.configFile.hostPath, await loadYamlMapping(view, d.configFile.hostPath, 'kubelet config file'));
    if (l) {
      layers.push(l);
      configExists = true;
    } else if (d.configFile.source !== 'default') {
      // Named (by --config, or the unit) but not there: what it would hold is unknown, which is
      // an error for every setting the flags do not give, never a pass on the kubelet's defaults.
      const where = d.configFile.source === 'unit' ? "in the kubelet's systemd unit" : 'on the kubelet command line';
      layers.push({ label: d.configFile.hostPath, error: `the kubelet config file ${d.configFile.hostPath} named ${where} cannot be read: it does not exist under the host root (missing, or a dangling symlink)` });
    }
  }
  // A --config flag means v1beta1 defaulting applies even if the file has gone (the kubelet would
  // then refuse to start, and the file checks say so); a default path counts only if it exists.
  const usesConfigFile =
    configExists || layers.length > 0 || (d.configFile !== undefined && d.configFile.source !== 'default');
  const fileError = layers.find((l) => l.error)?.error;
  const present = d.argsSource !== 'none' || configExists;

  const fromFlag = (spec: FieldSpec<FieldType>): SettingOutcome<unknown> | undefined => {
    if (!spec.flag) return undefined;
    // pflag: a scalar flag keeps its last occurrence, a string slice appends every occurrence.
    const raw = spec.type === 'stringList' ? args.flags.get(spec.flag)?.join(',') : lastFlag(args, spec.flag);
    if (raw === undefined) return undefined;
    const value = convertFlag(spec.type, raw);
    const origin = `--${spec.flag}=${raw} ${argsWhere}`;
    if (value === undefined) {
      return { ok: false, error: `--${spec.flag}=${raw} ${argsWhere} is not ${typeName(spec.type)}` };
    }
    return { ok: true, setting: { value, source: 'flag', origin } };
  };

  const get = <K extends KubeletField>(key: K): SettingOutcome<FieldValue<K>> => {
    const spec = KUBELET_FIELDS[key] as FieldSpec<FieldType>;
    const flag = fromFlag(spec);
    if (flag) return flag as SettingOutcome<FieldValue<K>>;
    for (const layer of layers) {
      if (layer.error) return { ok: false, error: layer.error };
      const raw = getPath(layer.data!, spec.field.split('.'));
      if (raw === undefined || raw === null) continue;
      const value = convertFile(spec.type, raw);
      if (value === undefined) {
        return { ok: false, error: `${spec.field} in ${layer.label} is ${describeValue(raw)}, not ${typeName(spec.type)}` };
      }
      const normal = normaliseFileValue(key, value);
      if (normal === undefined) continue; // a value the kubelet treats as unset
      return { ok: true, setting: { value: normal as FieldValue<K>, source: 'file', origin: `in ${layer.label}` } };
    }
    const useLegacy = !usesConfigFile && spec.legacyDefault !== undefined;
    const value = (useLegacy ? spec.legacyDefault : spec.fileDefault) as FieldValue<K>;
    const origin = usesConfigFile
      ? "not set; the kubelet's default"
      : spec.legacyDefault !== undefined
        ? "not set; the kubelet's default when it runs without a config file"
        : "not set; the kubelet's default";
    return { ok: true, setting: { value, source: 'default', origin } };
  };

  const rotateServerCertGate = (): SettingOutcome<boolean> => {
    const gateFlags = args.flags.get('feature-gates');
    if (gateFlags) {
      const { gates, invalid } = parseFeatureGates(gateFlags);
      if (invalid.length > 0) {
        return { ok: false, error: `--feature-gates ${argsWhere} has entries that are not name=bool: ${invalid.join(', ')}` };
      }
      const v = gates.get(ROTATE_SERVER_CERT_GATE);
      if (v !== undefined) {
        return { ok: true, setting: { value: v, source: 'flag', origin: `--feature-gates ${ROTATE_SERVER_CERT_GATE}=${v} ${argsWhere}` } };
      }
    }
    for (const layer of layers) {
      if (layer.error) return { ok: false, error: layer.error };
      const raw = getPath(layer.data!, ['featureGates', ROTATE_SERVER_CERT_GATE]);
      if (raw === undefined || raw === null) continue;
      if (typeof raw !== 'boolean') {
        return { ok: false, error: `featureGates.${ROTATE_SERVER_CERT_GATE} in ${layer.label} is ${describeValue(raw)}, not a boolean` };
      }
      return { ok: true, setting: { value: raw, source: 'file', origin: `in ${layer.label}` } };
    }
    return {
      ok: true,
      setting: { value: ROTATE_SERVER_CERT_GATE_DEFAULT, source: 'default', origin: 'not set; on by default since Kubernetes 1.12' },
    };
  };

  return {
    present,
    argsWhere,
    usesConfigFile,
    fileError,
    args,
    get,
    rotateServerCertGate,
    hostnameOverride: () => lastFlag(args, 'hostname-override'),
  };
}

function toLayer(label: string, outcome: Awaited<ReturnType<typeof loadYamlMapping>>): Layer | undefined {
  if (outcome.kind === 'missing') return undefined;
  if (outcome.kind === 'error') return { label, error: outcome.message };
  const kind = outcome.data['kind'];
  if (kind !== undefined && kind !== 'KubeletConfiguration') {
    return { label, error: `kubelet config file ${label} is a ${describeValue(kind)}, not a KubeletConfiguration` };
  }
  return { label, data: outcome.data };
}

/** Values the kubelet's defaulting replaces: a zero duration, a negative pod PID limit. */
function normaliseFileValue(key: KubeletField, value: unknown): unknown {
  if (key === 'streamingConnectionIdleTimeout' && parseGoDuration(value as string) === 0) return undefined;
  if (key === 'podPidsLimit' && (value as number) < 0) return -1;
  return value;
}

function convertFlag(type: FieldType, raw: string): unknown {
  switch (type) {
    case 'bool':
      return parseGoBool(raw);
    case 'int':
      return /^[+-]?\d+$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
    case 'duration':
      return parseGoDuration(raw) === undefined ? undefined : raw;
    case 'stringList':
      return raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'string':
      return raw;
  }
}

function convertFile(type: FieldType, raw: unknown): unknown {
  switch (type) {
    case 'bool':
      return typeof raw === 'boolean' ? raw : undefined;
    case 'int':
      return typeof raw === 'number' && Number.isInteger(raw) ? raw : undefined;
    case 'duration':
      return typeof raw === 'string' && parseGoDuration(raw) !== undefined ? raw : undefined;
    case 'stringList':
      return Array.isArray(raw) && raw.every((s) => typeof s === 'string') ? raw : undefined;
    case 'string':
      return typeof raw === 'string' ? raw : undefined;
  }
}

function typeName(type: FieldType): string {
  return { bool: 'a boolean', int: 'an integer', duration: 'a duration', stringList: 'a list of strings', string: 'a string' }[type];
}
