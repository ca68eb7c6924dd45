// The CRI client and the collector's event path against a gRPC server speaking the same
// runtime.v1 proto. containerd 1.6 (the node-box) has no GetContainerEvents, so this server is
// where the event stream is exercised; it also plays a hostile runtime (oversized and garbage
// responses), which a real one cannot be made to do.

import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Long from 'long';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { NodeFacts } from '../../../collectors/node-facts.js';
import { CriClient, CriErrorReason, isCriError, runtime } from '../../../collectors/runtime/cri-client.js';
import type { RuntimeCollector } from '../../../collectors/runtime/collector.js';
import { runtimeCollectorFactory } from '../../../collectors/runtime/factory.js';
import type { Finding } from '../../../core/finding.js';

import v1 = runtime.v1;
import { ruleSink } from '../../helpers/rule-sink.js';

interface Codec {
  encode(m: object): { finish(): Uint8Array };
  decode(b: Uint8Array): object;
}
const method = (name: string, req: Codec, res: Codec, stream = false): grpc.MethodDefinition<object, object> => ({
  path: `/runtime.v1.RuntimeService/${name}`,
  requestStream: false,
  responseStream: stream,
  requestSerialize: (m: object) => Buffer.from(req.encode(m).finish()),
  requestDeserialize: (b: Buffer) => req.decode(b),
  responseSerialize: (m: object) => Buffer.from(res.encode(m).finish()),
  responseDeserialize: (b: Buffer) => res.decode(b),
});

const GARBAGE = {};

/** A runtime whose containers the test edits, and which pushes events when told. */
class FakeRuntime {
  containers: v1.Container.$Properties[] = [];
  listOverride: ((cb: grpc.sendUnaryData<object>) => void) | null = null;
  streams: grpc.ServerWritableStream<object, object>[] = [];
  readonly server = new grpc.Server();

  constructor() {
    const unary = (fn: () => object) => (_call: unknown, cb: grpc.sendUnaryData<object>) => cb(null, fn());
    const service: grpc.ServiceDefinition = {
      Version: method('Version', v1.VersionRequest, v1.VersionResponse),
      Status: method('Status', v1.StatusRequest, v1.StatusResponse),
      ListPodSandbox: method('ListPodSandbox', v1.ListPodSandboxRequest, v1.ListPodSandboxResponse),
      ListContainers: {
        ...method('ListContainers', v1.ListContainersRequest, v1.ListContainersResponse),
        // GARBAGE: a length-delimited field whose length runs past the end of the message.
        responseSerialize: (m: object) => (m === GARBAGE ? Buffer.from([0x0a, 0xff, 0x01, 0x00]) : Buffer.from(v1.ListContainersResponse.encode(m).finish())),
      },
      ContainerStatus: method('ContainerStatus', v1.ContainerStatusRequest, v1.ContainerStatusResponse),
      GetContainerEvents: method('GetContainerEvents', v1.GetEventsRequest, v1.ContainerEventResponse, true),
    };
    this.server.addService(service, {
      Version: unary(() => ({ version: '0.1.0', runtimeName: 'fake', runtimeVersion: '1.0.0', runtimeApiVersion: 'v1' })),
      Status: unary(() => ({ status: { conditions: [{ type: 'RuntimeReady', status: true }, { type: 'NetworkReady', status: true }] } })),
      ListPodSandbox: unary(() => ({ items: [{ id: 'sb1', metadata: { name: 'p', namespace: 'kube-system', uid: 'u1' }, state: v1.PodSandboxState.SANDBOX_READY }] })),
      ListContainers: (_call: unknown, cb: grpc.sendUnaryData<object>) => (this.listOverride ? this.listOverride(cb) : cb(null, { containers: this.containers })),
      ContainerStatus: (call: grpc.ServerUnaryCall<v1.ContainerStatusRequest, object>, cb: grpc.sendUnaryData<object>) => {
        const spec = { process: { user: { uid: 0 } }, root: { readonly: false }, linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'network' }, { type: 'mount' }] } };
        cb(null, { status: { id: call.request.containerId, startedAt: Long.fromNumber(Date.now() * 1e6) }, info: { info: JSON.stringify({ pid: 4242, sandboxID: 'sb1', runtimeSpec: spec }) } });
      },
      GetContainerEvents: (call: grpc.ServerWritableStream<object, object>) => {
        this.streams.push(call);
      },
    });
  }

  listen(socket: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  }

  push(containerId: string): void {
    for (const s of this.streams) s.write({ containerId, containerEventType: v1.ContainerEventType.CONTAINER_STARTED_EVENT });
  }

  close(): Promise<void> {
    for (const s of this.streams) s.end();
    return new Promise((r) => this.server.tryShutdown(() => r()));
  }
}

