// The check catalogue: every check nodewarden runs on a node, in report order, with its CIS id
// (the numbering of CIS 1.10 and 1.12, which agree), the requirement (title) and what is
// expected; where the two benchmark versions differ, each version's own words and which
// versions have the check at all. This is what the
// posture collector measures; whether a result is a finding, how severe, and what to do about it
// is policy, in the posture rule pack (rules/packs/posture.yaml), one rule per check. Facts follow
// the CIS Kubernetes Benchmark; the wording is ours. {days} in an expectation is the certificate
// warning period.

import type { Benchmark, Component } from './types.js';

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
  /** The benchmark versions that have this check (all when absent). */
  benchmarks?: readonly Benchmark[];
  /** A version's own title and expectation, where they differ from the ones above. */
  versions?: Partial<Record<Benchmark, { title: string; expected: string }>>;
}

/** The checks here that CIS 1.10 and 1.12 mark Manual (kube-bench's cfg texts end in "(Manual)"). */
const MANUAL = new Set([
  '1.1.20', '1.1.21', '1.2.1', '1.2.3', '1.2.9', '1.2.11', '1.2.27', '1.2.28', '1.2.29', '1.3.1', '2.7', '3.2.1',
  '4.1.3', '4.1.4', '4.1.7', '4.1.8', '4.2.4', '4.2.5', '4.2.7', '4.2.8', '4.2.9', '4.2.11', '4.2.12', '4.2.13', '4.2.14',
]);

