// CIS 1.2 (kube-apiserver), 1.3 (kube-controller-manager), 1.4 (kube-scheduler), 2 (etcd) and
// 3.2.1 (audit policy): each check is a requirement on one component's flags, judged on the
// running process (its manifest when it does not run), with the component's own default when a
// flag is not given. A flag that names a file requires the file to exist where the component
// reads it; the encryption provider configuration, the structured authorization configuration,
// the admission configuration and the audit policy are read and judged by their content.
// `nw-manifest-drift` compares the running process with its static pod manifest.

import type { CheckContext, CheckFn, Outcome } from './check.js';
import {
  componentPath, effectiveFlags, flagValue, manifestDrift,
  type ComponentDiscovery, type ControlPlaneName, type EffectiveFlags,
} from './components.js';
import { parseFeatureGates, parseGoBool } from './flags.js';
import { loadYamlMapping, getPath, describeValue } from './yaml-file.js';
import type { Benchmark } from './types.js';

/** What one flag must be. */
interface FlagSpec {
  flag: string;
  /** The component's value when the flag is not given (none when it has no value then). */
  default?: string;
  /** Whether the (given or default) value meets the requirement; undefined = not set at all. */
  ok: (value: string | undefined) => boolean;
  /** The value names a file, which must exist where the component reads it. */
  file?: boolean;
}

const bool = (v: string | undefined): boolean | undefined => (v === undefined ? undefined : parseGoBool(v));
const items = (v: string | undefined): string[] => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

const isFalse = (flag: string, def: string): FlagSpec => ({ flag, default: def, ok: (v) => bool(v) === false });
const isTrue = (flag: string, def: string): FlagSpec => ({ flag, default: def, ok: (v) => bool(v) === true });
const notSet = (flag: string): FlagSpec => ({ flag, ok: (v) => v === undefined });
const given = (flag: string, def?: string): FlagSpec => ({ flag, ...(def !== undefined ? { default: def } : {}), ok: (v) => v !== undefined && v !== '' });
const namesFile = (flag: string): FlagSpec => ({ flag, ok: (v) => v !== undefined && v !== '', file: true });
const includes = (flag: string, item: string, def?: string): FlagSpec => ({ flag, ...(def !== undefined ? { default: def } : {}), ok: (v) => items(v).includes(item) });
const excludes = (flag: string, item: string, def?: string): FlagSpec => ({ flag, ...(def !== undefined ? { default: def } : {}), ok: (v) => !items(v).includes(item) });
const atLeast = (flag: string, min: number, def: string): FlagSpec => ({ flag, default: def, ok: (v) => v !== undefined && /^\d+$/.test(v.trim()) && Number(v) >= min });
const equals = (flag: string, want: string, def: string): FlagSpec => ({ flag, default: def, ok: (v) => v === want });
const onlyFrom = (flag: string, allowed: ReadonlySet<string>): FlagSpec => ({ flag, ok: (v) => items(v).length > 0 && items(v).every((s) => allowed.has(s)) });
const gateNotOff = (gate: string): FlagSpec => ({ flag: 'feature-gates', ok: (v) => parseFeatureGates(v === undefined ? [] : [v]).gates.get(gate) !== false });

/** TLS suites CIS 1.12 accepts for the API server (AEAD only). */
const API_SUITES_1_12 = new Set([
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305', 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
]);
/** CIS 1.10 also accepted the ECDHE CBC-SHA suites. */
const API_SUITES_1_10 = new Set([
  ...API_SUITES_1_12,
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA', 'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
]);
export const API_SERVER_SUITES: Readonly<Record<Benchmark, ReadonlySet<string>>> = { 'cis-1.10': API_SUITES_1_10, 'cis-1.12': API_SUITES_1_12 };

/** The providers CIS accepts as the first (writing) provider for secrets. */
const STRONG_PROVIDERS = ['aescbc', 'kms', 'secretbox'];

function absent(c: ComponentDiscovery, what = ''): Outcome[] {
  const where = c.manifest.state === 'missing' ? `no process and no manifest at ${c.manifest.hostPath}` : 'no process';
  return [{ status: 'na', evidence: `${c.name} does not run on this node (${where})${what}`, subject: c.name }];
}

