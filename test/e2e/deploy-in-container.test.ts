// The image in a real container with the manifest's own privileges (issue 19, item 4). The image
// is built from the Dockerfile, imported into the node-box's containerd under the name the
// manifests use, and central and the agent are started as pods through the CRI with the security
// context, host namespaces, command, environment and volumes read from `kubectl kustomize
// deploy/overlays/default` (manifest-pod.ts does what the kubelet would). What the box cannot
// give is substituted, and only that: the node's root is a host tree holding a kubelet's files
// (this machine has no kubelet, and the test must not chmod the real one), central shares the
// host network (the box has no pod network), the API server is the faithful local one, and the
// ports are free ones on loopback.
//
// Within it: the agent holds exactly the capabilities the DaemonSet adds; it captures a shell in
// another kube-system pod with its command line, reports a chmod of a kubelet file with who did
// it, and lists the runtime's containers; central runs as its non-root user and stores what the
// agent sends over TLS with the agent's projected token. Then the same agent without BPF, PERFMON
// and AUDIT_CONTROL: exec capture falls back and says so (status and event), and the agent lives on.

import t from 'tap';
import { execFile } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { nodeBoxForFile, type Pod } from './node-box.js';
import { manifestPod, type Materialise } from './manifest-pod.js';
import { buildNodewardenImage, IMAGE_BUILD_TIMEOUT_MS } from '../helpers/image.js';
import { findObject, render } from '../helpers/kustomize.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';
import { freePort, kubeletHostTree, tempDir, waitFor } from '../helpers/pipeline.js';
import { cliPath } from '../helpers/paths.js';
import { loadNative } from '../../collectors/process/sources/native.js';

const execFileP = promisify(execFile);
const NODE = 'box-node-1';
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

// A cold image build comes first (minutes); then the pods.
t.setTimeout(IMAGE_BUILD_TIMEOUT_MS + 10 * 60_000);
if (process.getuid?.() !== 0) {
  t.plan(0, 'containers, the audit stream and image builds need root');
  process.exit(0);
}
const image = await buildNodewardenImage();
if ('skip' in image) {
  if (process.env.CI === 'true') {
    t.fail(`the image could not be built in CI: ${image.skip}`);
    process.exit(1);
  }
  t.plan(0, image.skip);
  process.exit(0);
}
const box = await nodeBoxForFile(t);

const dir = tempDir('deploy-e2e');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const objects = render('default');
const agentSet = findObject(objects, 'DaemonSet', 'nodewarden-agent');
const centralSet = findObject(objects, 'StatefulSet', 'nodewarden-central');
const agentContainer = (agentSet.spec.template.spec.containers as Obj[])[0]!;
const centralContainer = (centralSet.spec.template.spec.containers as Obj[])[0]!;

// The manifests name the image as a registry would have it; the box has it under that name.
await box.importArchive(image.archive, image.ref);
for (const ref of new Set([agentContainer.image as string, centralContainer.image as string])) {
  if (ref !== image.ref) await box.ctr(['images', 'tag', '--force', image.ref, ref]);
  await waitFor(`the CRI knows ${ref}`, async () => (await box.cri.imageStatus(ref)).image?.id, 30_000, 100);
}

// PKI as `nodewarden certs` makes it; the Secret cert-manager or the user would create.
const pki = path.join(dir, 'pki');
const cli = (...args: string[]) => execFileP(process.execPath, [cliPath, ...args], { timeout: 60_000 });
await cli('certs', 'init', '--dir', pki);
await cli('certs', 'server', '--dir', pki, '--san', 'nodewarden-central.nodewarden.svc', '--san', 'nodewarden-central.nodewarden.svc.cluster.local', '--san', '127.0.0.1');
await cli('certs', 'client', 'operator', '--dir', pki);
const tlsSecret = {
  'tls.crt': readFileSync(path.join(pki, 'server.crt')),
  'tls.key': readFileSync(path.join(pki, 'server.key')),
  'ca.crt': readFileSync(path.join(pki, 'ca.crt')),
};

const api = await FakeKubeApi.start();
t.teardown(() => api.close());

