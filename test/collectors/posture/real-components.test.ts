// Control-plane components as real processes: a process whose command line reads like the
// kubeadm API server's (and an etcd configured through ETCD_* variables) is found in the real
// /proc and judged, its manifest compared with it; and the benchmark version is picked from what
// a real kubelet binary says of itself (`kubelet --version`, a small program built here).

import t, { type Test } from 'tap';
import { spawn, execFileSync } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { evaluateNode, type CheckResult, type Evaluation } from '../../../collectors/posture/index.js';
import { oneResult, prepareHost, type FixtureHost } from './fixture-host.js';

const realProc = new HostFs('/');

async function fixture(t: Test, name: string): Promise<FixtureHost> {
  const host = await prepareHost(name, { processes: false });
  t.teardown(() => host.cleanup());
  return host;
}

const one = oneResult;

async function waitForCmdline(pid: number, first: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === first) return;
    } catch {
      /* not there yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} never showed ${first} as argv[0]`);
}

/** A real idle process whose command line is `<argv0> <script> <args…>`. */
async function spawnAs(t: Test, argv0: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-fake-component-'));
  const script = path.join(dir, 'idle.cjs');
  await fsp.writeFile(script, 'setInterval(() => {}, 1 << 30);\n');
  const child = spawn(process.execPath, [script, ...args], { argv0, stdio: 'ignore', env: { PATH: process.env.PATH ?? '', ...env } });
  t.teardown(async () => {
    child.kill('SIGKILL');
    await fsp.rm(dir, { recursive: true, force: true });
  });
  await waitForCmdline(child.pid!, argv0);
  return child.pid!;
}

async function manifestArgs(host: FixtureHost, name: string): Promise<string[]> {
  const pod = parse(await fsp.readFile(host.real(`/etc/kubernetes/manifests/${name}.yaml`), 'utf8')) as { spec: { containers: Array<{ command: string[] }> } };
  return pod.spec.containers[0]!.command.slice(1);
}

t.test('a running API server is found in /proc, judged by its own flags, and compared with its manifest', async (t) => {
  const host = await fixture(t, 'control-plane');
  const args = (await manifestArgs(host, 'kube-apiserver')).map((a) => (a === '--profiling=false' ? '--profiling=true' : a));
  const pid = await spawnAs(t, 'kube-apiserver', args);
  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.components['kube-apiserver'].process?.pid, pid);
  t.equal(e.discovery.components['kube-apiserver'].root, '', 'a process in the host mount namespace: its paths are host paths');
  const profiling = one(e, '1.2.15');
  t.equal(profiling.status, 'fail');
  t.equal(profiling.evidence, `--profiling is true (running kube-apiserver, pid ${pid})`);
  t.equal(one(e, '1.2.24').status, 'pass', 'its certificate files are read through the host root');
  const drift = one(e, 'nw-manifest-drift', 'kube-apiserver');
  t.equal(drift.status, 'fail');
  t.equal(drift.evidence, `the running kube-apiserver (pid ${pid}) differs from /etc/kubernetes/manifests/kube-apiserver.yaml: --profiling is true on the running process, false in the manifest`);
  t.equal(one(e, 'nw-manifest-drift', 'kube-scheduler').status, 'na', 'the scheduler does not run: judged by its manifest, nothing to compare');
  t.match(one(e, '1.4.1').evidence, 'kube-scheduler is not running');
});

t.test('a real etcd configured through ETCD_* variables', async (t) => {
  const host = await fixture(t, 'control-plane');
  const args = (await manifestArgs(host, 'etcd')).filter((a) => !a.startsWith('--client-cert-auth') && !a.startsWith('--peer-client-cert-auth'));
  const pid = await spawnAs(t, 'etcd', args, { ETCD_CLIENT_CERT_AUTH: 'true', ETCD_PEER_CLIENT_CERT_AUTH: 'false' });
  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.components.etcd.process?.pid, pid);
  t.equal(one(e, '2.2').status, 'pass');
  t.equal(one(e, '2.2').evidence, `ETCD_CLIENT_CERT_AUTH is true (running etcd, pid ${pid})`);
  t.equal(one(e, '2.5').status, 'fail');
  t.same(Object.keys(e.discovery.components.etcd.env).sort(), ['ETCD_CLIENT_CERT_AUTH', 'ETCD_PEER_CLIENT_CERT_AUTH'], 'only ETCD_* variables are kept');
});

t.test("the benchmark follows the kubelet binary's own version", async (t) => {
  const host = await fixture(t, 'hardened-worker');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-kubelet-bin-'));
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'kubelet.c');
  await fsp.writeFile(source, [
    '#include <stdio.h>', '#include <string.h>', '#include <unistd.h>',
    'int main(int argc, char **argv) {',
    '  if (argc > 1 && strcmp(argv[1], "--version") == 0) { puts("Kubernetes v1.30.4"); return 0; }',
    '  for (;;) pause();',
    '}', '',
  ].join('\n'));
  const bin = path.join(dir, 'kubelet');
  execFileSync('cc', ['-O1', '-o', bin, source]);
  const child = spawn(bin, ['--config=/var/lib/kubelet/config.yaml', '--kubeconfig=/etc/kubernetes/kubelet.conf'], { stdio: 'ignore' });
  t.teardown(() => void child.kill('SIGKILL'));
  await waitForCmdline(child.pid!, bin);
  const e = await evaluateNode(host.fs, { now: host.now, procFs: realProc });
  t.equal(e.discovery.kubelet.process?.pid, child.pid);
  t.same(e.benchmark, { id: 'cis-1.10', reason: 'Kubernetes v1.30.4 (kubelet --version)' });
  t.notOk(e.results.some((r) => r.id === '4.2.14'), 'CIS 1.10 has no 4.2.14');
  const pinned = await evaluateNode(host.fs, { now: host.now, procFs: realProc, benchmark: 'cis-1.12' });
  t.same(pinned.benchmark, { id: 'cis-1.12', reason: 'cis-1.12 as configured' });
  t.equal(one(pinned, '4.2.14').status, 'pass');
});

t.test('without a version to go by, the newest benchmark, saying why', async (t) => {
  const host = await fixture(t, 'hardened-worker');
  const e = await evaluateNode(host.fs, { now: host.now });
  t.equal(e.benchmark.id, 'cis-1.12');
  t.equal(e.benchmark.reason, "the node's Kubernetes version is unknown: the newest benchmark carried, cis-1.12");
});