const container = (id: string, name: string): v1.Container.$Properties => ({
  id,
  podSandboxId: 'sb1',
  metadata: { name },
  image: { image: 'example/app:1' },
  imageRef: 'sha256:' + 'e'.repeat(64),
  state: v1.ContainerState.CONTAINER_RUNNING,
  labels: { 'io.kubernetes.pod.name': 'p', 'io.kubernetes.container.name': name },
});

async function setup(t: Test) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-cri-'));
  const socket = path.join(dir, 'cri.sock');
  const fake = new FakeRuntime();
  await fake.listen(socket);
  t.teardown(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, socket, fake };
}

t.test('a dead socket is Unavailable, fast', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-cri-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = new CriClient(path.join(dir, 'nothing.sock'), { callTimeoutMs: 3000 });
  t.teardown(() => c.close());
  const err = await c.version().catch((e: unknown) => e);
  t.ok(isCriError(err, CriErrorReason.Unavailable), String(err));
  t.equal((err as { code: string }).code, 'NW_ERR_RUNTIME_UNAVAILABLE');
});

t.test('a closed client refuses calls with reason Closed', async (t) => {
  const c = new CriClient('/nonexistent.sock');
  c.close();
  c.close();
  t.ok(isCriError(await c.version().catch((e: unknown) => e), CriErrorReason.Closed));
});

t.test('a response above the receive limit is refused, not buffered', async (t) => {
  const { socket, fake } = await setup(t);
  fake.containers = Array.from({ length: 2000 }, (_, i) => ({ ...container(String(i).padStart(64, '0'), 'c'), labels: { big: 'x'.repeat(1000) } }));
  const c = new CriClient(socket, { maxReceiveBytes: 256 * 1024 });
  t.teardown(() => c.close());
  const err = await c.listContainers().catch((e: unknown) => e);
  t.ok(isCriError(err, CriErrorReason.BadResponse), String(err));
});

t.test('undecodable bytes from the runtime are a BadResponse', async (t) => {
  const { socket, fake } = await setup(t);
  fake.listOverride = (cb) => cb(null, GARBAGE);
  const c = new CriClient(socket);
  t.teardown(() => c.close());
  const err = await c.listContainers().catch((e: unknown) => e);
  t.ok(isCriError(err, CriErrorReason.BadResponse), String(err));
});

