// Discovery like on a real node: a running process found in /proc (a real spawned process whose
// command line looks like a kubelet's, and a real chrooted "kube-proxy" whose config is read
// through /proc/<pid>/root), the systemd unit and its environment files when the process is
// absent, kubeadm's defaults when nothing else is there.

import t, { type Test } from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { evaluateNode, discoverNode, discoveryKey, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost, type FixtureHost } from './fixture-host.js';

const realProc = new HostFs('/');

async function fixture(t: Test, name: string, options: { processes?: boolean } = {}): Promise<FixtureHost> {
  const host = await prepareHost(name, options);
  t.teardown(() => host.cleanup());
  return host;
}

function evidence(e: Evaluation, id: string): string {
  return e.results.filter((r) => r.id === id).map((r) => r.evidence).join(' | ');
}

function status(e: Evaluation, id: string): string {
  return e.results.filter((r) => r.id === id).map((r) => r.status).join(',');
}

/** Wait until the child has exec'd (before that its cmdline is still the test runner's). */
async function waitForCmdline(pid: number, first: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === first) return;
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} never showed ${first} as argv[0]`);
}

/**
 * A real process whose command line reads `/usr/bin/kubelet <script> <flags…>`: node running an
 * idle script with argv[0] replaced. The script path is a positional argument, as harmless to
 * the flag parser as the kubelet's own positionals.
 */
async function spawnFakeKubelet(t: Test, flags: string[]): Promise<ChildProcess> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-fake-kubelet-'));
  const script = path.join(dir, 'idle.cjs');
  await fsp.writeFile(script, 'setInterval(() => {}, 1 << 30);\n');
  const child = spawn(process.execPath, [script, ...flags], { argv0: '/usr/bin/kubelet', stdio: 'ignore' });
  t.teardown(async () => {
    child.kill('SIGKILL');
    await fsp.rm(dir, { recursive: true, force: true });
  });
  await waitForCmdline(child.pid!, '/usr/bin/kubelet');
  return child;
}

t.test('a running kubelet is found in /proc and its flags override its config file', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  const child = await spawnFakeKubelet(t, [
    '--config=/var/lib/kubelet/config.yaml',
    '--kubeconfig',
    '/etc/kubernetes/kubelet.conf',
    '--read-only-port',
    '10255',
    '--anonymous-auth',
  ]);
  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.kubelet.process?.pid, child.pid);
  t.equal(e.discovery.kubelet.argsSource, 'cmdline');
  t.same(e.discovery.kubelet.configFile, { path: '/var/lib/kubelet/config.yaml', hostPath: '/var/lib/kubelet/config.yaml', source: 'cmdline' });
  t.same(e.discovery.kubelet.kubeconfig, { path: '/etc/kubernetes/kubelet.conf', hostPath: '/etc/kubernetes/kubelet.conf', source: 'cmdline' });
  t.equal(e.discovery.procfs, true);
  // The file says readOnlyPort: 0 and anonymous: false; the command line wins.
  t.equal(status(e, '4.2.4'), 'warn', 'Manual in the benchmark: a warning');
  t.equal(evidence(e, '4.2.4'), 'readOnlyPort is 10255 (--read-only-port=10255 on the kubelet command line)');
  t.equal(evidence(e, '4.2.1'), 'authentication.anonymous.enabled is true (--anonymous-auth=true on the kubelet command line)');
  // Everything the flags do not touch still comes from the fixture's config file.
  t.equal(evidence(e, '4.2.2'), 'authorization.mode is Webhook (in /var/lib/kubelet/config.yaml)');
  t.equal(status(e, '4.1.9'), 'pass');
});

t.test('a kubelet restarted with other flags changes the discovery key', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  const first = await spawnFakeKubelet(t, ['--config=/var/lib/kubelet/config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf']);
  const before = await discoverNode(host.fs, { procFs: realProc });
  t.equal(before.kubelet.process?.pid, first.pid);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const second = await spawnFakeKubelet(t, ['--config=/etc/kubernetes/kubelet-config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf']);
  const after = await discoverNode(host.fs, { procFs: realProc });
  t.equal(after.kubelet.process?.pid, second.pid);
  t.equal(after.kubelet.configFile?.path, '/etc/kubernetes/kubelet-config.yaml');
  t.not(discoveryKey(after), discoveryKey(before));
  t.equal(discoveryKey(await discoverNode(host.fs, { procFs: realProc })), discoveryKey(after), 'stable while nothing changes');
});

t.test('a kubelet running without --config gets the legacy command-line defaults', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  await spawnFakeKubelet(t, ['--kubeconfig=/etc/kubernetes/kubelet.conf']);
  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.kubelet.configFile, undefined);
  t.equal(evidence(e, '4.2.1'), "authentication.anonymous.enabled is true (not set; the kubelet's default when it runs without a config file)");
  t.equal(evidence(e, '4.2.2'), "authorization.mode is AlwaysAllow (not set; the kubelet's default when it runs without a config file)");
  t.equal(evidence(e, '4.2.4'), "readOnlyPort is 10255 (not set; the kubelet's default when it runs without a config file)");
  t.equal(status(e, '4.1.9'), 'na');
  t.equal(evidence(e, '4.1.9'), 'the kubelet runs without a config file (--config)');
});

/** Copy an executable and the shared libraries ldd lists into a chroot directory. */
function installInChroot(dir: string, exe: string, as: string): void {
  const target = path.join(dir, as);
  execFileSync('mkdir', ['-p', path.dirname(target)]);
  execFileSync('cp', [exe, target]);
  const libs = execFileSync('ldd', [exe], { encoding: 'utf8' }).match(/\/[^\s)]+/g) ?? [];
  for (const lib of libs) {
    execFileSync('mkdir', ['-p', path.join(dir, path.dirname(lib))]);
    execFileSync('cp', ['-L', lib, path.join(dir, lib)]);
  }
}

function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const chrootSkip = process.getuid?.() !== 0 ? 'chroot needs root' : !['chroot', 'ldd', 'tail'].every(have) ? 'chroot, ldd or tail missing' : false;

t.test('kube-proxy in its own root: its config is read through /proc/<pid>/root', { skip: chrootSkip }, async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  const ctr = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-kube-proxy-root-'));
  t.teardown(() => fsp.rm(ctr, { recursive: true, force: true }));
  // `tail -f` stays up and, with POSIXLY_CORRECT, takes the flags as (missing) file names.
  installInChroot(ctr, execFileSync('sh', ['-c', 'command -v tail'], { encoding: 'utf8' }).trim(), '/usr/local/bin/kube-proxy');
  await fsp.mkdir(path.join(ctr, 'var/lib/kube-proxy'), { recursive: true });
  await fsp.writeFile(
    path.join(ctr, 'var/lib/kube-proxy/config.conf'),
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmetricsBindAddress: 0.0.0.0:10249\n' +
      'clientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n',
  );
  // Inside the container an absolute symlink means the container's own root.
  await fsp.writeFile(path.join(ctr, 'var/lib/kube-proxy/real-kubeconfig'), 'apiVersion: v1\nkind: Config\n', { mode: 0o640 });
  await fsp.symlink('/var/lib/kube-proxy/real-kubeconfig', path.join(ctr, 'var/lib/kube-proxy/kubeconfig.conf'));
  const child = spawn(
    'chroot',
    [ctr, '/usr/local/bin/kube-proxy', '-f', '/var/lib/kube-proxy/config.conf', '--config=/var/lib/kube-proxy/config.conf'],
    { env: { ...process.env, POSIXLY_CORRECT: '1' }, stdio: 'ignore' },
  );
  t.teardown(() => child.kill('SIGKILL'));
  await waitForCmdline(child.pid!, '/usr/local/bin/kube-proxy');

  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.kubeProxy.process?.pid, child.pid);
  t.equal(e.discovery.kubeProxy.root, `/proc/${child.pid}/root`);
  t.same(e.discovery.kubeProxy.configFile, {
    path: '/var/lib/kube-proxy/config.conf',
    hostPath: `/proc/${child.pid}/root/var/lib/kube-proxy/config.conf`,
    source: 'cmdline',
  });
  t.equal(evidence(e, '4.3.1'), `metricsBindAddress is 0.0.0.0:10249 (in /proc/${child.pid}/root/var/lib/kube-proxy/config.conf)`);
  const kc = e.results.find((r) => r.id === '4.1.3')!;
  t.equal(kc.status, 'warn', 'Manual in the benchmark');
  t.equal(kc.subject, 'kube-proxy:/var/lib/kube-proxy/kubeconfig.conf');
  t.match(kc.evidence, 'mode 640');
});

t.test('without a kubelet process, the systemd unit and kubeadm-flags.env give its flags', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  const d = await discoverNode(host.fs);
  t.equal(d.kubelet.process, undefined);
  t.equal(d.kubelet.argsSource, 'unit');
  t.same(d.kubelet.unitFiles, ['/lib/systemd/system/kubelet.service', '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf']);
  t.same(d.kubelet.envFiles, ['/var/lib/kubelet/kubeadm-flags.env', '/etc/default/kubelet']);
  t.same(d.kubelet.args, [
    '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
    '--kubeconfig=/etc/kubernetes/kubelet.conf',
    '--config=/var/lib/kubelet/config.yaml',
    '--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock',
    '--pod-infra-container-image=registry.k8s.io/pause:3.10',
  ]);
  t.equal(d.kubelet.configFile?.source, 'unit');
  t.equal(d.kubelet.kubeconfig?.source, 'unit');
});

t.test('flags from /etc/default/kubelet (KUBELET_EXTRA_ARGS) count when the kubelet is not running', async (t) => {
  const host = await fixture(t, 'misconfigured-worker', { processes: false });
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.kubelet.argsSource, 'unit');
  t.equal(evidence(e, '4.2.1'), "authentication.anonymous.enabled is true (--anonymous-auth=true in the kubelet's systemd unit)");
  t.equal(evidence(e, '4.2.7'), "--hostname-override=evil-node in the kubelet's systemd unit");
});

t.test('with no process and no unit, kubeadm\'s default paths are used', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  await fsp.rm(host.real('/lib/systemd'), { recursive: true });
  await fsp.rm(host.real('/etc/systemd'), { recursive: true });
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.kubelet.argsSource, 'none');
  t.same(e.discovery.kubelet.configFile, { path: '/var/lib/kubelet/config.yaml', hostPath: '/var/lib/kubelet/config.yaml', source: 'default' });
  t.equal(e.discovery.kubelet.kubeconfig?.source, 'default');
  t.equal(status(e, '4.1.1'), 'na');
  t.match(evidence(e, '4.1.1'), 'no kubelet systemd unit found');
  t.equal(status(e, '4.2.4'), 'pass', 'settings still come from the default config file');
});

t.test('an empty host has nothing to check: everything is not applicable, nothing errors', async (t) => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-empty-host-'));
  t.teardown(() => fsp.rm(root, { recursive: true, force: true }));
  const e = await evaluateNode(new HostFs(root));
  t.same(e.results.filter((r) => r.status !== 'na').map((r) => r.id), []);
  t.equal(e.discovery.kubelet.argsSource, 'none');
  t.equal(e.discovery.procfs, false);
});

t.test('kube-proxy on the host network: /proc/<pid>/root pointing at / stays inside the host root', async (t) => {
  const host = await fixture(t, 'hardened-worker');
  // Replace the fixture's kube-proxy root with a plain "/" link, as for a process in the host's root.
  await fsp.rm(host.real('/proc/2400/root'));
  await fsp.symlink('/', host.real('/proc/2400/root'));
  await host.write('/var/lib/kube-proxy/config.conf', 'kind: KubeProxyConfiguration\nmetricsBindAddress: 10.0.0.5:10249\n');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.kubeProxy.configFile?.hostPath, '/proc/2400/root/var/lib/kube-proxy/config.conf');
  t.equal(evidence(e, '4.3.1'), 'metricsBindAddress is 10.0.0.5:10249 (in /proc/2400/root/var/lib/kube-proxy/config.conf)');
});

t.test('the hyperkube form (hyperkube kubelet …) is recognised', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  await host.write('/proc/77/cmdline', ['/hyperkube', 'kubelet', '--config=/var/lib/kubelet/config.yaml', '--read-only-port=10255'].join('\0') + '\0');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.discovery.kubelet.process?.pid, 77);
  t.same(e.discovery.kubelet.args, ['--config=/var/lib/kubelet/config.yaml', '--read-only-port=10255']);
  t.equal(status(e, '4.2.4'), 'warn', 'Manual in the benchmark: a warning');
});

t.test('--config-dir drop-ins override the config file and are checked as config files', async (t) => {
  const host = await fixture(t, 'hardened-worker', { processes: false });
  await host.write('/proc/88/cmdline', ['/usr/bin/kubelet', '--config=/var/lib/kubelet/config.yaml', '--config-dir=/etc/kubernetes/kubelet.conf.d'].join('\0'));
  await host.write('/etc/kubernetes/kubelet.conf.d/10-a.conf', 'readOnlyPort: 10255\npodPidsLimit: 100\n', 0o600);
  await host.write('/etc/kubernetes/kubelet.conf.d/20-b.conf', 'readOnlyPort: 0\n', 0o644);
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(evidence(e, '4.2.4'), 'readOnlyPort is 0 (in /etc/kubernetes/kubelet.conf.d/20-b.conf)', 'the later drop-in wins');
  t.equal(evidence(e, '4.2.13'), 'podPidsLimit is 100 (in /etc/kubernetes/kubelet.conf.d/10-a.conf)');
  t.same(e.results.filter((r) => r.id === '4.1.9').map((r) => [r.subject, r.status]), [
    ['/var/lib/kubelet/config.yaml', 'pass'],
    ['/etc/kubernetes/kubelet.conf.d/10-a.conf', 'pass'],
    ['/etc/kubernetes/kubelet.conf.d/20-b.conf', 'fail'],
  ]);
});