/**
 * The component and the flags to judge, or the outcome that ends the check: 'na' where the
 * component does not run here, 'error' when only an unreadable manifest describes it.
 */
function target(ctx: CheckContext, name: ControlPlaneName): { c: ComponentDiscovery; f: EffectiveFlags } | Outcome[] {
  const c = ctx.discovery.components[name];
  const f = effectiveFlags(c);
  if (f.source !== 'none') return { c, f };
  if (c.manifest.state === 'error') return [{ status: 'error', evidence: c.manifest.error!, subject: name }];
  return absent(c);
}

function shown(v: string): string {
  return v === '' ? '(empty)' : v.length > 200 ? `${v.slice(0, 197)}...` : v;
}

/** One flag judged: whether it holds, the sentence that says what was found, or an error. */
async function judgeFlag(ctx: CheckContext, c: ComponentDiscovery, f: EffectiveFlags, spec: FlagSpec): Promise<{ ok: boolean; text: string; error?: boolean }> {
  const found = flagValue(c, f, spec.flag);
  const value = found?.value ?? spec.default;
  const name = found?.via ?? `--${spec.flag}`;
  let text: string;
  if (found) text = `${name} is ${shown(found.value)}`;
  else if (spec.default !== undefined) text = `--${spec.flag} is not set (${c.name}'s default: ${shown(spec.default)})`;
  else text = `--${spec.flag} is not set`;
  let ok = spec.ok(value);
  if (ok && spec.file && found) {
    const where = componentPath(c, f, found.value);
    const st = await ctx.view.stat(where);
    if (st.kind === 'error') return { ok: false, text: `${text}, which cannot be checked: ${st.message}`, error: true };
    if (st.kind === 'missing') {
      ok = false;
      text += `, which does not exist${where !== found.value ? ` (read as ${where})` : ''}`;
    }
  }
  return { ok, text };
}

/** A check over one component's flags: pass when every flag holds. */
function flags(name: ControlPlaneName, ...specs: FlagSpec[]): CheckFn {
  return async (ctx) => {
    const t = target(ctx, name);
    if (Array.isArray(t)) return t;
    const judged = await Promise.all(specs.map((s) => judgeFlag(ctx, t.c, t.f, s)));
    const status = judged.some((j) => j.error) ? 'error' : judged.every((j) => j.ok) ? 'pass' : 'fail';
    return [{ status, evidence: `${judged.map((j) => j.text).join('; ')} (${t.f.origin})`, subject: name }];
  };
}

/**
 * The API server's authorizers: --authorization-mode, or the types listed in the structured
 * --authorization-config file (Kubernetes 1.29+; the two flags exclude each other).
 */
async function authorizers(ctx: CheckContext, c: ComponentDiscovery, f: EffectiveFlags): Promise<{ modes: string[]; text: string } | { error: string }> {
  const file = flagValue(c, f, 'authorization-config');
  if (file && file.value !== '') {
    const where = componentPath(c, f, file.value);
    const out = await loadYamlMapping(ctx.view, where, 'authorization configuration');
    if (out.kind === 'missing') return { error: `--authorization-config names ${file.value}, which does not exist` };
    if (out.kind === 'error') return { error: out.message };
    const list = out.data.authorizers;
    if (!Array.isArray(list)) return { error: `authorization configuration ${where} has no authorizers list (found ${describeValue(list ?? null)})` };
    const modes = list.map((a) => (a !== null && typeof a === 'object' ? (a as { type?: unknown }).type : undefined)).filter((m): m is string => typeof m === 'string');
    return { modes, text: `--authorization-config ${file.value} lists authorizers ${modes.join(',') || '(none)'}` };
  }
  const mode = flagValue(c, f, 'authorization-mode');
  if (mode) return { modes: items(mode.value), text: `--authorization-mode is ${shown(mode.value)}` };
  return { modes: ['AlwaysAllow'], text: `--authorization-mode is not set (kube-apiserver's default: AlwaysAllow)` };
}

