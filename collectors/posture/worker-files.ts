// CIS 4.1: the worker node's configuration files — the kubelet's systemd unit and drop-ins, the
// kube-proxy kubeconfig, the kubelet's kubeconfig, its client CA bundle and its config file(s) —
// each 600 or stricter and owned by root:root. Paths come from discovery, so they follow the
// running kubelet's flags rather than a fixed list.

import path from 'node:path';
import type { CheckContext, CheckFn, Outcome } from './check.js';
import { checkFile, modeRule, ROOT_OWNER, type FileRule, type FileTarget, type Absence } from './file-rule.js';
import type { DiscoveredPath } from './types.js';

const MODE_600 = modeRule(0o600);
const MODE_644 = modeRule(0o644);

function target(p: DiscoveredPath | undefined, owner?: string): FileTarget | undefined {
  if (!p) return undefined;
  // A file inside a container is reached through /proc/<pid>/root, whose pid changes on every
  // restart: the subject names the component and the path it sees instead.
  return p.hostPath === p.path ? { hostPath: p.hostPath } : { hostPath: p.hostPath, subject: `${owner}:${p.path}` };
}

async function each(ctx: CheckContext, targets: FileTarget[], rule: FileRule, absent: Absence): Promise<Outcome[]> {
  if (targets.length === 0) return [await checkFile(ctx, undefined, rule, absent)];
  return Promise.all(targets.map((t) => checkFile(ctx, t, rule, absent)));
}

function unitTargets(ctx: CheckContext): FileTarget[] {
  return ctx.discovery.kubelet.unitFiles.map((f) => ({ hostPath: f }));
}

const NO_UNIT: Absence = {
  evidence: 'no kubelet systemd unit found (looked in /etc/systemd/system, /run/systemd/system, /lib/systemd/system, /usr/lib/systemd/system)',
  subject: 'kubelet.service',
};

function proxyKubeconfigAbsence(ctx: CheckContext): Absence {
  const p = ctx.discovery.kubeProxy;
  if (p.process) return { evidence: 'kube-proxy runs without a kubeconfig file (in-cluster credentials)', subject: 'kube-proxy' };
  return { evidence: 'no kube-proxy on this node and no kube-proxy kubeconfig at the usual paths', subject: 'kube-proxy' };
}

function kubeletKubeconfigAbsence(): Absence {
  return { evidence: 'the kubelet runs without --kubeconfig (standalone mode)', subject: 'kubelet' };
}

function clientCAAbsence(ctx: CheckContext): Absence {
  if (!ctx.kubelet.present) return { evidence: 'no kubelet found on this node', subject: 'kubelet' };
  return { evidence: 'the kubelet has no client CA file and /etc/kubernetes/pki/ca.crt does not exist', subject: 'kubelet' };
}

async function configTargets(ctx: CheckContext): Promise<FileTarget[]> {
  const k = ctx.discovery.kubelet;
  const out: FileTarget[] = [];
  if (k.configFile) out.push({ hostPath: k.configFile.hostPath });
  if (k.configDir) {
    for (const n of (await ctx.view.list(k.configDir.hostPath)).filter((n) => n.endsWith('.conf'))) {
      out.push({ hostPath: path.posix.join(k.configDir.hostPath, n) });
    }
  }
  return out;
}

function configAbsence(ctx: CheckContext): Absence {
  return ctx.kubelet.present
    ? { evidence: 'the kubelet runs without a config file (--config)', subject: 'kubelet' }
    : { evidence: 'no kubelet found on this node', subject: 'kubelet' };
}

export const WORKER_FILE_CHECKS: Record<string, CheckFn> = {
  '4.1.1': (ctx) => each(ctx, unitTargets(ctx), MODE_600, NO_UNIT),
  '4.1.2': (ctx) => each(ctx, unitTargets(ctx), ROOT_OWNER, NO_UNIT),
  '4.1.3': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubeProxy.kubeconfig, 'kube-proxy'), MODE_600, proxyKubeconfigAbsence(ctx))],
  '4.1.4': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubeProxy.kubeconfig, 'kube-proxy'), ROOT_OWNER, proxyKubeconfigAbsence(ctx))],
  '4.1.5': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubelet.kubeconfig), MODE_600, kubeletKubeconfigAbsence())],
  '4.1.6': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubelet.kubeconfig), ROOT_OWNER, kubeletKubeconfigAbsence())],
  // CIS 1.10 asks 600 of the CA bundle; 1.12 asks 644 (a CA certificate is public; kubeadm writes 644).
  '4.1.7': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubelet.clientCAFile), ctx.benchmark === 'cis-1.10' ? MODE_600 : MODE_644, clientCAAbsence(ctx))],
  '4.1.8': async (ctx) => [await checkFile(ctx, target(ctx.discovery.kubelet.clientCAFile), ROOT_OWNER, clientCAAbsence(ctx))],
  '4.1.9': async (ctx) => each(ctx, await configTargets(ctx), MODE_600, configAbsence(ctx)),
  '4.1.10': async (ctx) => each(ctx, await configTargets(ctx), ROOT_OWNER, configAbsence(ctx)),
};
