// Containers outside the CRI found through containerd's own API (namespaces, tasks, containers
// services on its socket), not its state folder: the node-box's containerd runs with a state
// folder of its own (--state under /tmp, not /run/containerd), the folder scan is off, and a
// container started with `ctr run` in another containerd namespace is still found, with its
// namespace, pid, image and OCI spec, and judged by the runtime pack.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { NodeFacts } from '../../collectors/node-facts.js';
import { runtimeCollectorFactory } from '../../collectors/runtime/factory.js';
import type { RuntimeCollector } from '../../collectors/runtime/collector.js';
import { nodeBoxForFile } from './node-box.js';
import { ruleSink } from '../helpers/rule-sink.js';
import { waitFor } from '../helpers/pipeline.js';

const execFileP = promisify(execFile);
const box = await nodeBoxForFile(t);

// A root filesystem of one static busybox: `ctr run --rootfs` needs no image in that namespace.
const NS = `nw-other-${process.pid}`;
const ID = `backdoor-${process.pid}`;
const rootfs = mkdtempSync(path.join(os.tmpdir(), 'nw-rootfs-'));
mkdirSync(path.join(rootfs, 'bin'));
copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
symlinkSync('busybox', path.join(rootfs, 'bin', 'sleep'));
const ctr = (args: string[]) => execFileP('ctr', ['--address', box.socket, '--namespace', NS, ...args], { timeout: 60_000 });
t.teardown(async () => {
  await ctr(['tasks', 'kill', '-s', 'SIGKILL', ID]).catch(() => undefined);
  for (let i = 0; i < 50; i++) {
    const r = await ctr(['tasks', 'delete', ID]).then(() => 'ok', (e: Error) => String(e));
    if (r === 'ok' || /not found/i.test(r)) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await ctr(['containers', 'delete', ID]).catch(() => undefined);
  await execFileP('ctr', ['--address', box.socket, 'namespaces', 'remove', NS]).catch(() => undefined);
  rmSync(rootfs, { recursive: true, force: true });
});
await ctr(['run', '-d', '--runc-root', box.runcRoot, '--rootfs', rootfs, ID, '/bin/sleep', '3600']);
const pod = await box.runPod({ name: 'kube-proxy-abcde', containerName: 'kube-proxy' });

const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nw-ctrd-api-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
const recorder = ruleSink({ collector: 'runtime' });
const facts = new NodeFacts();
const v = runtimeCollectorFactory.validate({ socket: box.socket, containerdStateDir: '', pollIntervalMs: 300 });
if (!v.ok) throw new Error(v.errors.join('; '));
const collector = runtimeCollectorFactory.create(v.config, {
  hostRoot: '/', stateDir, node: 'box-node', sink: recorder.sink, logger: pino({ level: 'silent' }), metrics: new Registry(), facts,
}) as RuntimeCollector;
t.teardown(() => collector.stop());
await collector.start();

t.test('a ctr run container in another namespace, on a containerd with its own state folder, is found through containerd\'s API', async (t) => {
  const c = await waitFor('the ctr container', () => facts.inventory.lookup(ID), 20_000);
  t.equal(c.origin, 'outside-cri');
  t.equal(c.runtimeNamespace, NS);
  t.equal(c.state, 'running');
  t.ok(c.pid > 0, `its pid (${c.pid})`);
  t.ok(c.security, 'its OCI spec was read from containerd\'s container record');
  t.ok(c.createdAtNs > 0n);
  t.equal(facts.inventory.lookup(pod.containerId)?.origin, 'cri', 'the kubelet\'s containers stay the CRI\'s');
  t.notOk(facts.inventory.containers().some((x) => x.origin === 'outside-cri' && x.runtimeNamespace === 'k8s.io'), 'no CRI container or sandbox is taken for one outside it');
});

t.test('the runtime pack judges it: a container the kubelet did not create', async (t) => {
  const fp = `runtime:unmanaged-container:outside-cri/${NS}/${ID}`;
  const f = await waitFor('the finding', () => recorder.emitted.find((x) => x.fingerprint === fp && x.state === 'open'), 20_000);
  t.match(f.message, new RegExp(`containerd namespace ${NS}`));
});
