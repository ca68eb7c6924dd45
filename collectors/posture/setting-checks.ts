// CIS 4.2 and 4.3.1: the kubelet's and kube-proxy's effective settings. Each check reads one
// value with its origin (flag, file or default) and says what it found in one sentence, e.g.
// "readOnlyPort is 10255 (not set; the kubelet's default when it runs without a config file)".

import type { CheckContext, CheckFn, Outcome } from './check.js';
import type { KubeletField, Setting, SettingOutcome } from './kubelet-config.js';
import { parseGoDuration } from './flags.js';

/** The cipher suites CIS accepts for the kubelet (AEAD suites only). */
export const STRONG_CIPHER_SUITES: ReadonlySet<string> = new Set([
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_RSA_WITH_AES_128_GCM_SHA256',
  // The same ChaCha20 suites under the names Go also accepts, and the TLS 1.3 suites (all AEAD).
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
]);

/** RSA key exchange (no forward secrecy): CIS 1.10 still lists these two, CIS 1.12 no longer does. */
const RSA_KEY_EXCHANGE: ReadonlySet<string> = new Set(['TLS_RSA_WITH_AES_256_GCM_SHA384', 'TLS_RSA_WITH_AES_128_GCM_SHA256']);

/**
 * The benchmark leaves "appropriate" event capture to judgement; the kubelet's default (50 per
 * second) is the one documented reference level, so lower limits (other than 0 = no limit) fail.
 */
export const MIN_EVENT_QPS = 50;

const KUBELET_SUBJECT = 'kubelet';

function absentKubelet(): Outcome[] {
  return [{ status: 'na', evidence: 'no kubelet found on this node (no process, systemd unit or config file)', subject: KUBELET_SUBJECT }];
}

function describe(name: string, s: Setting<unknown>): string {
  const empty = s.value === '' || (Array.isArray(s.value) && s.value.length === 0);
  if (empty && s.source === 'default') return `${name} is not set`;
  const v = Array.isArray(s.value) ? (s.value.length ? s.value.join(',') : '(empty)') : s.value === '' ? '(empty)' : String(s.value);
  return `${name} is ${v} (${s.origin})`;
}

/**
 * A kubelet setting check: na without a kubelet, 'error' when the value cannot be known (bad
 * file, bad flag), otherwise `judge` decides from the value.
 */
function kubeletSetting<K extends KubeletField>(
  key: K,
  name: string,
  judge: (s: Setting<unknown>, ctx: CheckContext) => { status: Outcome['status']; note?: string },
): CheckFn {
  return async (ctx) => {
    if (!ctx.kubelet.present) return absentKubelet();
    const out = ctx.kubelet.get(key) as SettingOutcome<unknown>;
    if (!out.ok) return [{ status: 'error', evidence: out.error, subject: KUBELET_SUBJECT }];
    const verdict = judge(out.setting, ctx);
    const evidence = describe(name, out.setting) + (verdict.note ? `; ${verdict.note}` : '');
    return [{ status: verdict.status, evidence, subject: KUBELET_SUBJECT }];
  };
}

const passIf = (ok: boolean) => ({ status: ok ? ('pass' as const) : ('fail' as const) });