// The host tree: a kubelet's files, the box's containerd socket where a node has it, the real /proc.
const hostRoot = kubeletHostTree('deploy-host');
mkdirSync(path.join(hostRoot, 'run/containerd'), { recursive: true });
linkSync(box.socket, path.join(hostRoot, 'run/containerd/containerd.sock'));
symlinkSync('/proc', path.join(hostRoot, 'proc'));
// On a systemd node "/" is a shared mount, which the DaemonSet's HostToContainer propagation
// needs; this machine's is private, so the host tree becomes a shared mount of its own.
await execFileP('mount', ['--bind', hostRoot, hostRoot]);
t.teardown(async () => {
  await execFileP('umount', ['--lazy', hostRoot]).catch(() => undefined);
  rmSync(hostRoot, { recursive: true, force: true });
});
await execFileP('mount', ['--make-shared', hostRoot]);

/** What the kubelet adds to every pod that mounts its service account token: the API's address and the token folder. */
function inClusterAccess(name: string): { env: Record<string, string>; folder: string } {
  const folder = path.join(dir, `sa-${name}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, 'token'), api.clientToken);
  writeFileSync(path.join(folder, 'ca.crt'), api.caPem);
  writeFileSync(path.join(folder, 'namespace'), 'nodewarden');
  const url = new URL(api.url);
  return { env: { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: url.port }, folder };
}

function materialise(podName: string, extraEnv: Record<string, string>): Materialise {
  return {
    dir: path.join(dir, podName),
    objects,
    hostPath: (p) => {
      const there = p === '/' ? hostRoot : path.join(hostRoot, p);
      mkdirSync(there, { recursive: true });
      return there;
    },
    fieldRef: (f) => ({ 'spec.nodeName': NODE, 'metadata.namespace': 'nodewarden', 'metadata.name': podName, 'status.podIP': '127.0.0.1', 'status.hostIP': '127.0.0.1' } as Record<string, string>)[f]
      ?? (() => { throw new Error(`fieldRef ${f} is not known here`); })(),
    token: (audience) => api.issueToken({
      namespace: 'nodewarden', serviceAccount: agentSet.spec.template.spec.serviceAccountName,
      audiences: audience ? [audience] : undefined, pod: { name: podName, uid: randomUUID() }, node: { name: NODE, uid: `uid-${NODE}` },
    }),
    extraEnv,
    secrets: { 'nodewarden-central-tls': tlsSecret },
  };
}

const httpGet = async (port: number, p: string): Promise<{ status: number; body: string }> => {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
};
function probePath(c: Obj, probe: 'livenessProbe' | 'readinessProbe'): string {
  const p = c[probe]?.httpGet?.path as string | undefined;
  if (!p) throw new Error(`container ${c.name} has no ${probe} with httpGet`);
  return p;
}

async function containerPid(pod: Pod): Promise<number> {
  const st = await box.cri.containerStatus(pod.containerId, true);
  return JSON.parse(st.info?.info ?? '{}').pid as number;
}
function capabilities(pid: number): string[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)![1]}`);
  return CAP_NAMES.filter((_, bit) => (eff >> BigInt(bit)) & 1n);
}
const CAP_NAMES = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE',
  'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];

// Central, from its StatefulSet.
// Every await happens before the first subtest: tap ends a file's root test (which has teardowns)
// a couple of timer ticks after a subtest finishes with no other one queued.
const agentHttp = await freePort();
const grpcPort = await freePort();
const readPort = await freePort();
const centralHttp = await freePort();
const centralApi = inClusterAccess('central');
const centralSpec = manifestPod(centralSet, centralContainer.name, materialise('nodewarden-central-0', {
  ...centralApi.env, NODEWARDEN_LISTEN: `127.0.0.1:${grpcPort}`, NODEWARDEN_READ_LISTEN: `127.0.0.1:${readPort}`, NODEWARDEN_CENTRAL_HTTP: `127.0.0.1:${centralHttp}`,
}));
centralSpec.hostNetwork = true;
centralSpec.mounts!.push({ hostPath: centralApi.folder, containerPath: '/var/run/secrets/kubernetes.io/serviceaccount', readonly: true });
const central = await box.runPod(centralSpec);
t.teardown(() => box.stopPod(central).catch(() => undefined));

const events = async (...filters: string[]): Promise<Obj[]> => {
  const { stdout } = await cli('events', '--central', `127.0.0.1:${readPort}`, '--tls-ca', path.join(pki, 'ca.crt'), '--tls-server-name', 'nodewarden-central.nodewarden.svc',
    '--tls-cert', path.join(pki, 'operator.crt'), '--tls-key', path.join(pki, 'operator.key'), '--node', NODE, '-o', 'jsonl', ...filters);
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Obj);
};


