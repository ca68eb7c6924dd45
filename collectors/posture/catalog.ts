// The check catalogue: every check nodewarden runs on a node, in report order, with its CIS id
// (kube-bench cis-1.10 numbering), title, severity, expectation and remediation. Facts follow the
// CIS Kubernetes Benchmark; the wording is ours. Placeholders in remediation are filled per
// result: {path} the file concerned, {config} the kubelet's config file.

import type { Severity } from '../../core/finding.js';
import type { Component } from './types.js';

export interface CheckDefinition {
  id: string;
  title: string;
  severity: Severity;
  component: Component;
  expected: string;
  remediation: string;
  mitre?: string[];
}

const RESTART_KUBELET = 'then reload and restart the kubelet (systemctl daemon-reload && systemctl restart kubelet).';
const RESTART_PROXY = 'then restart kube-proxy (on kubeadm: edit the kube-proxy ConfigMap in kube-system and delete the kube-proxy pods).';

/** ATT&CK techniques used below. */
const T = {
  systemdService: 'T1543.002',
  credentialsInFiles: 'T1552.001',
  privateKeys: 'T1552.004',
  containerAdminCommand: 'T1609',
  containerDiscovery: 'T1613',
  networkSniffing: 'T1040',
  endpointDoS: 'T1499',
} as const;

function perm(id: string, what: string, max: string, component: Component, severity: Severity, mitre?: string[]): CheckDefinition {
  return {
    id,
    title: `${what} permissions are ${max} or more restrictive`,
    severity,
    component,
    expected: `mode ${max} or more restrictive`,
    remediation: `Run chmod ${max} {path} on the node.`,
    ...(mitre ? { mitre } : {}),
  };
}

function owner(id: string, what: string, component: Component, severity: Severity, owner = 'root:root', mitre?: string[]): CheckDefinition {
  return {
    id,
    title: `${what} is owned by ${owner}`,
    severity,
    component,
    expected: `owner ${owner}`,
    remediation: `Run chown ${owner} {path} on the node.`,
    ...(mitre ? { mitre } : {}),
  };
}