export const SETTING_CHECKS: Record<string, CheckFn> = {
  '4.2.1': kubeletSetting('anonymousAuth', 'authentication.anonymous.enabled', (s) => passIf(s.value === false)),
  '4.2.2': kubeletSetting('authorizationMode', 'authorization.mode', (s) => passIf(s.value !== 'AlwaysAllow')),
  '4.2.3': async (ctx) => {
    const [result] = await kubeletSetting('clientCAFile', 'authentication.x509.clientCAFile', (s) => passIf(s.value !== ''))(ctx);
    const ca = ctx.kubelet.present ? ctx.kubelet.get('clientCAFile') : undefined;
    if (result!.status === 'pass' && ca?.ok) {
      // Set but missing: the kubelet cannot start (or will not once restarted).
      const st = await ctx.view.stat(ca.setting.value);
      if (st.kind === 'missing') return [{ ...result!, status: 'fail', evidence: `${result!.evidence}; the file does not exist` }];
    }
    return [result!];
  },
  '4.2.4': kubeletSetting('readOnlyPort', 'readOnlyPort', (s) => passIf(s.value === 0)),
  '4.2.5': kubeletSetting('streamingConnectionIdleTimeout', 'streamingConnectionIdleTimeout', (s) => {
    const ms = parseGoDuration(s.value as string);
    return ms === 0 ? { status: 'fail', note: 'idle streaming connections (exec, attach, port-forward) never time out' } : { status: 'pass' };
  }),
  '4.2.6': kubeletSetting('makeIPTablesUtilChains', 'makeIPTablesUtilChains', (s) => passIf(s.value === true)),
  '4.2.7': async (ctx) => {
    if (!ctx.kubelet.present) return absentKubelet();
    const override = ctx.kubelet.hostnameOverride();
    return [
      override === undefined
        ? { status: 'pass', evidence: `--hostname-override is not set ${ctx.kubelet.argsWhere}`, subject: KUBELET_SUBJECT }
        : { status: 'fail', evidence: `--hostname-override=${override} ${ctx.kubelet.argsWhere}`, subject: KUBELET_SUBJECT },
    ];
  },
  '4.2.8': kubeletSetting('eventRecordQPS', 'eventRecordQPS', (s) => {
    const v = s.value as number;
    if (v === 0) return { status: 'pass', note: 'no limit' };
    if (v < 0) return { status: 'fail', note: 'a negative limit is invalid' };
    return v >= MIN_EVENT_QPS ? { status: 'pass' } : { status: 'fail', note: `events beyond ${v} per second are dropped` };
  }),
  '4.2.9': async (ctx) => {
    if (!ctx.kubelet.present) return absentKubelet();
    const cert = ctx.kubelet.get('tlsCertFile');
    const key = ctx.kubelet.get('tlsPrivateKeyFile');
    const bootstrap = ctx.kubelet.get('serverTLSBootstrap');
    for (const o of [cert, key, bootstrap]) if (!o.ok) return [{ status: 'error', evidence: o.error, subject: KUBELET_SUBJECT }];
    if (!cert.ok || !key.ok || !bootstrap.ok) return [];
    const both = cert.setting.value !== '' && key.setting.value !== '';
    const evidence = `${describe('tlsCertFile', cert.setting)}; ${describe('tlsPrivateKeyFile', key.setting)}`;
    if (both) return [{ status: 'pass', evidence, subject: KUBELET_SUBJECT }];
    if (bootstrap.setting.value === true) {
      return [{ status: 'pass', evidence: `${describe('serverTLSBootstrap', bootstrap.setting)}: the serving certificate is issued by the cluster`, subject: KUBELET_SUBJECT }];
    }
    return [{ status: 'fail', evidence: `${evidence}; serverTLSBootstrap is false, so the kubelet serves a self-signed certificate`, subject: KUBELET_SUBJECT }];
  },
  '4.2.10': kubeletSetting('rotateCertificates', 'rotateCertificates', (s) => passIf(s.value === true)),
  '4.2.11': async (ctx) => {
    if (!ctx.kubelet.present) return absentKubelet();
    const gate = ctx.kubelet.rotateServerCertGate();
    const bootstrap = ctx.kubelet.get('serverTLSBootstrap');
    const cert = ctx.kubelet.get('tlsCertFile');
    for (const o of [gate, bootstrap, cert]) if (!o.ok) return [{ status: 'error', evidence: o.error, subject: KUBELET_SUBJECT }];
    if (!gate.ok || !bootstrap.ok || !cert.ok) return [];
    const gateText = describe('feature gate RotateKubeletServerCertificate', gate.setting);
    if (gate.setting.value === false) return [{ status: 'fail', evidence: gateText, subject: KUBELET_SUBJECT }];
    if (bootstrap.setting.value === true) {
      return [{ status: 'pass', evidence: `${gateText}; ${describe('serverTLSBootstrap', bootstrap.setting)}`, subject: KUBELET_SUBJECT }];
    }
    if (cert.setting.value !== '') {
      return [{ status: 'pass', evidence: `${gateText}; the serving certificate is managed outside the kubelet (tlsCertFile ${cert.setting.value})`, subject: KUBELET_SUBJECT }];
    }
    return [{
      status: 'warn',
      evidence: `${gateText}, but ${describe('serverTLSBootstrap', bootstrap.setting)}: the kubelet never requests a serving certificate, so its self-signed one is not rotated`,
      subject: KUBELET_SUBJECT,
    }];
  },
  '4.2.12': kubeletSetting('tlsCipherSuites', 'tlsCipherSuites', (s, ctx) => {
    const suites = s.value as string[];
    if (suites.length === 0) return { status: 'fail', note: "Go's default suites are used, which include CBC-mode suites" };
    const strong = (c: string): boolean => STRONG_CIPHER_SUITES.has(c) && !(ctx.benchmark !== 'cis-1.10' && RSA_KEY_EXCHANGE.has(c));
    const weak = suites.filter((c) => !strong(c));
    return weak.length === 0 ? { status: 'pass' } : { status: 'fail', note: `not on the strong list: ${weak.join(', ')}` };
  }),
  '4.2.14': kubeletSetting('seccompDefault', 'seccompDefault', (s) => {
    const on = s.value === true;
    return on ? { status: 'pass' } : { status: 'fail', note: 'containers without a seccomp profile of their own run unconfined' };
  }),
  '4.2.13': kubeletSetting('podPidsLimit', 'podPidsLimit', (s) => {
    const v = s.value as number;
    return v > 0 ? { status: 'pass' } : { status: 'fail', note: 'a pod can start processes until the node runs out of PIDs' };
  }),
  '4.3.1': async (ctx) => {
    if (!ctx.proxy.present) {
      return [{ status: 'na', evidence: 'no kube-proxy found on this node (no process and no config file)', subject: 'kube-proxy' }];
    }
    const out = ctx.proxy.metricsBindAddress();
    if (!out.ok) return [{ status: 'error', evidence: out.error, subject: 'kube-proxy' }];
    const host = bindHost(out.setting.value);
    return [{
      status: isLoopback(host) ? 'pass' : 'fail',
      evidence: describe('metricsBindAddress', out.setting),
      subject: 'kube-proxy',
    }];
  },
};

/** The host part of host:port, [v6]:port, a bare address, or ':port' (all interfaces). */
export function bindHost(address: string): string {
  const a = address.trim();
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']') > 0 ? a.indexOf(']') : undefined);
  const colons = a.split(':').length - 1;
  if (colons === 1) return a.slice(0, a.indexOf(':'));
  return a; // bare IPv4, bare IPv6 or a name
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
