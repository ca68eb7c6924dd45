// Exec capture end to end, for real: a private containerd with kube-system pods (the node-box),
// the agent with the runtime and process collectors, and central; once with the eBPF source and
// once with audit. Commands run inside the pods through CRI ExecSync, as `kubectl exec` does, and
// must reach central with their full argv and their pod. Every audit rule the agent adds is
// removed at the end.
import t from 'tap';
import path from 'node:path';
import type { Counter } from 'prom-client';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { startNodeBox, type NodeBox, type Pod } from './node-box.js';
import { freePort, quietLogger, storedEvents, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

const pb = nodewarden.v1;

if (process.getuid?.() !== 0) {
  t.plan(0, 'exec capture needs root (the kernel audit stream)');
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
t.teardown(() => started.close());
const box: NodeBox = started;
const system: Pod = await box.runPod({ name: 'coredns-7db6d8ff4d-x2k9q', containerName: 'coredns' });
const other: Pod = await box.runPod({ name: 'web-5c9f7d-abcde', namespace: 'default', containerName: 'web' });

// One parent test per source holds the setup so its teardown runs only after every subtest.
for (const source of ['bpf', 'audit'] as const) await t.test(`exec capture against a real node (${source} source)`, async (t) => {
  const dir = tempDir('process-e2e');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port, {
    'agent.collectors': {
      runtime: { socket: box.socket, containerdStateDir: box.stateDir, pollIntervalMs: 2000 },
      process: { source, ruleKey: 'nw-e2e', repeatWindowMs: 2000 },
    },
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
    // The agent removes its rules on stop; make sure, whatever happened above.
    for (const r of native.addon.auditListRules()) if (r.key === 'nw-e2e') native.addon.auditDelRule(r.raw);
  });
  await agent.start();
  await waitFor('the inventory knows the pods', () => agent.facts.inventory.lookup(system.containerId) && agent.facts.inventory.lookup(other.containerId), 20_000);

  // Capture is live once an exec in the pod is counted in scope (the audit rules were just added
  // and the kernel's multicast group joined); the detections below are then what is tested.
  const inScope = async () => ((await (agent.registry.getSingleMetric('nodewarden_exec_events_total') as Counter).get()).values)
    .filter((v) => v.labels.scope === 'in').reduce((n, v) => n + v.value, 0);
  await waitFor('capture live', async () => {
    const before = await inScope();
    await box.execSync(system.containerId, ['/bin/true', 'canary']);
    return waitFor('counted', async () => (await inScope()) > before, 1000).then(() => true, () => false);
  }, 15_000, 0);

  const processEvents = () => storedEvents(central.log).filter((e) => e.source === pb.Source.SOURCE_PROCESS);
  const withArg = (arg: string) => processEvents().filter((e) => (e.process?.argv ?? []).includes(arg));

  await t.test('a shell a workload starts in a kube-system pod reaches central with its pod, container and full argv', async (t) => {
    // The outer shell is run by the runtime (as an exec probe is: quiet); the inner one by it.
    const r = await box.execSync(system.containerId, ['sh', '-c', "sh -c 'echo marker-shell-1 >/dev/null; id >/dev/null'; true"]);
    t.equal(r.exitCode, 0);
    const e = await waitFor('the shell event', () => withArg('echo marker-shell-1 >/dev/null; id >/dev/null').find((x) => x.ruleId === 'process.shell-in-container'), 10_000);
    t.same(e.process?.argv, ['sh', '-c', 'echo marker-shell-1 >/dev/null; id >/dev/null'], 'argv exactly as run');
    t.equal(e.kubernetes?.namespace, 'kube-system');
    t.equal(e.kubernetes?.pod, system.name);
    t.equal(e.kubernetes?.container, 'coredns');
    t.equal(e.container?.id, system.containerId);
    t.match(e.container?.image ?? '', /busybox/);
    t.equal(e.process?.capture, source);
    t.ok(e.mitreTechniques.includes('T1059.004'));
    t.equal(e.severity, pb.Severity.SEVERITY_LOW);
    t.equal(e.process?.ancestors?.[0]?.exe, '/bin/busybox', 'the parent shell');
  });

  await t.test('a process that lives about a millisecond is caught with its argv', async (t) => {
    await box.execSync(system.containerId, ['/bin/true', 'stratum+tcp://pool.example:3333', 'marker-1ms']);
    const e = await waitFor('the miner event', () => withArg('marker-1ms').find((x) => x.ruleId === 'process.crypto-miner'), 10_000);
    t.same(e.process?.argv, ['/bin/true', 'stratum+tcp://pool.example:3333', 'marker-1ms']);
    t.equal(e.severity, pb.Severity.SEVERITY_CRITICAL);
    t.equal(e.kubernetes?.pod, system.name);
  });

  await t.test('a dropped binary: package manager, writable path and not-in-image, in one event', async (t) => {
    await box.execSync(system.containerId, ['sh', '-c', 'cp /bin/busybox /tmp/apk && /tmp/apk add marker-drop; true']);
    const e = await waitFor('the event', () => withArg('marker-drop')[0], 10_000);
    t.equal(withArg('marker-drop').length, 1, 'one event for the one exec');
    t.equal(e.ruleId, 'process.exec-from-writable-path', 'the most severe rule (first in the pack among equals) leads');
    t.same(new Set(e.ruleIds), new Set(['process.exec-from-writable-path', 'process.binary-not-in-image', 'process.package-manager-in-container']),
      'the file was written after the container started, from /tmp, and is named apk');
    t.equal(e.severity, pb.Severity.SEVERITY_HIGH);
  });

  await t.test('network tools and cluster admin tools in a container', async (t) => {
    await box.execSync(system.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-nc']);
    await waitFor('nc', () => withArg('marker-nc').find((e) => e.ruleId === 'process.network-tool-in-container'), 10_000);
    await box.execSync(system.containerId, ['sh', '-c', 'ln -sf /bin/busybox /bin/kubectl; kubectl get pods marker-kubectl; true']);
    await waitFor('kubectl', () => withArg('marker-kubectl').find((e) => e.ruleId === 'process.container-admin-tool-in-container'), 10_000);
    t.pass('both detected');
  });

  await t.test('a reverse shell: sh with its stdio on a socket', async (t) => {
    const listenPort = await freePort();
    await box.execSync(system.containerId, ['sh', '-c',
      `nc -l -p ${listenPort} -e /bin/sh -s & sleep 0.3; printf 'sleep 1\\nexit\\n' | nc -w 3 127.0.0.1 ${listenPort}; wait; true`], 15);
    const e = await waitFor('the reverse shell', () => processEvents().find((x) => x.ruleId === 'process.reverse-shell' && x.kubernetes?.pod === system.name), 10_000);
    t.match(e.evidence, /socket:\[/);
  });

  await t.test('the pod in a namespace out of scope, and a plain command in kube-system, stay quiet', async (t) => {
    await box.execSync(other.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-default']);
    await box.execSync(system.containerId, ['ls', '/', 'marker-ls']);
    // A later event proves the quiet ones were processed: events are handled in order.
    await box.execSync(system.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-after']);
    await waitFor('the later event', () => withArg('marker-after').length > 0, 10_000);
    t.equal(withArg('marker-default').length, 0, 'default namespace is out of scope by default');
    t.equal(withArg('marker-ls').length, 0, 'ls raises nothing');
    const entry = processEvents().filter((e) => (e.process?.argv ?? []).join(' ') === '/bin/sleep 3600');
    t.equal(entry.length, 0, "the containers' own entrypoints raise nothing");
  });

  await t.test('exec probes in a kube-system pod, doing their normal work, raise nothing high or critical', async (t) => {
    // What a kubelet's exec probes do: runc exec (and runc init) into the container, a shell or a
    // tool checking something, every second or so.
    const probes = [['sh', '-c', 'test -f /etc/hostname'], ['cat', '/etc/hostname'], ['wget', '-q', '-T', '1', '-O-', 'http://127.0.0.1:1/healthz'], ['sh', '-c', 'ps >/dev/null']];
    const since = processEvents().length;
    for (let round = 0; round < 5; round++) for (const p of probes) await box.execSync(system.containerId, p).catch(() => undefined);
    await box.execSync(system.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-after-probes']);
    await waitFor('the later event', () => withArg('marker-after-probes').length > 0, 10_000);
    const loud = processEvents().slice(since).filter((e) => e.kubernetes?.pod === system.name && e.severity >= pb.Severity.SEVERITY_HIGH && !(e.process?.argv ?? []).includes('marker-after-probes'));
    t.same(loud.map((e) => [e.ruleId, e.process?.argv]), [], 'nothing high or critical');
  });

  await t.test('repeated identical detections are folded into one with a count', async (t) => {
    for (let i = 0; i < 5; i++) await box.execSync(system.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-repeat']);
    const summary = await waitFor('the folded summary', () => withArg('marker-repeat').find((e) => e.count > 1), 10_000);
    t.equal(summary.count, 4, 'four repeats after the first');
    t.equal(withArg('marker-repeat').length, 2, 'the first one and one summary');
  });

  if (source === 'audit') await t.test("removing the agent's audit rules is reported and the rules come back", async (t) => {
    for (const r of native.addon.auditListRules()) if (r.key === 'nw-e2e') native.addon.auditDelRule(r.raw);
    const e = await waitFor('the rules-restored event', () => storedEvents(central.log).find((x) => x.ruleId === 'agent.audit-rules-restored'), 15_000);
    t.equal(e.source, pb.Source.SOURCE_AGENT);
    await waitFor('rules back', () => native.addon.auditListRules().filter((r) => r.key === 'nw-e2e').length >= 2, 10_000);
    await box.execSync(system.containerId, ['nc', '-w', '1', '127.0.0.1', '1', 'marker-after-restore']);
    await waitFor('capture resumed', () => withArg('marker-after-restore').length > 0, 10_000);
  });

  // What central holds, for whoever reads a failed run.
  t.comment(JSON.stringify(storedEvents(central.log).filter((e) => e.source !== pb.Source.SOURCE_RUNTIME).map((e) => [e.ruleId, e.process?.argv, e.process?.exe, e.kubernetes?.pod ?? e.container?.id, e.count, e.evidence])));

  await t.test('on stop the agent removes its audit rules', async (t) => {
    await agent.stop();
    t.equal(native.addon.auditListRules().filter((r) => r.key === 'nw-e2e').length, 0);
  });
});
