// The kube collector against a real containerd (the node-box) and a local server speaking the API
// server's list/watch protocol: a pod made through the CRI that the API server knows stays quiet,
// one it does not know is a hidden container until the API learns of it or it goes, and a
// kube-system container whose image digest differs from what the API reports is a finding until
// the pod's status says what runs. The runtime collector fills the inventory, as in the agent.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { NodeFacts } from '../../collectors/node-facts.js';
import { runtimeCollectorFactory } from '../../collectors/runtime/factory.js';
import { kubeFactory } from '../../collectors/kube/factory.js';
import type { Finding } from '../../core/finding.js';
import { nodeBoxForFile } from './node-box.js';
import { ruleSink } from '../helpers/rule-sink.js';
import { KubeListWatchServer } from '../helpers/kube-list-watch-server.js';
import { waitFor } from '../helpers/pipeline.js';
import { clientFor, node, pod } from '../collectors/kube/fixtures.js';

const box = await nodeBoxForFile(t);

const NODE = 'box-node';
const known = await box.runPod({ name: 'coredns-5d78c9869d-abcde', containerName: 'coredns' });
const sneaky = await box.runPod({ name: 'coredns-5d78c9869d-zzzzz', containerName: 'coredns' });

const server = new KubeListWatchServer();
await server.start();
t.teardown(() => server.stop());
server.put('nodes', node(NODE, 'v1.31.4'));
const apiPod = (imageId: string) => pod({
  namespace: 'kube-system', name: known.name, uid: known.uid, node: NODE, containerName: 'coredns', containerId: known.containerId,
  image: 'nodewarden.test/busybox:1', imageId, owner: { kind: 'ReplicaSet', name: 'coredns-5d78c9869d' }, labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' },
});
server.put('pods', apiPod(`nodewarden.test/busybox@sha256:${'f'.repeat(64)}`));

const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nw-kube-e2e-'));
t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
const facts = new NodeFacts();
const runtimeSink = ruleSink({ collector: 'runtime' });
const kubeSink = ruleSink({ collector: 'kube' });
const base = { hostRoot: '/', stateDir, node: NODE, logger: pino({ level: 'silent' }), metrics: new Registry(), facts };
const rv = runtimeCollectorFactory.validate({ socket: box.socket, containerdStateDir: box.stateDir, pollIntervalMs: 300 });
if (!rv.ok) throw new Error(rv.errors.join('; '));
const runtime = runtimeCollectorFactory.create(rv.config, { ...base, sink: runtimeSink.sink });
t.teardown(() => runtime.stop());
const client = clientFor(server);
t.teardown(() => client.close());
const kv = kubeFactory.validate({ podGraceMs: 0, resyncMs: 200, manifestDir: path.join(stateDir, 'manifests') });
if (!kv.ok) throw new Error(kv.errors.join('; '));
const kube = kubeFactory.create(kv.config, { ...base, sink: kubeSink.sink, kubeApi: { client, source: 'test' } });
t.teardown(() => kube.stop());
await runtime.start();
await kube.start();

const open = (): Map<string, Finding> => {
  const m = new Map<string, Finding>();
  for (const f of kubeSink.emitted) {
    if (f.state === 'open') m.set(f.fingerprint, f);
    else m.delete(f.fingerprint);
  }
  return m;
};
const hiddenFp = `kube:hidden-container:kube-system/${sneaky.name}/coredns`;
const mismatchFp = `kube:image-mismatch:kube-system/${known.name}/coredns`;

t.test('a container of a pod the API server does not know is hidden; the known one is not', async (t) => {
  const f = await waitFor('the hidden container', () => open().get(hiddenFp), 20_000);
  t.equal(f.container?.id, sneaky.containerId);
  t.equal(f.kubernetes?.podUid, sneaky.uid);
  t.notOk(open().has(`kube:hidden-container:kube-system/${known.name}/coredns`));
});

t.test('the runtime digest differs from the imageID the API reports: a finding, resolved once the status says what runs', async (t) => {
  const f = await waitFor('the mismatch', () => open().get(mismatchFp), 20_000);
  const runtimeRef = facts.inventory.lookup(known.containerId)!.imageDigest;
  t.match(runtimeRef, /sha256:[0-9a-f]{64}$/, `the CRI names the image by digest (${runtimeRef})`);
  t.match(f.evidence, new RegExp(`runtime image_ref ${runtimeRef.replace(/[.@/]/g, '\\$&')}`));
  t.equal(f.attributes?.workloadKind, 'Deployment');
  server.put('pods', apiPod(runtimeRef));
  await waitFor('resolved', () => !open().has(mismatchFp), 20_000);
});

t.test('the API server learns of the pod: resolved; a pod it never knew, stopped: resolved too', async (t) => {
  server.put('pods', pod({ namespace: 'kube-system', name: sneaky.name, uid: sneaky.uid, node: NODE, containerName: 'coredns', containerId: sneaky.containerId, image: 'nodewarden.test/busybox:1' }));
  await waitFor('resolved by the API', () => !open().has(hiddenFp), 20_000);
  server.remove('pods', 'kube-system', sneaky.name);
  await waitFor('hidden again once deleted from the API (grace 0)', () => open().has(hiddenFp), 20_000);
  await box.stopPod(sneaky);
  await waitFor('resolved once the runtime stopped it', () => !open().has(hiddenFp), 20_000);
  t.pass();
});