/** A requirement on one flag of a control-plane component. */
function flag(id: string, title: string, component: Component, expected: string): CheckDefinition {
  return { id, title, component, expected };
}

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
  // CIS 1.10 says 600; CIS 1.12 (like 1.8 before it) says 644: a certificate is public and
  // kubeadm writes them 644.
  {
    id: '1.1.20', title: 'Kubernetes PKI certificate files are 644 or more restrictive', component: 'control-plane', expected: 'every *.crt under the PKI directory mode 644 or more restrictive',
    versions: { 'cis-1.10': { title: 'Kubernetes PKI certificate files are 600 or more restrictive', expected: 'every *.crt under the PKI directory mode 600 or more restrictive' } },
  },
  { id: '1.1.21', title: 'Kubernetes PKI key files are 600', component: 'control-plane', expected: 'every *.key under the PKI directory mode 600 or more restrictive' },

  // 1.2 API server: its effective flags (the running process, else its static pod manifest).
  flag('1.2.1', 'API server anonymous authentication is disabled', 'control-plane', '--anonymous-auth=false'),
  flag('1.2.2', 'API server static token authentication is not used', 'control-plane', 'no --token-auth-file'),
  flag('1.2.3', 'API server admission plugin DenyServiceExternalIPs is enabled', 'control-plane', '--enable-admission-plugins includes DenyServiceExternalIPs'),
  flag('1.2.4', 'API server authenticates to kubelets with a client certificate', 'control-plane', '--kubelet-client-certificate and --kubelet-client-key set to existing files'),
  flag('1.2.5', "API server verifies kubelets' serving certificates", 'control-plane', '--kubelet-certificate-authority set to an existing CA bundle'),
  flag('1.2.6', 'API server authorization is not AlwaysAllow', 'control-plane', '--authorization-mode (or --authorization-config) without AlwaysAllow'),
  flag('1.2.7', 'API server authorization includes Node', 'control-plane', '--authorization-mode (or --authorization-config) includes Node'),
  flag('1.2.8', 'API server authorization includes RBAC', 'control-plane', '--authorization-mode (or --authorization-config) includes RBAC'),
  flag('1.2.9', 'API server admission plugin EventRateLimit is enabled and configured', 'control-plane', '--enable-admission-plugins includes EventRateLimit, configured in --admission-control-config-file'),
  flag('1.2.10', 'API server admission plugin AlwaysAdmit is not enabled', 'control-plane', '--enable-admission-plugins without AlwaysAdmit'),
  flag('1.2.11', 'API server admission plugin AlwaysPullImages is enabled', 'control-plane', '--enable-admission-plugins includes AlwaysPullImages'),
  flag('1.2.12', 'API server admission plugin ServiceAccount is not disabled', 'control-plane', '--disable-admission-plugins without ServiceAccount'),
  flag('1.2.13', 'API server admission plugin NamespaceLifecycle is not disabled', 'control-plane', '--disable-admission-plugins without NamespaceLifecycle'),
  flag('1.2.14', 'API server admission plugin NodeRestriction is enabled', 'control-plane', '--enable-admission-plugins includes NodeRestriction'),
  flag('1.2.15', 'API server profiling is disabled', 'control-plane', '--profiling=false'),
  flag('1.2.16', 'API server writes an audit log', 'control-plane', '--audit-log-path set'),
  flag('1.2.17', 'API server keeps audit logs for at least 30 days', 'control-plane', '--audit-log-maxage 30 or more'),
  flag('1.2.18', 'API server keeps at least 10 audit log files', 'control-plane', '--audit-log-maxbackup 10 or more'),
  flag('1.2.19', 'API server rotates audit logs at 100 MB or more', 'control-plane', '--audit-log-maxsize 100 or more'),
  flag('1.2.21', 'API server checks that service account tokens still exist', 'control-plane', '--service-account-lookup not false (the default is true)'),
  flag('1.2.22', 'API server has a service account key file', 'control-plane', '--service-account-key-file set to an existing file'),
  flag('1.2.23', 'API server authenticates to etcd with a client certificate', 'control-plane', '--etcd-certfile and --etcd-keyfile set to existing files'),
  flag('1.2.24', 'API server serves with its own certificate', 'control-plane', '--tls-cert-file and --tls-private-key-file set to existing files'),
  flag('1.2.25', 'API server verifies client certificates against a CA', 'control-plane', '--client-ca-file set to an existing CA bundle'),
  flag('1.2.26', "API server verifies etcd's certificate", 'control-plane', '--etcd-cafile set to an existing CA bundle'),
  flag('1.2.27', 'API server encrypts resources at rest', 'control-plane', '--encryption-provider-config set to an existing file'),
  flag('1.2.28', 'Secrets are encrypted at rest with a strong provider', 'control-plane', 'the first provider for secrets is aescbc, kms or secretbox'),
  {
    id: '1.2.29', title: 'API server uses only strong TLS cipher suites', component: 'control-plane', expected: '--tls-cipher-suites set to a subset of the CIS 1.12 list (AEAD suites only)',
    versions: { 'cis-1.10': { title: 'API server uses only strong TLS cipher suites', expected: '--tls-cipher-suites set to a subset of the CIS 1.10 list (AEAD and ECDHE CBC-SHA suites)' } },
  },
  { ...flag('1.2.30', 'API server does not extend service account token lifetimes', 'control-plane', '--service-account-extend-token-expiration=false'), benchmarks: ['cis-1.12'] },

  // 1.3 Controller manager.
  flag('1.3.1', 'Controller manager garbage-collects terminated pods at a set threshold', 'control-plane', '--terminated-pod-gc-threshold set'),
  flag('1.3.2', 'Controller manager profiling is disabled', 'control-plane', '--profiling=false'),
  flag('1.3.3', 'Controller manager uses a service account per controller', 'control-plane', '--use-service-account-credentials=true'),
  flag('1.3.4', 'Controller manager signs service account tokens with a private key file', 'control-plane', '--service-account-private-key-file set to an existing file'),
  flag('1.3.5', 'Controller manager gives service accounts the cluster root CA', 'control-plane', '--root-ca-file set to an existing file'),
  flag('1.3.6', 'Controller manager allows kubelet serving certificate rotation', 'control-plane', 'feature gate RotateKubeletServerCertificate not false'),
  flag('1.3.7', 'Controller manager serves on localhost only', 'control-plane', '--bind-address=127.0.0.1'),

  // 1.4 Scheduler.
  flag('1.4.1', 'Scheduler profiling is disabled', 'control-plane', '--profiling=false'),
  flag('1.4.2', 'Scheduler serves on localhost only', 'control-plane', '--bind-address=127.0.0.1'),

  // 2 etcd (flags, or etcd's ETCD_* environment variables).
  flag('2.1', 'etcd serves clients over TLS', 'etcd', '--cert-file and --key-file set to existing files'),
  flag('2.2', 'etcd requires client certificates', 'etcd', '--client-cert-auth=true'),
  flag('2.3', 'etcd does not use self-signed client certificates', 'etcd', '--auto-tls not true'),
  flag('2.4', 'etcd peers talk over TLS', 'etcd', '--peer-cert-file and --peer-key-file set to existing files'),
  flag('2.5', 'etcd requires peer client certificates', 'etcd', '--peer-client-cert-auth=true'),
  flag('2.6', 'etcd does not use self-signed peer certificates', 'etcd', '--peer-auto-tls not true'),
  flag('2.7', 'etcd trusts a certificate authority of its own', 'etcd', "--trusted-ca-file set, and not the API server's client CA"),

  // 3.2 Logging.
  flag('3.2.1', 'API server has an audit policy', 'control-plane', '--audit-policy-file names an audit Policy with rules'),

  // 4.1 Worker node configuration files.
  perm('4.1.1', 'Kubelet service file', '600', 'kubelet'),
  owner('4.1.2', 'Kubelet service file', 'kubelet'),
  perm('4.1.3', 'kube-proxy kubeconfig', '600', 'kube-proxy'),
  owner('4.1.4', 'kube-proxy kubeconfig', 'kube-proxy'),
  perm('4.1.5', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', '600', 'kubelet'),
  owner('4.1.6', 'Kubelet kubeconfig (--kubeconfig, kubelet.conf)', 'kubelet'),
  {
    ...perm('4.1.7', 'Client certificate authorities file', '644', 'kubelet'),
    versions: { 'cis-1.10': { title: 'Client certificate authorities file permissions are 600 or more restrictive', expected: 'mode 600 or more restrictive' } },
  },
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
  { id: '4.2.14', title: 'Kubelet applies the runtime default seccomp profile', component: 'kubelet', expected: 'seccompDefault: true (--seccomp-default)', benchmarks: ['cis-1.12'] },

  // 4.3 kube-proxy.
  { id: '4.3.1', title: 'kube-proxy metrics are bound to localhost', component: 'kube-proxy', expected: 'metricsBindAddress on 127.0.0.1 or ::1 (the default 127.0.0.1:10249)' },

  // nodewarden's own checks.
  { id: 'nw-manifest-drift', title: 'Control-plane component runs with the flags of its static pod manifest', component: 'control-plane', expected: 'the running process has the flags its manifest gives' },
  { id: 'nw-cert-expiry', title: 'Certificate is valid and not about to expire', component: 'node', expected: 'valid now and for at least {days} more days' },
];

export const CATALOG: readonly CheckDefinition[] = CHECKS.map((d) => (MANUAL.has(d.id) ? { ...d, manual: true } : d));

/** The catalogue as one benchmark version has it: its checks, with its own words. */
export function catalogFor(benchmark: Benchmark): CheckDefinition[] {
  return CATALOG.filter((d) => !d.benchmarks || d.benchmarks.includes(benchmark)).map((d) => {
    const own = d.versions?.[benchmark];
    return own ? { ...d, ...own } : d;
  });
}

const byId = new Map(CATALOG.map((d) => [d.id, d]));

export function definition(id: string): CheckDefinition {
  const d = byId.get(id);
  if (!d) throw new Error(`no check ${id} in the catalogue`);
  return d;
}
