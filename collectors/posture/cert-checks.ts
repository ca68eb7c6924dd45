// nw-cert-expiry: certificates the node depends on — the kubelet's serving and client
// certificates, its client CA bundle and, on a control-plane node, every PKI certificate and the
// client certificates embedded in the control-plane kubeconfigs — are valid now and not within
// `expiryWarnDays` of expiring. One result per certificate file (or kubeconfig), subject = path.

import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import type { CheckContext, CheckFn, Outcome } from './check.js';
import type { HostView } from './host-view.js';
import { loadYamlMapping, getPath, describeValue } from './yaml-file.js';
import { lastFlag } from './flags.js';
import { fileInfo } from './file-rule.js';
import { walkPki, PKI_DIR } from './pki.js';
import { ContentCache } from './content-cache.js';

const DEFAULT_CERT_DIR = '/var/lib/kubelet/pki';
const CONTROL_PLANE_KUBECONFIGS = [
  '/etc/kubernetes/admin.conf',
  '/etc/kubernetes/super-admin.conf',
  '/etc/kubernetes/controller-manager.conf',
  '/etc/kubernetes/scheduler.conf',
];
const DAY_MS = 86_400_000;

type CertsOutcome = { kind: 'ok'; certs: X509Certificate[] } | { kind: 'missing' } | { kind: 'error'; message: string };

/** Parsed certificates by PEM block: a control plane has a dozen, re-read on every evaluation. */
const parsed = new ContentCache<X509Certificate | string>(512, 64 * 1024);

/** Every PEM certificate block in a text; a key in the same file (kubelet-client-current.pem) is skipped. */
export function parsePemCertificates(text: string, label: string): CertsOutcome {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  if (!blocks) return { kind: 'error', message: `${label} is not a PEM certificate (no BEGIN CERTIFICATE block)` };
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    const cert = parsed.get(block, () => {
      try {
        return new X509Certificate(block);
      } catch (err) {
        return (err as Error).message;
      }
    });
    if (typeof cert === 'string') return { kind: 'error', message: `${label} holds a certificate that cannot be parsed: ${cert}` };
    certs.push(cert);
  }
  return { kind: 'ok', certs };
}

function loadCertFile(view: HostView, hostPath: string): Promise<CertsOutcome> {
  return view.cached(`cert\0${hostPath}`, async () => {
    const read = await view.readText(hostPath);
    if (read.kind === 'missing') return { kind: 'missing' };
    if (read.kind === 'error') return { kind: 'error', message: `cannot read certificate ${hostPath}: ${read.message}` };
    return parsePemCertificates(read.text, hostPath);
  });
}

/** Judge the earliest-expiring certificate of a file (a CA bundle may hold several). */
export function judgeCertificates(ctx: Pick<CheckContext, 'now' | 'expiryWarnDays'>, label: string, certs: X509Certificate[]): Omit<Outcome, 'subject'> {
  const now = ctx.now.getTime();
  const dated = certs.map((c) => ({ c, from: Date.parse(c.validFrom), to: Date.parse(c.validTo) }));
  dated.sort((a, b) => a.to - b.to);
  const first = dated[0]!;
  const cn = subjectName(first.c);
  const of = certs.length > 1 ? ` (earliest of ${certs.length} certificates)` : '';
  const notYet = dated.find((d) => d.from > now);
  if (first.to <= now) {
    const days = Math.floor((now - first.to) / DAY_MS);
    return { status: 'fail', reason: 'expired', evidence: `${label}: ${cn} expired ${iso(first.to)}, ${days} day${days === 1 ? '' : 's'} ago${of}` };
  }
  if (notYet) {
    return { status: 'fail', reason: 'not-yet-valid', evidence: `${label}: ${subjectName(notYet.c)} is not valid before ${iso(notYet.from)}` };
  }
  const days = Math.floor((first.to - now) / DAY_MS);
  const text = `${label}: ${cn} expires ${iso(first.to)}, in ${days} day${days === 1 ? '' : 's'}${of}`;
  if (first.to - now < ctx.expiryWarnDays * DAY_MS) return { status: 'warn', reason: 'expiring', evidence: text };
  return { status: 'pass', evidence: text };
}

