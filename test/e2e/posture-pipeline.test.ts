// The walking skeleton end to end: a node file's mode changes → the posture collector opens a
// finding → spool → gRPC → central's store and a Subscribe stream; fixing it resolves the same
// fingerprint. And a SIGKILLed agent delivers what it had spooled after it restarts.
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { FeedClient, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { cliPath } from '../helpers/paths.js';
import { freePort, kubeletHostTree, quietLogger, storedEvents, tempDir, pipelineConfig, testConfig, waitFor } from '../helpers/pipeline.js';

const pb = nodewarden.v1;
const KUBELET_CONF = '/etc/kubernetes/kubelet.conf';


const isKubeletConfPerm = (e: nodewarden.v1.Event) => e.cisId === '4.1.5';

t.test('chmod 644 on kubelet.conf opens a finding in central and on the feed; chmod 600 resolves it', async (t) => {
  const dir = tempDir('posture-e2e');
  const root = kubeletHostTree('host');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port, {
    hostRoot: root,
    'agent.collectors': { posture: { enabled: true } },
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
  });
  await agent.start();

  const Ctor = FeedClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & {
    Subscribe: (r: nodewarden.v1.ISubscribeRequest) => grpc.ClientReadableStream<nodewarden.v1.FeedMessage>;
  };
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), channelOptions);
  t.teardown(() => client.close());
  const live: nodewarden.v1.Event[] = [];
  const stream = client.Subscribe({ sources: [pb.Source.SOURCE_POSTURE] });
  stream.on('data', (m: nodewarden.v1.FeedMessage) => m.event && live.push(m.event as nodewarden.v1.Event));
  stream.on('error', () => undefined);
  t.teardown(() => stream.cancel());

  await waitFor('the agent connected', () => agent.readiness().every((p) => !p.startsWith('not connected')));
  await new Promise((r) => setTimeout(r, 300)); // let the start-up evaluation settle
  t.equal(storedEvents(central.log).filter(isKubeletConfPerm).length, 0, 'a 600 kubelet.conf raises nothing');

  const changedAt = Date.now();
  chmodSync(path.join(root, KUBELET_CONF), 0o644);
  const opened = await waitFor('the open finding in the store', () => storedEvents(central.log).find(isKubeletConfPerm), 5000, 10);
  t.ok(Date.now() - changedAt < 1000, `stored within 1 s of the chmod (${Date.now() - changedAt} ms)`);
  t.equal(opened.state, pb.FindingState.FINDING_STATE_OPEN);
  t.equal(opened.file?.path, KUBELET_CONF, 'the host path, without the host-root prefix');
  t.equal(opened.file?.mode, 0o644);
  t.ok(opened.remediation.includes('chmod'), 'remediation says how to fix it');
  await waitFor('the open finding on the feed', () => live.find(isKubeletConfPerm));

  chmodSync(path.join(root, KUBELET_CONF), 0o600);
  const resolved = await waitFor('the resolution', () => storedEvents(central.log).filter(isKubeletConfPerm).find((e) => e.state === pb.FindingState.FINDING_STATE_RESOLVED), 5000, 10);
  t.equal(resolved.fingerprint, opened.fingerprint, 'same fingerprint');
  await waitFor('the resolution on the feed', () => live.filter(isKubeletConfPerm).length === 2);

  await new Promise((r) => setTimeout(r, 500));
  t.equal(storedEvents(central.log).filter(isKubeletConfPerm).length, 2, 'nothing repeated while nothing changes');
});

function startAgentProcess(root: string, stateDir: string, port: number, configFile: string): ChildProcess {
  return spawn(process.execPath, [cliPath, 'agent', '--insecure', '--config', configFile, '--host-root', root, '--state-dir', stateDir,
    '--central', `127.0.0.1:${port}`, '--http', '127.0.0.1:0', '--node', 'killed-node', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

t.test('a SIGKILLed agent delivers its unacknowledged spool after restart, exactly once', async (t) => {
  const dir = tempDir('sigkill');
  const root = kubeletHostTree('host');
  // Make several checks fail so there is plenty to spool.
  chmodSync(path.join(root, KUBELET_CONF), 0o666);
  chmodSync(path.join(root, 'var/lib/kubelet/config.yaml'), 0o666);
  const port = await freePort();
  const stateDir = path.join(dir, 'agent');
  const configFile = path.join(dir, 'agent.yaml');
  writeFileSync(configFile, 'agent:\n  collectors:\n    process: { enabled: false }\n    runtime: { enabled: false }\n');

  const first = startAgentProcess(root, stateDir, port, configFile);
  t.teardown(() => {
    first.kill('SIGKILL');
  });
  // Central is down: the findings can only be in the spool. Wait until they are written.
  const { Spool } = await import('../../daemon/spool.js');
  const { readdirSync, statSync } = await import('node:fs');
  await waitFor('events spooled', () => {
    try {
      return readdirSync(path.join(stateDir, 'spool')).some((f) => f.startsWith('seg-') && statSync(path.join(stateDir, 'spool', f)).size > 0);
    } catch {
      return false;
    }
  }, 15_000, 20);
  await new Promise((r) => setTimeout(r, 300));
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));

  const spooled = await Spool.open({ dir: path.join(stateDir, 'spool') });
  const pendingAtKill = spooled.pending;
  await spooled.close();
  t.ok(pendingAtKill >= 2, `${pendingAtKill} unacknowledged events were spooled when the agent was killed`);

  const cfg = testConfig({ stateDir: path.join(dir, 'unused'), 'central.dataDir': path.join(dir, 'central'), 'central.listen': `127.0.0.1:${port}` });
  const central = new Central(cfg, quietLogger);
  await central.start();
  const second = startAgentProcess(root, stateDir, port, configFile);
  t.teardown(async () => {
    second.kill('SIGTERM');
    await central.stop();
  });
  await waitFor('the spooled events stored', () => central.log.count() >= pendingAtKill, 15_000);
  await new Promise((r) => setTimeout(r, 500));
  const seqs = storedEvents(central.log).map((e) => Number(e.sequence));
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every sequence from 1 stored exactly once, none missing');
  t.equal(seqs.length, pendingAtKill, 'the restarted agent did not re-open findings it had already reported');
});
