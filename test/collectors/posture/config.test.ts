// The pieces that turn a node's text into settings: pflag-style argument parsing, Go durations,
// systemd unit expansion, and the effective-configuration rules (a kubelet flag overrides its
// file, kube-proxy's --config overrides its flags, the kubelet's own defaulting quirks).

import t, { type Test } from 'tap';
import { parseArgs, lastFlag, parseGoDuration, parseFeatureGates, parseGoBool } from '../../../collectors/posture/flags.js';
import { applyUnitText, emptyServiceSettings, expandExecStart, parseEnvironmentFile } from '../../../collectors/posture/systemd-unit.js';
import { bindHost, isLoopback } from '../../../collectors/posture/setting-checks.js';
import { evaluateNode, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost, type FixtureHost } from './fixture-host.js';

t.test('parseArgs reads --flag=value, --flag value and lone booleans like pflag', async (t) => {
  const p = parseArgs(['--config=/a', '--kubeconfig', '/b', '--anonymous-auth', '--read-only-port', '0', 'pos', '--v=2', '-x', 'y']);
  t.equal(lastFlag(p, 'config'), '/a');
  t.equal(lastFlag(p, 'kubeconfig'), '/b');
  t.equal(lastFlag(p, 'anonymous-auth'), 'true');
  t.equal(lastFlag(p, 'read-only-port'), '0');
  t.equal(lastFlag(p, 'x'), 'y');
  t.same(p.positionals, ['pos']);
});

t.test('parseArgs: a boolean flag never swallows the next word, the last occurrence wins', async (t) => {
  const p = parseArgs(['--rotate-certificates', 'false', '--read-only-port=1', '--read-only-port=0', '--', '--config=/x']);
  t.equal(lastFlag(p, 'rotate-certificates'), 'true');
  t.same(p.positionals, ['false', '--config=/x']);
  t.equal(lastFlag(p, 'read-only-port'), '0');
  t.equal(lastFlag(p, 'config'), undefined);
});

t.test('parseArgs normalises underscores like the kubelet and takes a negative value', async (t) => {
  const p = parseArgs(['--anonymous_auth=true', '--read_only_port', '10255', '--pod-max-pids', '-1', '--unknown-bool', '--config=/c']);
  t.equal(lastFlag(p, 'anonymous-auth'), 'true');
  t.equal(lastFlag(p, 'read-only-port'), '10255');
  t.equal(lastFlag(p, 'pod-max-pids'), '-1');
  t.equal(lastFlag(p, 'config'), '/c', 'an unlisted flag does not swallow the next flag');
});

t.test('Go values: durations, booleans and feature gates', async (t) => {
  t.equal(parseGoDuration('0'), 0);
  t.equal(parseGoDuration('0s'), 0);
  t.equal(parseGoDuration('4h0m0s'), 4 * 3_600_000);
  t.equal(parseGoDuration('1h30m'), 5_400_000);
  t.equal(parseGoDuration('300ms'), 300);
  t.equal(parseGoDuration('5'), undefined, 'a bare number other than 0 is not a duration');
  t.equal(parseGoDuration('soon'), undefined);
  t.equal(parseGoBool('T'), true);
  t.equal(parseGoBool('0'), false);
  t.equal(parseGoBool('yes'), undefined);
  const g = parseFeatureGates(['A=true,B=false', 'A=false', 'C']);
  t.same([...g.gates], [['A', false], ['B', false]]);
  t.same(g.invalid, ['C']);
});

t.test('systemd: drop-ins reset ExecStart, env files override Environment, $VAR splits and ${VAR} does not', async (t) => {
  const s = emptyServiceSettings();
  applyUnitText(s, '[Unit]\nExecStart=/not/service\n[Service]\nExecStart=/usr/bin/kubelet --old\nEnvironment="A=--a=1 --b=2" B=x\n');
  applyUnitText(s, '[Service]\nExecStart=\nExecStart=-/usr/bin/kubelet $A ${B}-suffix \\\n  "--quoted=a b" $MISSING\nEnvironmentFile=-/etc/default/kubelet\n');
  const env = new Map(s.environment);
  for (const [k, v] of parseEnvironmentFile('# comment\nB="from-file"\n')) env.set(k, v);
  t.same(expandExecStart(s.execStart!, env), ['/usr/bin/kubelet', '--a=1', '--b=2', 'from-file-suffix', '--quoted=a b']);
  t.same(s.environmentFiles, [{ path: '/etc/default/kubelet', optional: true }]);
});

t.test('kube-proxy metrics addresses: loopback or not', async (t) => {
  t.equal(bindHost('127.0.0.1:10249'), '127.0.0.1');
  t.equal(bindHost('[::1]:10249'), '::1');
  t.equal(bindHost(':10249'), '');
  t.equal(bindHost('0.0.0.0'), '0.0.0.0');
  t.ok(isLoopback('127.0.0.1'));
  t.ok(isLoopback('::1'));
  t.ok(isLoopback('localhost'));
  t.notOk(isLoopback(''));
  t.notOk(isLoopback('0.0.0.0'));
  t.notOk(isLoopback('10.0.0.1'));
});

async function fixture(t: Test): Promise<FixtureHost> {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  return host;
}

async function withKubelet(host: FixtureHost, argv: string[]): Promise<void> {
  await host.write('/proc/1200/cmdline', ['/usr/bin/kubelet', ...argv].join('\0') + '\0');
}

function result(e: Evaluation, id: string): { status: string; evidence: string } {
  const r = e.results.find((x) => x.id === id)!;
  return { status: r.status, evidence: r.evidence };
}

