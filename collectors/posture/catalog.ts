// The check catalogue: every check nodewarden runs on a node, in report order, with its CIS id
// (kube-bench cis-1.10 numbering), the requirement (title) and what is expected. This is what the
// posture collector measures; whether a result is a finding, how severe, and what to do about it
// is policy, in the posture rule pack (rules/packs/posture.yaml), one rule per check. Facts follow
// the CIS Kubernetes Benchmark; the wording is ours. {days} in an expectation is the certificate
// warning period.

import type { Component } from './types.js';

export interface CheckDefinition {
  id: string;
  title: string;
  component: Component;
  expected: string;
  /**
   * The benchmark marks it Manual (CIS 1.10 and 1.12 alike, for the checks here): a judgement a
   * person makes, so a failure is reported as `warn`, never `fail` (`check --strict` counts it).
   */
  manual?: boolean;
}

/** The checks here that CIS 1.10 and 1.12 mark Manual (kube-bench's cfg texts end in "(Manual)"). */
const MANUAL = new Set(['1.1.20', '1.1.21', '4.1.3', '4.1.4', '4.1.7', '4.1.8', '4.2.4', '4.2.5', '4.2.7', '4.2.8', '4.2.9', '4.2.11', '4.2.12', '4.2.13']);

function perm(id: string, what: string, max: string, component: Component): CheckDefinition {
  return { id, title: `${what} permissions are ${max} or more restrictive`, component, expected: `mode ${max} or more restrictive` };
}

function owner(id: string, what: string, component: Component, owner = 'root:root'): CheckDefinition {
  return { id, title: `${what} is owned by ${owner}`, component, expected: `owner ${owner}` };
}