t.test('container events make the collector refresh at once instead of waiting for the poll', async (t) => {
  const { dir, socket, fake } = await setup(t);
  fake.containers = [container('a'.repeat(64), 'first')];
  const { sink, emitted } = ruleSink({ collector: 'runtime' });
  const registry = new Registry();
  const facts = new NodeFacts();
  const v = runtimeCollectorFactory.validate({ socket, containerdStateDir: '', pollIntervalMs: 3_600_000 });
  if (!v.ok) throw new Error(v.errors.join('; '));
  const collector = runtimeCollectorFactory.create(v.config, {
    hostRoot: '/',
    stateDir: path.join(dir, 'state'),
    node: 'n',
    sink,
    logger: pino({ level: 'silent' }),
    metrics: registry,
    facts,
  }) as RuntimeCollector;
  t.teardown(() => collector.stop());
  await collector.start();
  t.equal(facts.inventory.size, 1);
  t.equal(facts.inventory.lookup('a'.repeat(64))?.pid, 4242);
  // Wait for the subscription, then start a container and announce it.
  for (let i = 0; i < 50 && fake.streams.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(fake.streams.length, 1, 'subscribed once');
  fake.containers.push(container('b'.repeat(64), 'second'));
  const t0 = Date.now();
  fake.push('b'.repeat(64));
  // The inventory is replaced first and the findings follow once the checks have run: wait for both.
  const opened = () => emitted.some((f) => f.fingerprint === 'runtime:run-as-root:kube-system/p/second' && f.state === 'open');
  while (!(facts.inventory.lookup('b'.repeat(64)) && opened()) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  t.ok(facts.inventory.lookup('b'.repeat(64)), `seen ${Date.now() - t0} ms after the event (poll period is an hour)`);
  t.ok(opened(), 'the new container is judged');
  t.match(await registry.metrics(), /nodewarden_runtime_events_total 1/);
});

/** A runtime collector on the fake runtime, polling once an hour, its findings unwatched. */
async function startQuietCollector(t: Test, dir: string, socket: string, facts: NodeFacts, config: Record<string, unknown> = {}): Promise<RuntimeCollector> {
  const v = runtimeCollectorFactory.validate({ socket, containerdStateDir: '', pollIntervalMs: 3_600_000, ...config });
  if (!v.ok) throw new Error(v.errors.join('; '));
  const collector = runtimeCollectorFactory.create(v.config, {
    hostRoot: '/', stateDir: path.join(dir, 'state'), node: 'n', sink: ruleSink().sink,
    logger: pino({ level: 'silent' }), metrics: new Registry(), facts,
  }) as RuntimeCollector;
  t.teardown(() => collector.stop());
  await collector.start();
  return collector;
}

t.test('a steady stream of container events does not postpone refreshes for ever', async (t) => {
  const { dir, socket, fake } = await setup(t);
  fake.containers = [container('a'.repeat(64), 'first')];
  const facts = new NodeFacts();
  await startQuietCollector(t, dir, socket, facts);
  for (let i = 0; i < 50 && fake.streams.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  // An event every 30 ms (faster than the debounce) while a new container appears.
  fake.containers.push(container('c'.repeat(64), 'churn'));
  const storm = setInterval(() => fake.push('a'.repeat(64)), 30);
  t.teardown(() => clearInterval(storm));
  const t0 = Date.now();
  while (!facts.inventory.lookup('c'.repeat(64)) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  clearInterval(storm);
  t.ok(facts.inventory.lookup('c'.repeat(64)), `refreshed during the storm (${Date.now() - t0} ms)`);
});

t.test('an exec in an unknown container asks for a refresh; a second ask within half a second is not dropped but comes due', async (t) => {
  const { dir, socket, fake } = await setup(t);
  fake.containers = [container('a'.repeat(64), 'first')];
  const facts = new NodeFacts();
  await startQuietCollector(t, dir, socket, facts, { useEvents: false });
  const started = facts.inventory.listedAt;
  t.ok(started > 0, 'the first refresh says when it listed the runtime');

  fake.containers.push(container('b'.repeat(64), 'second'));
  facts.emit('container-unknown', 'b'.repeat(64));
  for (const t0 = Date.now(); !facts.inventory.lookup('b'.repeat(64)) && Date.now() - t0 < 3000;) await new Promise((r) => setTimeout(r, 20));
  t.ok(facts.inventory.lookup('b'.repeat(64)), 'the asked refresh found it');
  const first = facts.inventory.listedAt;
  t.ok(first > started, 'listed again');

  // A container that appears right after that refresh listed the runtime: the ask falls within
  // the half second, and is kept for when it is over (the poll is an hour away).
  fake.containers.push(container('c'.repeat(64), 'third'));
  facts.emit('container-unknown', 'c'.repeat(64));
  facts.emit('container-unknown', 'c'.repeat(64));
  const t0 = Date.now();
  while (!facts.inventory.lookup('c'.repeat(64)) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  t.ok(facts.inventory.lookup('c'.repeat(64)), `the deferred refresh found it (listed ${facts.inventory.listedAt - first} ms after the asked one)`);
});