function authorization(judge: (modes: string[]) => boolean): CheckFn {
  return async (ctx) => {
    const t = target(ctx, 'kube-apiserver');
    if (Array.isArray(t)) return t;
    const a = await authorizers(ctx, t.c, t.f);
    if ('error' in a) return [{ status: 'error', evidence: a.error, subject: 'kube-apiserver' }];
    return [{ status: judge(a.modes) ? 'pass' : 'fail', evidence: `${a.text} (${t.f.origin})`, subject: 'kube-apiserver' }];
  };
}

/** 1.2.9: EventRateLimit is enabled, and the admission configuration it needs names it. */
const eventRateLimit: CheckFn = async (ctx) => {
  const t = target(ctx, 'kube-apiserver');
  if (Array.isArray(t)) return t;
  const plugins = flagValue(t.c, t.f, 'enable-admission-plugins');
  const listed = items(plugins?.value).includes('EventRateLimit');
  const parts = [plugins ? `--enable-admission-plugins is ${shown(plugins.value)}` : '--enable-admission-plugins is not set'];
  let ok = listed;
  const config = flagValue(t.c, t.f, 'admission-control-config-file');
  if (listed) {
    if (!config || config.value === '') {
      ok = false;
      parts.push('--admission-control-config-file is not set (EventRateLimit needs its configuration there)');
    } else {
      const where = componentPath(t.c, t.f, config.value);
      const out = await loadYamlMapping(ctx.view, where, 'admission configuration');
      if (out.kind === 'error') return [{ status: 'error', evidence: out.message, subject: 'kube-apiserver' }];
      if (out.kind === 'missing') {
        ok = false;
        parts.push(`--admission-control-config-file names ${config.value}, which does not exist`);
      } else {
        const list = out.data.plugins;
        const names = Array.isArray(list) ? list.map((p) => (p !== null && typeof p === 'object' ? (p as { name?: unknown }).name : undefined)) : [];
        ok = names.includes('EventRateLimit');
        parts.push(`the admission configuration ${config.value} ${ok ? 'configures' : 'does not configure'} EventRateLimit`);
      }
    }
  }
  return [{ status: ok ? 'pass' : 'fail', evidence: `${parts.join('; ')} (${t.f.origin})`, subject: 'kube-apiserver' }];
};

/** 1.2.28: secrets are encrypted at rest by a strong provider (the first provider writes). */
const encryptionProviders: CheckFn = async (ctx) => {
  const t = target(ctx, 'kube-apiserver');
  if (Array.isArray(t)) return t;
  const file = flagValue(t.c, t.f, 'encryption-provider-config');
  if (!file || file.value === '') {
    return [{ status: 'fail', evidence: `--encryption-provider-config is not set: secrets are stored in etcd unencrypted (${t.f.origin})`, subject: 'kube-apiserver' }];
  }
  const where = componentPath(t.c, t.f, file.value);
  const out = await loadYamlMapping(ctx.view, where, 'encryption provider configuration');
  if (out.kind === 'missing') return [{ status: 'fail', evidence: `--encryption-provider-config names ${file.value}, which does not exist (${t.f.origin})`, subject: 'kube-apiserver' }];
  if (out.kind === 'error') return [{ status: 'error', evidence: out.message, subject: 'kube-apiserver' }];
  const resources = getPath(out.data, ['resources']);
  if (!Array.isArray(resources)) {
    return [{ status: 'fail', evidence: `${file.value} has no resources list (found ${describeValue(resources ?? null)})`, subject: 'kube-apiserver' }];
  }
  for (const r of resources) {
    if (r === null || typeof r !== 'object') continue;
    const names = (r as { resources?: unknown }).resources;
    if (!Array.isArray(names) || !names.some((n) => n === 'secrets' || n === '*.' || n === '*.*')) continue;
    const providers = (r as { providers?: unknown }).providers;
    const first = Array.isArray(providers) && providers[0] !== null && typeof providers[0] === 'object' ? Object.keys(providers[0] as object)[0] : undefined;
    const ok = first !== undefined && STRONG_PROVIDERS.includes(first);
    return [{
      status: ok ? 'pass' : 'fail',
      evidence: `${file.value}: secrets are written with the ${first ?? '(no)'} provider (${t.f.origin})`,
      subject: 'kube-apiserver',
    }];
  }
  return [{ status: 'fail', evidence: `${file.value} has no entry for secrets: they are stored unencrypted (${t.f.origin})`, subject: 'kube-apiserver' }];
};