export const CATALOG: readonly CheckDefinition[] = [
  // 1.1 Control plane node configuration files (evaluated where the files exist).
  perm('1.1.1', 'API server static pod manifest', '600', 'control-plane', 'high', [T.systemdService]),
  owner('1.1.2', 'API server static pod manifest', 'control-plane', 'high'),
  perm('1.1.3', 'Controller manager static pod manifest', '600', 'control-plane', 'high'),
  owner('1.1.4', 'Controller manager static pod manifest', 'control-plane', 'high'),
  perm('1.1.5', 'Scheduler static pod manifest', '600', 'control-plane', 'high'),
  owner('1.1.6', 'Scheduler static pod manifest', 'control-plane', 'high'),
  perm('1.1.7', 'etcd static pod manifest', '600', 'etcd', 'high'),
  owner('1.1.8', 'etcd static pod manifest', 'etcd', 'high'),
  {
    ...perm('1.1.11', 'etcd data directory', '700', 'etcd', 'high', [T.credentialsInFiles]),
    remediation: 'Run chmod 700 {path} (the directory etcd is started with as --data-dir).',
  },
  {
    ...owner('1.1.12', 'etcd data directory', 'etcd', 'medium', 'etcd:etcd'),
    remediation: 'Create an etcd user and group if the host has none (useradd -r etcd), then run chown etcd:etcd {path}.',
  },
  perm('1.1.13', 'Administrative kubeconfig (admin.conf, super-admin.conf)', '600', 'control-plane', 'critical', [T.credentialsInFiles]),
  owner('1.1.14', 'Administrative kubeconfig (admin.conf, super-admin.conf)', 'control-plane', 'critical'),
  perm('1.1.15', 'scheduler.conf kubeconfig', '600', 'control-plane', 'high', [T.credentialsInFiles]),
  owner('1.1.16', 'scheduler.conf kubeconfig', 'control-plane', 'high'),
  perm('1.1.17', 'controller-manager.conf kubeconfig', '600', 'control-plane', 'high', [T.credentialsInFiles]),
  owner('1.1.18', 'controller-manager.conf kubeconfig', 'control-plane', 'high'),
  {
    id: '1.1.19',
    title: 'Kubernetes PKI directory and its files are owned by root:root',
    severity: 'high',
    component: 'control-plane',
    expected: 'every file and directory under the PKI directory owned by root:root',
    remediation: 'Run chown -R root:root {path} on the control-plane node.',
    mitre: [T.privateKeys],
  },
  {
    // CIS 1.10's text says 600; CIS 1.12 (like 1.8 before it) says 644: a certificate is public
    // and kubeadm writes them 644. We follow 1.12 so that a stock node is not flagged for it.
    id: '1.1.20',
    title: 'Kubernetes PKI certificate files are 644 or more restrictive',
    severity: 'medium',
    component: 'control-plane',
    expected: 'every *.crt under the PKI directory mode 644 or more restrictive',
    remediation: 'Run chmod 644 on each certificate listed, e.g. find {path} -name "*.crt" -exec chmod 644 {} +.',
  },
  {
    id: '1.1.21',
    title: 'Kubernetes PKI key files are 600',
    severity: 'critical',
    component: 'control-plane',
    expected: 'every *.key under the PKI directory mode 600 or more restrictive',
    remediation: 'Run chmod 600 on each key listed, e.g. find {path} -name "*.key" -exec chmod 600 {} +.',
    mitre: [T.privateKeys],
  },

  // 4.1 Worker node configuration files.
  {
    ...perm('4.1.1', 'Kubelet service file', '600', 'kubelet', 'medium', [T.systemdService]),
    remediation: 'Run chmod 600 {path} (the kubelet unit and each of its drop-ins).',
  },
  owner('4.1.2', 'Kubelet service file', 'kubelet', 'medium', 'root:root', [T.systemdService]),
  perm('4.1.3', 'kube-proxy kubeconfig', '600', 'kube-proxy', 'medium', [T.credentialsInFiles]),
  owner('4.1.4', 'kube-proxy kubeconfig', 'kube-proxy', 'medium'),
  perm('4.1.5', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', '600', 'kubelet', 'high', [T.credentialsInFiles]),
  owner('4.1.6', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', 'kubelet', 'high'),
  perm('4.1.7', 'Client certificate authorities file', '600', 'kubelet', 'medium'),
  owner('4.1.8', 'Client certificate authorities file', 'kubelet', 'medium'),
  perm('4.1.9', 'Kubelet config file', '600', 'kubelet', 'medium'),
  owner('4.1.10', 'Kubelet config file', 'kubelet', 'medium'),

  // 4.2 Kubelet settings (the effective configuration: flags over config file over defaults).
  {
    id: '4.2.1',
    title: 'Kubelet anonymous authentication is disabled',
    severity: 'high',
    component: 'kubelet',
    expected: 'authentication.anonymous.enabled: false (--anonymous-auth=false)',
    remediation: `Set authentication.anonymous.enabled: false in {config} (or pass --anonymous-auth=false), ${RESTART_KUBELET}`,
    mitre: [T.containerAdminCommand],
  },
  {
    id: '4.2.2',
    title: 'Kubelet authorization mode is not AlwaysAllow',
    severity: 'critical',
    component: 'kubelet',
    expected: 'authorization.mode: Webhook (--authorization-mode=Webhook)',
    remediation: `Set authorization.mode: Webhook in {config} (or pass --authorization-mode=Webhook), ${RESTART_KUBELET}`,
    mitre: [T.containerAdminCommand],
  },
  {
    id: '4.2.3',
    title: 'Kubelet client CA file is set',
    severity: 'high',
    component: 'kubelet',
    expected: 'authentication.x509.clientCAFile set to an existing CA bundle (--client-ca-file)',
    remediation: `Set authentication.x509.clientCAFile in {config} to the cluster CA (kubeadm: /etc/kubernetes/pki/ca.crt), ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.4',
    title: 'Kubelet read-only port is disabled',
    severity: 'medium',
    component: 'kubelet',
    expected: 'readOnlyPort: 0 (--read-only-port=0)',
    remediation: `Set readOnlyPort: 0 in {config} (or pass --read-only-port=0), ${RESTART_KUBELET}`,
    mitre: [T.containerDiscovery],
  },
  {
    id: '4.2.5',
    title: 'Kubelet streaming connection idle timeout is not 0',
    severity: 'low',
    component: 'kubelet',
    expected: 'streamingConnectionIdleTimeout not 0 (e.g. 5m)',
    remediation: `Set streamingConnectionIdleTimeout: 5m in {config} and remove any --streaming-connection-idle-timeout=0, ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.6',
    title: 'Kubelet manages its iptables utility chains',
    severity: 'low',
    component: 'kubelet',
    expected: 'makeIPTablesUtilChains: true',
    remediation: `Set makeIPTablesUtilChains: true in {config} (or remove --make-iptables-util-chains=false), ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.7',
    title: 'Kubelet hostname override is not set',
    severity: 'low',
    component: 'kubelet',
    expected: 'no --hostname-override flag',
    remediation: `Remove --hostname-override from the kubelet's command line (its systemd unit or KUBELET_EXTRA_ARGS), ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.8',
    title: 'Kubelet event record QPS allows appropriate event capture',
    severity: 'low',
    component: 'kubelet',
    expected: 'eventRecordQPS 0 (no limit) or at least the default of 50',
    remediation: `Set eventRecordQPS in {config} to 0 or to a level that keeps every event you need (default 50), ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.9',
    title: 'Kubelet serving certificate and key are set',
    severity: 'medium',
    component: 'kubelet',
    expected: 'tlsCertFile and tlsPrivateKeyFile set, or serverTLSBootstrap: true',
    remediation: `Set tlsCertFile and tlsPrivateKeyFile in {config} to a certificate signed by the cluster CA, or set serverTLSBootstrap: true and approve the kubelet's serving CSRs, ${RESTART_KUBELET}`,
    mitre: [T.networkSniffing],
  },
  {
    id: '4.2.10',
    title: 'Kubelet client certificate rotation is enabled',
    severity: 'medium',
    component: 'kubelet',
    expected: 'rotateCertificates: true',
    remediation: `Set rotateCertificates: true in {config} and remove any --rotate-certificates=false, ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.11',
    title: 'Kubelet serving certificate rotation (RotateKubeletServerCertificate) is enabled',
    severity: 'low',
    component: 'kubelet',
    expected: 'feature gate RotateKubeletServerCertificate not false, and serverTLSBootstrap: true unless a managed tlsCertFile is set',
    remediation: `Remove RotateKubeletServerCertificate=false from featureGates/--feature-gates and set serverTLSBootstrap: true in {config}, ${RESTART_KUBELET}`,
  },
  {
    id: '4.2.12',
    title: 'Kubelet uses only strong TLS cipher suites',
    severity: 'medium',
    component: 'kubelet',
    expected: 'tlsCipherSuites set to a subset of the CIS list of AEAD suites',
    remediation:
      'Set tlsCipherSuites in {config} to a subset of: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ' +
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, ' +
      `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_128_GCM_SHA256, ${RESTART_KUBELET}`,
    mitre: [T.networkSniffing],
  },
  {
    id: '4.2.13',
    title: 'Kubelet limits the number of PIDs per pod',
    severity: 'low',
    component: 'kubelet',
    expected: 'podPidsLimit set to a positive number (--pod-max-pids)',
    remediation: `Set podPidsLimit in {config} to a limit that suits your workloads (e.g. 4096), ${RESTART_KUBELET}`,
    mitre: [T.endpointDoS],
  },

  // 4.3 kube-proxy.
  {
    id: '4.3.1',
    title: 'kube-proxy metrics are bound to localhost',
    severity: 'low',
    component: 'kube-proxy',
    expected: 'metricsBindAddress on 127.0.0.1 or ::1 (the default 127.0.0.1:10249)',
    remediation: `Set metricsBindAddress to 127.0.0.1:10249 (or remove it) in the kube-proxy configuration, ${RESTART_PROXY}`,
    mitre: [T.containerDiscovery],
  },

  // nodewarden's own checks.
  {
    id: 'nw-cert-expiry',
    title: 'Certificate is valid and not about to expire',
    severity: 'high',
    component: 'node',
    expected: 'valid now and for at least {days} more days',
    remediation:
      'Renew the certificate before it expires: kubeadm certs renew for control-plane certificates, client certificate ' +
      'rotation (rotateCertificates: true) for the kubelet, serverTLSBootstrap with approved CSRs for its serving certificate.',
  },
];

const byId = new Map(CATALOG.map((d) => [d.id, d]));

export function definition(id: string): CheckDefinition {
  const d = byId.get(id);
  if (!d) throw new Error(`no check ${id} in the catalogue`);
  return d;
}