const agentEnv = { NODEWARDEN_CENTRAL: `127.0.0.1:${grpcPort}`, NODEWARDEN_AGENT_HTTP: `127.0.0.1:${agentHttp}` };
const added = ((agentContainer.securityContext?.capabilities?.add ?? []) as string[]).slice().sort();

const loaded = loadNative();
if ('error' in loaded) throw new Error(`the native addon (audit rules are checked and cleaned with it) did not load: ${loaded.error.message}`);
const native = loaded;
/** Audit rules the agent in the box left behind (none, when it stops as it should), removed. */
function removeAgentAuditRules(): number {
  let removed = 0;
  for (const r of native.addon.auditListRules()) {
    if (r.key === 'nodewarden' || r.key?.startsWith('nodewarden-w:')) {
      native.addon.auditDelRule(r.raw);
      removed++;
    }
  }
  return removed;
}
t.teardown(() => removeAgentAuditRules());

async function startAgent(name: string, capabilitiesAdded: string[]): Promise<Pod> {
  const spec = manifestPod(agentSet, agentContainer.name, materialise(name, agentEnv));
  spec.capabilities = { ...spec.capabilities, add: capabilitiesAdded };
  return box.runPod(spec);
}
async function stopAgent(pod: Pod): Promise<void> {
  // As the kubelet stops a pod: SIGTERM, then the grace period.
  await box.cri.stopContainer(pod.containerId, 20);
  await box.stopPod(pod);
}

await t.test('central runs from the image as its non-root user and is ready', async (t) => {
  const ready = await waitFor('central ready', async () => {
    const r = await httpGet(centralHttp, probePath(centralContainer, 'readinessProbe')).catch(() => null);
    return r?.status === 200 ? r : null;
  }, 60_000, 250).catch(async (err) => {
    t.comment(await box.containerLog(central));
    throw err;
  });
  t.equal(ready.status, 200);
  t.equal((await httpGet(centralHttp, probePath(centralContainer, 'livenessProbe'))).status, 200, 'liveness');
  const pid = await containerPid(central);
  const uid = /^Uid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
  t.equal(Number(uid), centralSpec.runAsUser, `central runs as uid ${uid}`);
  t.not(Number(uid), 0, 'not root');
  t.same(capabilities(pid), [], 'no capabilities');
});