/** 3.2.1: an audit policy exists and has rules. */
const auditPolicy: CheckFn = async (ctx) => {
  const t = target(ctx, 'kube-apiserver');
  if (Array.isArray(t)) return t;
  const file = flagValue(t.c, t.f, 'audit-policy-file');
  if (!file || file.value === '') {
    return [{ status: 'fail', evidence: `--audit-policy-file is not set: the API server writes no audit log (${t.f.origin})`, subject: 'kube-apiserver' }];
  }
  const out = await loadYamlMapping(ctx.view, componentPath(t.c, t.f, file.value), 'audit policy');
  if (out.kind === 'missing') return [{ status: 'fail', evidence: `--audit-policy-file names ${file.value}, which does not exist (${t.f.origin})`, subject: 'kube-apiserver' }];
  if (out.kind === 'error') return [{ status: 'error', evidence: out.message, subject: 'kube-apiserver' }];
  const rules = out.data.rules;
  const n = Array.isArray(rules) ? rules.length : 0;
  const kind = out.data.kind;
  const ok = kind === 'Policy' && n > 0;
  return [{ status: ok ? 'pass' : 'fail', evidence: `${file.value} is ${kind === 'Policy' ? 'an audit Policy' : `not an audit Policy (kind ${describeValue(kind ?? null)})`} with ${n} rule${n === 1 ? '' : 's'} (${t.f.origin})`, subject: 'kube-apiserver' }];
};

/** 2.7: etcd trusts a CA of its own, not the cluster's client CA. */
const etcdOwnCa: CheckFn = async (ctx) => {
  const [result] = await flags('etcd', namesFile('trusted-ca-file'))(ctx);
  if (result!.status !== 'pass') return [result!];
  const etcd = ctx.discovery.components.etcd;
  const api = ctx.discovery.components['kube-apiserver'];
  const ef = effectiveFlags(etcd);
  const af = effectiveFlags(api);
  const etcdCa = flagValue(etcd, ef, 'trusted-ca-file')!.value;
  const apiCa = af.source === 'none' ? undefined : flagValue(api, af, 'client-ca-file')?.value;
  if (!apiCa) return [result!];
  const [a, b] = await Promise.all([ctx.view.readText(componentPath(etcd, ef, etcdCa)), ctx.view.readText(componentPath(api, af, apiCa))]);
  const same = a.kind === 'ok' && b.kind === 'ok' && a.text.trim() === b.text.trim();
  if (!same) return [result!];
  return [{ ...result!, status: 'fail', evidence: `${result!.evidence}; it holds the same CA as the API server's --client-ca-file ${apiCa}: any client certificate of the cluster is trusted by etcd` }];
};

/** nw-manifest-drift: one result per component that runs and has a manifest. */
const drift: CheckFn = async (ctx) => {
  const out: Outcome[] = [];
  for (const c of Object.values(ctx.discovery.components)) {
    if (!c.process && c.manifest.state !== 'ok') continue;
    if (!c.process) {
      out.push({ status: 'na', evidence: `${c.name} is not running: nothing to compare with ${c.manifest.hostPath}`, subject: c.name });
    } else if (c.manifest.state === 'missing') {
      out.push({ status: 'na', evidence: `the running ${c.name} (pid ${c.process.pid}) has no static pod manifest at ${c.manifest.hostPath}`, subject: c.name });
    } else if (c.manifest.state === 'error') {
      out.push({ status: 'error', evidence: c.manifest.error!, subject: c.name });
    } else {
      const diffs = manifestDrift(c);
      out.push(diffs.length === 0
        ? { status: 'pass', evidence: `the running ${c.name} (pid ${c.process.pid}) has the flags of ${c.manifest.hostPath}`, subject: c.name }
        : { status: 'fail', evidence: `the running ${c.name} (pid ${c.process.pid}) differs from ${c.manifest.hostPath}: ${diffs.slice(0, 10).join('; ')}${diffs.length > 10 ? `; and ${diffs.length - 10} more` : ''}`, subject: c.name });
    }
  }
  if (out.length === 0) return [{ status: 'na', evidence: 'no control-plane component runs on this node', subject: 'control-plane' }];
  return out;
};

