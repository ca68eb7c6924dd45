// Who changed it, end to end and for real: the agent (runtime, process with the audit source,
// posture) on a host tree beside the node-box's containerd, and central. kubelet.conf made
// world-readable by a host shell, then by a process in a kube-system pod that mounts the folder,
// reaches central as a posture finding naming the syscall, the process and (for the pod) the pod
// and container; a change made while the agent was down has no actor, and says so.
import t from 'tap';
import { chmodSync, linkSync, mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { startNodeBox, type NodeBox } from './node-box.js';
import { freePort, kubeletHostTree, quietLogger, storedEvents, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

const pb = nodewarden.v1;
const KEY = 'nw-e2e-actor';
const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';

if (process.getuid?.() !== 0) {
  t.plan(0, 'audit watch rules need root');
  process.exit(0);
}
const native = loadNative();
if ('error' in native) {
  t.fail(`the native exec reader did not load: ${native.error.message}`);
  process.exit(1);
}
const started = await startNodeBox();
if ('skip' in started) {
  t.plan(0, started.skip);
  process.exit(0);
}


const kubeletConf = (e: nodewarden.v1.Event) => e.cisId === '4.1.5';

t.test('the actor of a change to a posture file, end to end', async (t) => {
  t.teardown(() => started.close());
  const box: NodeBox = started;
  const root = kubeletHostTree('actor-host');
  // The agent reads the host under its host root: there, the node-box's CRI socket (a hard link
  // to it: a socket is found by its inode) and the real /proc, for the exec reader.
  mkdirSync(path.join(root, path.dirname(box.socket)), { recursive: true });
  linkSync(box.socket, path.join(root, box.socket));
  symlinkSync('/proc', path.join(root, 'proc'));
  const pod = await box.runPod({
    name: 'debug-7c9f-actor', containerName: 'shell',
    mounts: [{ hostPath: path.join(root, 'etc/kubernetes'), containerPath: '/host-etc' }],
  });

  const dir = tempDir('actor-e2e');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port, {
    hostRoot: root,
    'agent.collectors': {
      runtime: { socket: box.socket, pollIntervalMs: 2000 },
      process: { source: 'audit', ruleKey: KEY },
      posture: { enabled: true },
    },
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  let agent = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
    for (const r of native.addon.auditListRules()) if (r.key === KEY || r.key?.startsWith(`${KEY}-w:`)) native.addon.auditDelRule(r.raw);
  });
  await agent.start();
  const watched = () => native.addon.auditListRules().some((r) => r.key === `${KEY}-w:${KUBELET_CONF}`);
  await waitFor('the agent connected', () => agent.readiness().every((p) => !p.startsWith('not connected')), 20_000);
  await waitFor('the pod known', () => agent.facts.inventory.lookup(pod.containerId), 20_000);
  await waitFor(`kubelet.conf watched (file watch: ${agent.facts.fileWatch}; files: ${agent.facts.watchFiles.length})`, () => watched(), 20_000);
  const events = () => storedEvents(central.log).filter(kubeletConf);
  t.equal(events().length, 0, 'kubelet.conf at 600 raises nothing');

  // 1. A host shell.
  const sh = spawn('/bin/sh', ['-c', `chmod 644 ${path.join(root, KUBELET_CONF)}`], { stdio: 'ignore' });
  await new Promise((r) => sh.on('close', r));
  const opened = await waitFor('the open finding', () => events().find((e) => e.state === pb.FindingState.FINDING_STATE_OPEN), 10_000);
  t.match(opened.message, new RegExp(`Changed by (chmod|fchmodat2?) on ${KUBELET_CONF} from pid \\d+ \\(\\S*chmod, uid 0[^)]*\\) on the host at `));
  t.match(opened.process?.exe, /chmod$/);
  t.equal(opened.attributes?.changedBy?.startsWith('chmod') || opened.attributes?.changedBy?.startsWith('fchmodat'), true, `changedBy ${opened.attributes?.changedBy}`);

  // 2. The fix, by a node process (no chmod binary): the resolution names who fixed it. A child,
  // not this process: the kernel gives a process an audit context at fork, and only once auditing
  // has been switched on since boot, which on a fresh machine may be after this test started.
  const fixer = spawn(process.execPath, ['-e', `require('node:fs').chmodSync(${JSON.stringify(path.join(root, KUBELET_CONF))}, 0o600)`], { stdio: 'ignore' });
  await new Promise((r) => fixer.on('close', r));
  const resolved = await waitFor('the resolution', () => events().find((e) => e.state === pb.FindingState.FINDING_STATE_RESOLVED), 10_000);
  t.match(resolved.message, `from pid ${fixer.pid} (`);

  // 3. A process in a kube-system pod, through the mounted folder.
  const r = await box.execSync(pod.containerId, ['chmod', '666', '/host-etc/kubelet.conf']);
  t.equal(r.exitCode, 0, r.stderr);
  const fromPod = await waitFor('the finding of the pod\'s change', () => events().filter((e) => e.state === pb.FindingState.FINDING_STATE_OPEN)[1], 10_000);
  t.match(fromPod.message, `in pod kube-system/${pod.name}, container shell`);
  t.equal(fromPod.kubernetes?.pod, pod.name);
  t.equal(fromPod.kubernetes?.namespace, 'kube-system');
  chmodSync(path.join(root, KUBELET_CONF), 0o600);
  await waitFor('resolved again', () => events().filter((e) => e.state === pb.FindingState.FINDING_STATE_RESOLVED).length === 2, 10_000);

  // 4. Changed while the agent was down: no actor, and it says so.
  await agent.stop();
  chmodSync(path.join(root, KUBELET_CONF), 0o644);
  agent = new Agent(cfg, quietLogger);
  await agent.start();
  const afterRestart = await waitFor('the finding at start', () => events().filter((e) => e.state === pb.FindingState.FINDING_STATE_OPEN)[2], 15_000);
  t.match(afterRestart.message, 'No actor: the check did not pass when the agent started');
  t.notOk(afterRestart.process?.exe, 'no process is named');
});