function subjectName(c: X509Certificate): string {
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(c.subject);
  return cn ? `CN=${cn[1]}` : c.subject.replace(/\n/g, ', ') || 'certificate';
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** One certificate file: na when absent, error when unreadable or not PEM. */
async function certFileOutcome(ctx: CheckContext, hostPath: string, subject = hostPath): Promise<Outcome> {
  ctx.view.watch(hostPath);
  const out = await loadCertFile(ctx.view, hostPath);
  const file = fileInfo(hostPath, await ctx.view.stat(hostPath));
  if (out.kind === 'missing') return { status: 'na', evidence: `${hostPath} does not exist`, subject, file };
  if (out.kind === 'error') return { status: 'error', evidence: out.message, subject, file };
  return { ...judgeCertificates(ctx, hostPath, out.certs), subject, file };
}

/**
 * The client certificate a kubeconfig authenticates with: the current context's user (else the
 * only user), as a file path (relative to the kubeconfig) or embedded client-certificate-data.
 */
async function kubeconfigClientCert(ctx: CheckContext, hostPath: string, what: string): Promise<Outcome> {
  ctx.view.watch(hostPath);
  const cfg = await loadYamlMapping(ctx.view, hostPath, what);
  if (cfg.kind === 'missing') return { status: 'na', evidence: `${hostPath} does not exist`, subject: hostPath };
  if (cfg.kind === 'error') return { status: 'error', evidence: cfg.message, subject: hostPath };
  const users = cfg.data['users'];
  if (users !== undefined && !Array.isArray(users)) {
    return { status: 'error', evidence: `${what} ${hostPath} has users: ${describeValue(users)}, not a list`, subject: hostPath };
  }
  const list = (users ?? []) as unknown[];
  const current = cfg.data['current-context'];
  const contexts = Array.isArray(cfg.data['contexts']) ? (cfg.data['contexts'] as unknown[]) : [];
  const ctxEntry = contexts.find((c) => getPath(asMap(c), ['name']) === current);
  const userName = ctxEntry ? getPath(asMap(ctxEntry), ['context', 'user']) : undefined;
  const entry = list.find((u) => getPath(asMap(u), ['name']) === userName) ?? (list.length === 1 ? list[0] : undefined);
  const user = entry ? asMap(getPath(asMap(entry), ['user'])) : {};
  const data = user['client-certificate-data'];
  const file = user['client-certificate'];
  if (typeof data === 'string' && data !== '') {
    const subject = `${hostPath}#client-certificate-data`;
    const pem = Buffer.from(data, 'base64').toString('utf8');
    const parsed = parsePemCertificates(pem, `client-certificate-data in ${hostPath}`);
    if (parsed.kind !== 'ok') {
      return { status: 'error', evidence: parsed.kind === 'error' ? parsed.message : `${hostPath} has no client certificate`, subject };
    }
    return { ...judgeCertificates(ctx, `client certificate embedded in ${hostPath}`, parsed.certs), subject };
  }
  if (typeof file === 'string' && file !== '') {
    return certFileOutcome(ctx, path.posix.resolve(path.posix.dirname(hostPath), file));
  }
  return { status: 'na', evidence: `${hostPath} authenticates without a client certificate (token or exec plugin)`, subject: hostPath };
}

function asMap(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

async function kubeletServingCert(ctx: CheckContext): Promise<Outcome> {
  const cert = ctx.kubelet.get('tlsCertFile');
  const bootstrap = ctx.kubelet.get('serverTLSBootstrap');
  if (!cert.ok) return { status: 'error', evidence: cert.error, subject: 'kubelet-serving-certificate' };
  if (cert.setting.value !== '') return certFileOutcome(ctx, path.posix.resolve('/', cert.setting.value));
  const dir = lastFlag(ctx.kubelet.args, 'cert-dir') || DEFAULT_CERT_DIR;
  // With serverTLSBootstrap the kubelet keeps its cluster-issued certificate behind this symlink;
  // otherwise it generates a self-signed kubelet.crt on first start.
  const name = bootstrap.ok && bootstrap.setting.value === true ? 'kubelet-server-current.pem' : 'kubelet.crt';
  return certFileOutcome(ctx, path.posix.join(path.posix.resolve('/', dir), name));
}

export const CERT_CHECKS: Record<string, CheckFn> = {
  'nw-cert-expiry': async (ctx) => {
    const jobs: Array<Promise<Outcome>> = [];
    const k = ctx.discovery.kubelet;
    if (ctx.kubelet.present) {
      jobs.push(kubeletServingCert(ctx));
      if (k.kubeconfig) jobs.push(kubeconfigClientCert(ctx, k.kubeconfig.hostPath, 'kubelet kubeconfig'));
      if (k.clientCAFile) jobs.push(certFileOutcome(ctx, k.clientCAFile.hostPath));
    }
    if (ctx.discovery.controlPlane) {
      const pki = await walkPki(ctx.view);
      for (const f of pki.files.filter((f) => f.endsWith('.crt'))) jobs.push(certFileOutcome(ctx, f));
      for (const kc of CONTROL_PLANE_KUBECONFIGS) jobs.push(kubeconfigClientCert(ctx, kc, 'kubeconfig'));
    }
    const outcomes = await Promise.all(jobs);
    // One result per subject: the client CA is often also a PKI certificate.
    const seen = new Set<string>();
    const unique = outcomes.filter((o) => !seen.has(o.subject) && seen.add(o.subject));
    // An absent optional kubeconfig (super-admin.conf before 1.29) is not worth a row each.
    const shown = unique.filter((o) => !(o.status === 'na' && CONTROL_PLANE_KUBECONFIGS.includes(o.subject)));
    if (shown.length === 0) {
      return [{ status: 'na', evidence: `no kubelet and no control-plane certificates found (${PKI_DIR})`, subject: 'certificates' }];
    }
    return shown.sort((a, b) => a.subject.localeCompare(b.subject));
  },
};