t.test('a kubelet flag overrides the same setting in the config file', async (t) => {
  const host = await fixture(t);
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--authorization-mode=AlwaysAllow', '--pod-max-pids=-1', '--tls-cipher-suites=TLS_RSA_WITH_RC4_128_SHA']);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.2.2'), { status: 'fail', evidence: 'authorization.mode is AlwaysAllow (--authorization-mode=AlwaysAllow on the kubelet command line)' });
  t.equal(result(e, '4.2.13').status, 'warn', 'Manual in the benchmark: a warning');
  t.match(result(e, '4.2.12').evidence, 'not on the strong list: TLS_RSA_WITH_RC4_128_SHA');
});

t.test('a zero streamingConnectionIdleTimeout in the file is defaulted to 4h, a zero flag is not', async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\nstreamingConnectionIdleTimeout: 0s\npodPidsLimit: -5\n', 0o600);
  let e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.2.5'), { status: 'pass', evidence: "streamingConnectionIdleTimeout is 4h0m0s (not set; the kubelet's default)" });
  t.match(result(e, '4.2.13').evidence, 'podPidsLimit is -1 (in /var/lib/kubelet/config.yaml)');
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--streaming-connection-idle-timeout=0s']);
  e = await evaluateNode(host.fs, { now: host.now });
  t.equal(result(e, '4.2.5').status, 'warn', 'Manual in the benchmark: a warning');
});

t.test('kubelet defaults with a config file: anonymous off, Webhook, read-only port 0, rotation off', async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/config.yaml', 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n', 0o600);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.2.1'), { status: 'pass', evidence: "authentication.anonymous.enabled is false (not set; the kubelet's default)" });
  t.equal(result(e, '4.2.2').status, 'pass');
  t.equal(result(e, '4.2.4').status, 'pass');
  t.equal(result(e, '4.2.6').status, 'pass');
  t.same(result(e, '4.2.8'), { status: 'pass', evidence: "eventRecordQPS is 50 (not set; the kubelet's default)" });
  t.same(result(e, '4.2.10'), { status: 'fail', evidence: "rotateCertificates is false (not set; the kubelet's default)" });
  t.equal(result(e, '4.2.11').status, 'warn', 'the gate is on by default but nothing requests a serving certificate');
  t.equal(result(e, '4.2.12').status, 'warn', 'Manual in the benchmark: a warning');
  t.equal(result(e, '4.2.13').status, 'warn', 'Manual in the benchmark: a warning');
  t.equal(result(e, '4.2.3').status, 'fail');
});

t.test('a wrongly typed setting is an error naming the field and the file', async (t) => {
  const host = await fixture(t);
  await host.write('/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\nreadOnlyPort: "zero"\nauthentication:\n  anonymous:\n    enabled: "no"\n', 0o600);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.2.4'), { status: 'error', evidence: 'readOnlyPort in /var/lib/kubelet/config.yaml is "zero", not an integer' });
  t.same(result(e, '4.2.1'), { status: 'error', evidence: 'authentication.anonymous.enabled in /var/lib/kubelet/config.yaml is "no", not a boolean' });
});

t.test('a bad flag value is an error naming the flag', async (t) => {
  const host = await fixture(t);
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--anonymous-auth=maybe']);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.2.1'), { status: 'error', evidence: '--anonymous-auth=maybe on the kubelet command line is not a boolean' });
});

t.test('kube-proxy: with --config the file wins over flags; without it the flags count', async (t) => {
  const host = await fixture(t);
  await host.write('/proc/2400/cmdline', ['/usr/local/bin/kube-proxy', '--config=/var/lib/kube-proxy/config.conf', '--metrics-bind-address=0.0.0.0:10249'].join('\0'));
  let e = await evaluateNode(host.fs, { now: host.now });
  t.equal(result(e, '4.3.1').status, 'pass', 'kube-proxy ignores --metrics-bind-address when given --config');
  await host.write('/proc/2400/cmdline', ['/usr/local/bin/kube-proxy', '--metrics-bind-address=0.0.0.0:10249'].join('\0'));
  e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.3.1'), { status: 'fail', evidence: 'metricsBindAddress is 0.0.0.0:10249 (--metrics-bind-address=0.0.0.0:10249 on the kube-proxy command line)' });
  await host.write('/proc/2400/cmdline', ['/usr/local/bin/kube-proxy', '--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf'].join('\0'));
  e = await evaluateNode(host.fs, { now: host.now });
  t.same(result(e, '4.3.1'), { status: 'pass', evidence: "metricsBindAddress is 127.0.0.1:10249 (not set; kube-proxy's default)" });
  t.equal(e.discovery.kubeProxy.kubeconfig?.hostPath, '/proc/2400/root/var/lib/kube-proxy/kubeconfig.conf');
  t.equal(e.discovery.kubeProxy.kubeconfig?.source, 'cmdline');
});

t.test('a repeated --tls-cipher-suites adds to the list, as the kubelet does (4.2.12 sees every suite)', async (t) => {
  const host = await fixture(t);
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--tls-cipher-suites=TLS_RSA_WITH_3DES_EDE_CBC_SHA', '--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256']);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(result(e, '4.2.12').status, 'warn', 'Manual in the benchmark: a warning');
  t.match(result(e, '4.2.12').evidence, /3DES/);
});

t.test('--anonymous_auth=true is the kubelet flag --anonymous-auth (4.2.1 fails)', async (t) => {
  const host = await fixture(t);
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--anonymous_auth=true']);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(result(e, '4.2.1').status, 'fail');
});

t.test('the TLS 1.3 suites and the ChaCha20 aliases are strong', async (t) => {
  const host = await fixture(t);
  await withKubelet(host, ['--config=/var/lib/kubelet/config.yaml', '--tls-cipher-suites=TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256']);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(result(e, '4.2.12').status, 'pass', result(e, '4.2.12').evidence);
});