const API = 'kube-apiserver';
const CM = 'kube-controller-manager';
const SCHED = 'kube-scheduler';

export const COMPONENT_CHECKS: Record<string, CheckFn> = {
  '1.2.1': flags(API, isFalse('anonymous-auth', 'true')),
  '1.2.2': flags(API, notSet('token-auth-file')),
  '1.2.3': flags(API, includes('enable-admission-plugins', 'DenyServiceExternalIPs')),
  '1.2.4': flags(API, namesFile('kubelet-client-certificate'), namesFile('kubelet-client-key')),
  '1.2.5': flags(API, namesFile('kubelet-certificate-authority')),
  '1.2.6': authorization((m) => !m.includes('AlwaysAllow')),
  '1.2.7': authorization((m) => m.includes('Node')),
  '1.2.8': authorization((m) => m.includes('RBAC')),
  '1.2.9': eventRateLimit,
  '1.2.10': flags(API, excludes('enable-admission-plugins', 'AlwaysAdmit')),
  '1.2.11': flags(API, includes('enable-admission-plugins', 'AlwaysPullImages')),
  '1.2.12': flags(API, excludes('disable-admission-plugins', 'ServiceAccount')),
  '1.2.13': flags(API, excludes('disable-admission-plugins', 'NamespaceLifecycle')),
  '1.2.14': flags(API, includes('enable-admission-plugins', 'NodeRestriction')),
  '1.2.15': flags(API, isFalse('profiling', 'true')),
  '1.2.16': flags(API, given('audit-log-path')),
  '1.2.17': flags(API, atLeast('audit-log-maxage', 30, '0')),
  '1.2.18': flags(API, atLeast('audit-log-maxbackup', 10, '0')),
  '1.2.19': flags(API, atLeast('audit-log-maxsize', 100, '0')),
  '1.2.21': flags(API, isTrue('service-account-lookup', 'true')),
  '1.2.22': flags(API, namesFile('service-account-key-file')),
  '1.2.23': flags(API, namesFile('etcd-certfile'), namesFile('etcd-keyfile')),
  '1.2.24': flags(API, namesFile('tls-cert-file'), namesFile('tls-private-key-file')),
  '1.2.25': flags(API, namesFile('client-ca-file')),
  '1.2.26': flags(API, namesFile('etcd-cafile')),
  '1.2.27': flags(API, namesFile('encryption-provider-config')),
  '1.2.28': encryptionProviders,
  '1.2.29': async (ctx) => flags(API, onlyFrom('tls-cipher-suites', API_SERVER_SUITES[ctx.benchmark]))(ctx),
  '1.2.30': flags(API, isFalse('service-account-extend-token-expiration', 'true')),
  '1.3.1': flags(CM, given('terminated-pod-gc-threshold')),
  '1.3.2': flags(CM, isFalse('profiling', 'true')),
  '1.3.3': flags(CM, isTrue('use-service-account-credentials', 'false')),
  '1.3.4': flags(CM, namesFile('service-account-private-key-file')),
  '1.3.5': flags(CM, namesFile('root-ca-file')),
  '1.3.6': flags(CM, gateNotOff('RotateKubeletServerCertificate')),
  '1.3.7': flags(CM, equals('bind-address', '127.0.0.1', '0.0.0.0')),
  '1.4.1': flags(SCHED, isFalse('profiling', 'true')),
  '1.4.2': flags(SCHED, equals('bind-address', '127.0.0.1', '0.0.0.0')),
  '2.1': flags('etcd', namesFile('cert-file'), namesFile('key-file')),
  '2.2': flags('etcd', isTrue('client-cert-auth', 'false')),
  '2.3': flags('etcd', isFalse('auto-tls', 'false')),
  '2.4': flags('etcd', namesFile('peer-cert-file'), namesFile('peer-key-file')),
  '2.5': flags('etcd', isTrue('peer-client-cert-auth', 'false')),
  '2.6': flags('etcd', isFalse('peer-auto-tls', 'false')),
  '2.7': etcdOwnCa,
  '3.2.1': auditPolicy,
  'nw-manifest-drift': drift,
};