const CHECKS: readonly CheckDefinition[] = [
  // 1.1 Control plane node configuration files (evaluated where the files exist).
  perm('1.1.1', 'API server static pod manifest', '600', 'control-plane'),
  owner('1.1.2', 'API server static pod manifest', 'control-plane'),
  perm('1.1.3', 'Controller manager static pod manifest', '600', 'control-plane'),
  owner('1.1.4', 'Controller manager static pod manifest', 'control-plane'),
  perm('1.1.5', 'Scheduler static pod manifest', '600', 'control-plane'),
  owner('1.1.6', 'Scheduler static pod manifest', 'control-plane'),
  perm('1.1.7', 'etcd static pod manifest', '600', 'etcd'),
  owner('1.1.8', 'etcd static pod manifest', 'etcd'),
  perm('1.1.11', 'etcd data directory', '700', 'etcd'),
  owner('1.1.12', 'etcd data directory', 'etcd', 'etcd:etcd'),
  perm('1.1.13', 'Administrative kubeconfig (admin.conf, super-admin.conf)', '600', 'control-plane'),
  owner('1.1.14', 'Administrative kubeconfig (admin.conf, super-admin.conf)', 'control-plane'),
  perm('1.1.15', 'scheduler.conf kubeconfig', '600', 'control-plane'),
  owner('1.1.16', 'scheduler.conf kubeconfig', 'control-plane'),
  perm('1.1.17', 'controller-manager.conf kubeconfig', '600', 'control-plane'),
  owner('1.1.18', 'controller-manager.conf kubeconfig', 'control-plane'),
  { id: '1.1.19', title: 'Kubernetes PKI directory and its files are owned by root:root', component: 'control-plane', expected: 'every file and directory under the PKI directory owned by root:root' },
  // CIS 1.10's text says 600; CIS 1.12 (like 1.8 before it) says 644: a certificate is public
  // and kubeadm writes them 644. We follow 1.12 so that a stock node is not flagged for it.
  { id: '1.1.20', title: 'Kubernetes PKI certificate files are 644 or more restrictive', component: 'control-plane', expected: 'every *.crt under the PKI directory mode 644 or more restrictive' },
  { id: '1.1.21', title: 'Kubernetes PKI key files are 600', component: 'control-plane', expected: 'every *.key under the PKI directory mode 600 or more restrictive' },

  // 4.1 Worker node configuration files.
  perm('4.1.1', 'Kubelet service file', '600', 'kubelet'),
  owner('4.1.2', 'Kubelet service file', 'kubelet'),
  perm('4.1.3', 'kube-proxy kubeconfig', '600', 'kube-proxy'),
  owner('4.1.4', 'kube-proxy kubeconfig', 'kube-proxy'),
  perm('4.1.5', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', '600', 'kubelet'),
  owner('4.1.6', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', 'kubelet'),
  perm('4.1.7', 'Client certificate authorities file', '600', 'kubelet'),
  owner('4.1.8', 'Client certificate authorities file', 'kubelet'),
  perm('4.1.9', 'Kubelet config file', '600', 'kubelet'),
  owner('4.1.10', 'Kubelet config file', 'kubelet'),

  // 4.2 Kubelet settings (the effective configuration: flags over config file over defaults).
  { id: '4.2.1', title: 'Kubelet anonymous authentication is disabled', component: 'kubelet', expected: 'authentication.anonymous.enabled: false (--anonymous-auth=false)' },
  { id: '4.2.2', title: 'Kubelet authorization mode is not AlwaysAllow', component: 'kubelet', expected: 'authorization.mode: Webhook (--authorization-mode=Webhook)' },
  { id: '4.2.3', title: 'Kubelet client CA file is set', component: 'kubelet', expected: 'authentication.x509.clientCAFile set to an existing CA bundle (--client-ca-file)' },
  { id: '4.2.4', title: 'Kubelet read-only port is disabled', component: 'kubelet', expected: 'readOnlyPort: 0 (--read-only-port=0)' },
  { id: '4.2.5', title: 'Kubelet streaming connection idle timeout is not 0', component: 'kubelet', expected: 'streamingConnectionIdleTimeout not 0 (e.g. 5m)' },
  { id: '4.2.6', title: 'Kubelet manages its iptables utility chains', component: 'kubelet', expected: 'makeIPTablesUtilChains: true' },
  { id: '4.2.7', title: 'Kubelet hostname override is not set', component: 'kubelet', expected: 'no --hostname-override flag' },
  { id: '4.2.8', title: 'Kubelet event record QPS allows appropriate event capture', component: 'kubelet', expected: 'eventRecordQPS 0 (no limit) or at least the default of 50' },
  { id: '4.2.9', title: 'Kubelet serving certificate and key are set', component: 'kubelet', expected: 'tlsCertFile and tlsPrivateKeyFile set, or serverTLSBootstrap: true' },
  { id: '4.2.10', title: 'Kubelet client certificate rotation is enabled', component: 'kubelet', expected: 'rotateCertificates: true' },
  { id: '4.2.11', title: 'Kubelet serving certificate rotation (RotateKubeletServerCertificate) is enabled', component: 'kubelet', expected: 'feature gate RotateKubeletServerCertificate not false, and serverTLSBootstrap: true unless a managed tlsCertFile is set' },
  { id: '4.2.12', title: 'Kubelet uses only strong TLS cipher suites', component: 'kubelet', expected: 'tlsCipherSuites set to a subset of the CIS list of AEAD suites' },
  { id: '4.2.13', title: 'Kubelet limits the number of PIDs per pod', component: 'kubelet', expected: 'podPidsLimit set to a positive number (--pod-max-pids)' },

  // 4.3 kube-proxy.
  { id: '4.3.1', title: 'kube-proxy metrics are bound to localhost', component: 'kube-proxy', expected: 'metricsBindAddress on 127.0.0.1 or ::1 (the default 127.0.0.1:10249)' },

  // nodewarden's own checks.
  { id: 'nw-cert-expiry', title: 'Certificate is valid and not about to expire', component: 'node', expected: 'valid now and for at least {days} more days' },
];

export const CATALOG: readonly CheckDefinition[] = CHECKS.map((d) => (MANUAL.has(d.id) ? { ...d, manual: true } : d));

const byId = new Map(CATALOG.map((d) => [d.id, d]));

export function definition(id: string): CheckDefinition {
  const d = byId.get(id);
  if (!d) throw new Error(`no check ${id} in the catalogue`);
  return d;
}