await t.test('the agent with the manifest\'s privileges', async (t) => {
  const agent = await startAgent('nodewarden-agent-full', added);
  t.teardown(() => stopAgent(agent).catch(() => undefined));
  const pid = await containerPid(agent);
  t.same(capabilities(pid).sort(), added, `exactly the added capabilities: ${added.join(', ')}`);

  await waitFor('agent ready', async () => (await httpGet(agentHttp, probePath(agentContainer, 'readinessProbe')).catch(() => null))?.status === 200, 90_000, 250)
    .catch(async (err) => {
      t.comment((await httpGet(agentHttp, '/readyz').catch(() => null))?.body ?? '(no answer)');
      t.comment(await box.containerLog(agent));
      throw err;
    });
  t.equal((await httpGet(agentHttp, probePath(agentContainer, 'livenessProbe'))).status, 200, 'liveness');
  const ready = await httpGet(agentHttp, '/readyz');
  t.match(ready.body, /collector process: source bpf/, 'exec capture through the eBPF program, loaded in the container with the manifest\'s capabilities');

  const system = await box.runPod({ name: 'coredns-5d78c9869d-deploy', containerName: 'coredns' });
  t.teardown(() => box.stopPod(system).catch(() => undefined));

  await t.test('a shell in another kube-system pod reaches central with its command line', async (t) => {
    const marker = `nw-deploy-${process.pid}`;
    const shell = await waitFor('the shell at central', async () => {
      await box.execSync(system.containerId, ['sh', '-c', `sh -c 'echo ${marker} >/dev/null'; true`]);
      return (await events('--source', 'process', '--since', '10m')).find((e) => (e.process?.argv ?? []).includes(`echo ${marker} >/dev/null`));
    }, 60_000, 2_000);
    t.same(shell.process.argv, ['sh', '-c', `echo ${marker} >/dev/null`]);
    if (shell.kubernetes?.namespace !== 'kube-system') {
      // What the agent knew: the event as central has it, its runtime refreshes, its log.
      t.comment(JSON.stringify(shell));
      t.comment((await httpGet(agentHttp, '/metrics')).body.split('\n').filter((l) => /^nodewarden_(runtime_refresh|exec_gone|runtime_containers)/.test(l)).join('\n'));
      t.comment((await box.containerLog(agent)).slice(-4000));
    }
    t.equal(shell.kubernetes?.namespace, 'kube-system');
    t.equal(shell.kubernetes?.pod, system.name);
    t.equal(shell.process.capture, 'bpf', 'seen by the eBPF exec source');
    t.equal(shell.node, NODE, 'the node its token names');
  });

  await t.test('a chmod of a kubelet file is reported with who did it', async (t) => {
    const conf = path.join(hostRoot, 'etc/kubernetes/kubelet.conf');
    // The agent watches the files its checks read once it has read them (its watch rules carry
    // the host path): a change before that has no actor to name.
    await waitFor('kubelet.conf watched by the agent', () => native.addon.auditListRules().some((r) => r.key === 'nodewarden-w:/etc/kubernetes/kubelet.conf'), 60_000, 250);
    chmodSync(conf, 0o666);
    t.teardown(() => chmodSync(conf, 0o600));
    const finding = await waitFor('the 4.1.5 finding', async () => (await events('--source', 'posture', '--since', '10m'))
      .find((e) => e.cisId === '4.1.5' && /Changed by/.test(e.message ?? '')), 60_000, 1_000)
      .catch(async (err) => {
        for (const e of await events('--source', 'posture', '--since', '10m')) t.comment(`${e.cisId} ${e.state}: ${e.message}`);
        t.comment((await box.containerLog(agent)).slice(-4000));
        throw err;
      });
    t.match(finding.message, /Changed by (chmod|fchmodat2?) on \/etc\/kubernetes\/kubelet\.conf/);
    t.ok(finding.attributes?.changedBy, 'changedBy attribute');
  });

  await t.test('the runtime\'s containers are listed', async (t) => {
    const metrics = await waitFor('the inventory', async () => {
      const body = (await httpGet(agentHttp, '/metrics')).body;
      const running = Number(/^nodewarden_runtime_containers\{state="running"\} (\d+)/m.exec(body)?.[1] ?? 0);
      return running >= 3 ? body : null;
    }, 30_000, 500);
    t.match(metrics, /^nodewarden_runtime_up 1$/m, 'the runtime answers');
    const running = Number(/^nodewarden_runtime_containers\{state="running"\} (\d+)/m.exec(metrics)![1]);
    t.ok(running >= 3, `${running} running containers: central, the agent, coredns`);
  });

  await stopAgent(agent);
  t.equal(removeAgentAuditRules(), 0, 'the agent removed its audit rules when it stopped');
});

await t.test('the agent without BPF, PERFMON and AUDIT_CONTROL degrades as the README says', async (t) => {
  const dropped = ['AUDIT_CONTROL', 'BPF', 'PERFMON'];
  for (const cap of dropped) t.ok(added.includes(cap), `the manifest adds ${cap}`);
  const since = new Date().toISOString();
  const agent = await startAgent('nodewarden-agent-degraded', added.filter((c) => !dropped.includes(c)));
  t.teardown(() => stopAgent(agent).catch(() => undefined));
  const degraded = await waitFor('the degradation at central', async () => (await events('--since', since, '--rule', 'agent.exec-source-degraded'))[0], 90_000, 1_000)
    .catch(async (err) => {
      t.comment(await box.containerLog(agent));
      throw err;
    });
  t.match(degraded.title, /fell back to the (connector|poller) source/);
  t.match(degraded.message, /Exec capture uses the (connector|poller) source/);
  t.match(JSON.stringify(degraded), /CAP_AUDIT_CONTROL/, 'names the missing capability');
  t.match(JSON.stringify(degraded), /bpf: not permitted to load the eBPF exec program/, 'and why the eBPF source could not run');
  const ready = await httpGet(agentHttp, '/readyz');
  t.match(ready.body, /collector process: source (connector|poller)/, `status says which source: ${ready.body}`);
  t.equal((await httpGet(agentHttp, probePath(agentContainer, 'livenessProbe'))).status, 200, 'alive');
  const st = await box.cri.containerStatus(agent.containerId);
  t.equal(st.status?.state, 1 /* CONTAINER_RUNNING */, 'no crash');
});
