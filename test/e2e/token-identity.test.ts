// The Kubernetes identity of an agent: a projected service account token in its Hello, checked
// by central through TokenReview against a faithful local API server (real HTTPS, the real
// client library). The node comes from the review; a token for another audience, service
// account or node, or an expired one, is refused; a token rotated by the kubelet reaches central
// on the live stream; reviews are cached until the token's expiry.
import t from 'tap';
import path from 'node:path';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { IngestClient, FeedClient, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor, storedEvents } from '../helpers/pipeline.js';
import { tlsFixture, type TlsFixture } from '../helpers/tls-fixture.js';
import { FakeKubeApi } from '../helpers/fake-kube-api.js';

const pb = nodewarden.v1;
type Duplex = grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage>;

let pki: TlsFixture;
let api: FakeKubeApi;
let dir: string;
let kubeconfig: string;
t.before(async () => {
  pki = await tlsFixture();
  api = await FakeKubeApi.start();
  dir = tempDir('token');
  kubeconfig = api.writeKubeconfig(dir);
});
t.teardown(async () => {
  await api.close();
  rmSync(pki.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const agentToken = (node: string, extra: Partial<Parameters<FakeKubeApi['issueToken']>[0]> = {}) => api.issueToken({
  namespace: 'nodewarden', serviceAccount: 'nodewarden-agent', audiences: ['nodewarden'],
  pod: { name: `nodewarden-agent-${node}`, uid: `uid-${node}` }, node: { name: node, uid: `node-uid-${node}` }, ...extra,
});

async function startCentral(t: { teardown: (f: () => unknown) => void }, extra: Record<string, unknown> = {}) {
  const port = await freePort();
  const cfg = testConfig({
    insecure: false, 'central.dataDir': tempDir('token-central'), 'central.listen': `127.0.0.1:${port}`,
    'central.tls.cert': pki.server.cert, 'central.tls.key': pki.server.key,
    'kube.kubeconfig': kubeconfig, 'central.tokenReview.enabled': true, ...extra,
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  t.teardown(async () => {
    await central.stop();
    rmSync(cfg.central.dataDir, { recursive: true, force: true });
  });
  return { central, address: `127.0.0.1:${port}` };
}

function writeToken(file: string, token: string): void {
  // As the kubelet does: the new token lands whole.
  writeFileSync(`${file}.tmp`, token);
  renameSync(`${file}.tmp`, file);
}

function openStream(address: string) {
  const Ctor = IngestClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & { Stream: () => Duplex };
  const client = new Ctor(address, grpc.credentials.createSsl(readFileSync(pki.ca)), channelOptions);
  const call = client.Stream();
  const messages: nodewarden.v1.CentralMessage[] = [];
  call.on('data', (m: nodewarden.v1.CentralMessage) => messages.push(m));
  const status = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    call.on('status', resolve);
    call.on('error', resolve);
  });
  return { call, messages, status, close: () => client.close() };
}

const hello = (node: string, token: string) => Buffer.from(pb.AgentMessage.encode({ hello: { agentId: `${node}-tok1`, node, agentVersion: 'test', token } }).finish());

async function refusal(address: string, node: string, token: string) {
  const s = openStream(address);
  s.call.write(hello(node, token));
  const st = await s.status;
  s.close();
  return { code: st.code, details: st.details };
}

t.test('an agent proving its node with a token delivers events stored under the reviewed node', async (t) => {
  const { central, address } = await startCentral(t);
  const tokenFile = path.join(dir, 'token-ok');
  writeToken(tokenFile, agentToken('worker-a'));
  const agent = new Agent(testConfig({
    insecure: false, node: 'worker-a', stateDir: tempDir('token-agent'), 'agent.central': address, 'agent.tls.ca': pki.ca, 'agent.token': tokenFile,
  }), quietLogger);
  t.teardown(async () => {
    await agent.stop();
    rmSync(agent.config.stateDir, { recursive: true, force: true });
  });
  await agent.start();
  await agent.sink.emit([{ source: 'agent', ruleId: 'test', severity: 'info', title: 't', message: 'm', fingerprint: 'f' }]);
  await waitFor('stored', () => central.log.count() === 1);
  t.equal(storedEvents(central.log)[0]!.node, 'worker-a');
});

t.test('a token for another audience is refused with UNAUTHENTICATED', async (t) => {
  const { address } = await startCentral(t);
  const r = await refusal(address, 'worker-a', agentToken('worker-a', { audiences: ['https://kubernetes.default.svc'] }));
  t.equal(r.code, grpc.status.UNAUTHENTICATED);
  t.match(r.details, /audience nodewarden/);
});

t.test('a token of another service account is refused with PERMISSION_DENIED', async (t) => {
  const { central, address } = await startCentral(t);
  const r = await refusal(address, 'worker-a', agentToken('worker-a', { namespace: 'default', serviceAccount: 'builder' }));
  t.equal(r.code, grpc.status.PERMISSION_DENIED);
  t.match(await central.registry.getSingleMetricAsString('nodewarden_auth_refused_total'), /reason="token-wrong-service-account"/);
});

t.test('an expired token is refused with UNAUTHENTICATED', async (t) => {
  const { address } = await startCentral(t);
  const r = await refusal(address, 'worker-a', agentToken('worker-a', { expiresInSeconds: -30 }));
  t.equal(r.code, grpc.status.UNAUTHENTICATED);
  t.match(r.details, /expired/);
});

t.test("a token bound to node B cannot speak for node A", async (t) => {
  const { central, address } = await startCentral(t);
  const r = await refusal(address, 'worker-a', agentToken('worker-b'));
  t.equal(r.code, grpc.status.PERMISSION_DENIED);
  t.match(r.details, /names node worker-b but the hello claims node "worker-a"/);
  t.equal(central.log.count(), 0);
});

t.test('a token signed by someone else is refused', async (t) => {
  const { address } = await startCentral(t);
  const other = await FakeKubeApi.start();
  t.teardown(() => other.close());
  const forged = other.issueToken({ namespace: 'nodewarden', serviceAccount: 'nodewarden-agent', audiences: ['nodewarden'], node: { name: 'worker-a', uid: 'x' } });
  const r = await refusal(address, 'worker-a', forged);
  t.equal(r.code, grpc.status.UNAUTHENTICATED);
});

t.test('reviews are cached until expiry: twenty reconnects with one token cost one review', async (t) => {
  const { address } = await startCentral(t);
  const token = agentToken('worker-c');
  const before = api.reviews;
  for (let i = 0; i < 20; i++) {
    const s = openStream(address);
    s.call.write(hello('worker-c', token));
    await waitFor('welcome', () => s.messages.some((m) => m.welcome));
    s.call.end();
    s.close();
  }
  t.equal(api.reviews - before, 1);
});

t.test('a token rotated mid-stream keeps the stream; without rotation the stream ends at expiry', async (t) => {
  const { central, address } = await startCentral(t);
  const tokenFile = path.join(dir, 'token-rotating');
  writeToken(tokenFile, agentToken('worker-r', { expiresInSeconds: 3 }));
  const agent = new Agent(testConfig({
    insecure: false, node: 'worker-r', stateDir: tempDir('token-agent'), 'agent.central': address, 'agent.tls.ca': pki.ca, 'agent.token': tokenFile,
  }), quietLogger);
  t.teardown(async () => {
    await agent.stop();
    rmSync(agent.config.stateDir, { recursive: true, force: true });
  });
  await agent.start();
  await waitFor('connected', () => agent.readiness().every((p) => !p.startsWith('not connected')));
  const reconnects = async () => Number(/ (\d+)$/m.exec(await agent.registry.getSingleMetricAsString('nodewarden_shipper_reconnects_total'))?.[1] ?? 0);
  const before = await reconnects();
  writeToken(tokenFile, agentToken('worker-r', { expiresInSeconds: 3600 }));
  await new Promise((r) => setTimeout(r, 4_000)); // past the first token's expiry
  await agent.sink.emit([{ source: 'agent', ruleId: 'test', severity: 'info', title: 't', message: 'after rotation', fingerprint: 'r' }]);
  await waitFor('stored after the first token expired', () => central.log.count() === 1);
  t.equal(await reconnects(), before, 'the stream never dropped');
  t.notMatch(await central.registry.getSingleMetricAsString('nodewarden_ingest_streams_refused_total'), /NW_ERR_AUTH/);

  // A raw stream whose token is never refreshed is closed when it expires.
  const s = openStream(address);
  s.call.write(hello('worker-x', agentToken('worker-x', { expiresInSeconds: 2 })));
  await waitFor('welcome', () => s.messages.some((m) => m.welcome));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.UNAUTHENTICATED);
  t.match(st.details, /expired during the stream/);
});

t.test('readers: a listed service account reads with its token; an agent token may not read', async (t) => {
  const { address } = await startCentral(t, { 'central.tokenReview.readers': ['monitoring:grafana'] });
  const subscribe = async (token: string) => {
    const Ctor = FeedClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & {
      Subscribe: (r: nodewarden.v1.ISubscribeRequest) => grpc.ClientReadableStream<unknown>;
    };
    const creds = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(readFileSync(pki.ca)), grpc.credentials.createFromMetadataGenerator((_p, done) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      done(null, md);
    }));
    const client = new Ctor(address, creds, channelOptions);
    const stream = client.Subscribe({});
    const outcome = await Promise.race([
      new Promise<string>((resolve) => stream.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code]))),
      new Promise<string>((resolve) => setTimeout(() => resolve('open'), 500)),
    ]);
    stream.cancel();
    client.close();
    return outcome;
  };
  t.equal(await subscribe(api.issueToken({ namespace: 'monitoring', serviceAccount: 'grafana', audiences: ['nodewarden'] })), 'open');
  t.equal(await subscribe(agentToken('worker-a')), 'PERMISSION_DENIED');

});
