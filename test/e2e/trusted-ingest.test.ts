// The trusted channel with real TLS handshakes: an agent proves its node with a client
// certificate; no certificate, another CA, an expired one, an operator's, or a certificate of
// node A speaking for node B are refused with a status and a reason; one stream per node;
// central's certificate rotates without a restart; /readyz tells the truth about TLS.
import t from 'tap';
import path from 'node:path';
import tls from 'node:tls';
import { rmSync, unlinkSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { IngestClient, FeedClient, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor, storedEvents } from '../helpers/pipeline.js';
import { tlsFixture, type PairFiles, type TlsFixture } from '../helpers/tls-fixture.js';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import Database from 'better-sqlite3';

const pb = nodewarden.v1;
type Duplex = grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage>;

let pki: TlsFixture;
t.before(async () => {
  pki = await tlsFixture();
});
t.teardown(() => rmSync(pki.dir, { recursive: true, force: true }));

async function startCentral(t: Tap, extra: Record<string, unknown> = {}, logger = quietLogger) {
  const dir = tempDir('trusted');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const cfg = testConfig({
    insecure: false, stateDir: path.join(dir, 'agent'), 'central.dataDir': path.join(dir, 'central'), 'central.listen': `127.0.0.1:${port}`,
    'central.tls.cert': pki.server.cert, 'central.tls.key': pki.server.key, 'central.tls.clientCa': pki.ca, ...extra,
  });
  const central = new Central(cfg, logger);
  await central.start();
  t.teardown(() => central.stop());
  return { central, dir, address: `127.0.0.1:${port}`, port };
}
type Tap = { teardown: (f: () => unknown) => void };

function agentConfig(dir: string, address: string, node: string, pair: PairFiles | null, extra: Record<string, unknown> = {}) {
  return testConfig({
    insecure: false, node, stateDir: path.join(dir, `agent-${node}-${Math.random().toString(36).slice(2)}`), 'agent.central': address,
    'agent.tls.ca': pki.ca, ...(pair ? { 'agent.tls.cert': pair.cert, 'agent.tls.key': pair.key } : {}), ...extra,
  });
}

/** A raw Ingest stream over TLS, with whatever client certificate the test chooses. */
function openStream(address: string, pair: PairFiles | null, ca = pki.ca) {
  const Ctor = IngestClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & { Stream: () => Duplex };
  const creds = grpc.credentials.createSsl(readFileSync(ca), pair ? readFileSync(pair.key) : null, pair ? readFileSync(pair.cert) : null);
  const client = new Ctor(address, creds, channelOptions);
  const call = client.Stream();
  const messages: nodewarden.v1.CentralMessage[] = [];
  call.on('data', (m: nodewarden.v1.CentralMessage) => messages.push(m));
  const status = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    call.on('status', resolve);
    call.on('error', resolve);
  });
  return { call, messages, status, close: () => client.close() };
}

const enc = (m: nodewarden.v1.IAgentMessage) => Buffer.from(pb.AgentMessage.encode(m).finish());
const hello = (node: string, agentId = `${node}-0001`) => enc({ hello: { agentId, node, agentVersion: 'test' } });
function batch(agentId: string, node: string, seq: number): Buffer {
  const ev = pb.Event.encode({ id: `${agentId}/${seq}`, agentId, sequence: Long.fromNumber(seq, true), node, ruleId: 'test', fingerprint: `f${seq}`, severity: 1, source: 4 }).finish();
  return enc({ batch: { batchId: Long.fromNumber(seq, true), events: [pb.Event.decode(ev)] } });
}

t.test('an agent with a node certificate delivers its events over TLS, stored under its node', async (t) => {
  const { central, dir, address } = await startCentral(t);
  const agent = new Agent(agentConfig(dir, address, 'worker-a', await pki.node('worker-a')), quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.sink.emit([{ source: 'agent', ruleId: 'test', severity: 'info', title: 't', message: 'm', fingerprint: 'f' }]);
  await waitFor('stored', () => central.log.count() === 1);
  t.equal(storedEvents(central.log)[0]!.node, 'worker-a');
});

t.test('a stream without any credential is refused with UNAUTHENTICATED and a reason', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address, null);
  s.call.write(hello('worker-a'));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.UNAUTHENTICATED);
  t.match(st.details, /neither a client certificate nor a service account token/);
  t.equal(s.messages[0]?.refusal?.code, 'NW_ERR_AUTH');
  t.equal(central.log.count(), 0);
  t.match(await central.registry.getSingleMetricAsString('nodewarden_auth_refused_total'), /reason="no-credential"\} 1/);
});

t.test('a certificate from another CA is refused, counted each time and logged once', async (t) => {
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
  const { central, address } = await startCentral(t, {}, logger);
  const pair = await pki.node('worker-a', { otherCa: true });
  for (let i = 0; i < 3; i++) {
    // An agent that keeps reconnecting with the same certificate.
    const s = openStream(address, pair);
    s.call.write(hello('worker-a'));
    const st = await s.status;
    s.close();
    t.equal(st.code, grpc.status.UNAUTHENTICATED);
    t.match(st.details, /CN=worker-a|worker-a/);
    t.match(s.messages[0]?.refusal?.message ?? '', /not a trusted CA/);
  }
  t.match(await central.registry.getSingleMetricAsString('nodewarden_auth_refused_total'), /reason="certificate-unknown-ca"\} 3/);
  const about = warnings.filter((l) => /worker-a/.test(l));
  t.equal(about.length, 1, `one warning for the peer: ${about.join('')}`);
});

t.test('an expired certificate is refused', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address, await pki.node('worker-a', { expired: true }));
  s.call.write(hello('worker-a'));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.UNAUTHENTICATED);
  t.match(st.details, /expired/);
  t.match(await central.registry.getSingleMetricAsString('nodewarden_auth_refused_total'), /reason="certificate-expired"/);
});

t.test('a certificate for node A sending a Hello for node B is refused with PERMISSION_DENIED', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address, await pki.node('worker-a'));
  s.call.write(hello('worker-b'));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.PERMISSION_DENIED);
  t.match(st.details, /names node worker-a but the hello claims node "worker-b"/);
  t.equal(central.log.count(), 0);
});

t.test('an event claiming another node on an authenticated stream is refused and not stored', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address, await pki.node('worker-a'));
  s.call.write(hello('worker-a', 'worker-a-1'));
  await waitFor('welcome', () => s.messages.some((m) => m.welcome));
  s.call.write(batch('worker-a-1', 'worker-b', 1));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.PERMISSION_DENIED);
  t.match(st.details, /claims node "worker-b" on the stream of node worker-a/);
  t.equal(central.log.count(), 0);
});

t.test("an agent id stored for one node cannot be reused by another node's certificate", async (t) => {
  const { central, address } = await startCentral(t);
  const a = openStream(address, await pki.node('worker-a'));
  a.call.write(hello('worker-a', 'shared-id'));
  a.call.write(batch('shared-id', 'worker-a', 1));
  await waitFor('stored', () => central.log.count() === 1);
  a.call.end();
  a.close();
  const b = openStream(address, await pki.node('worker-b'));
  b.call.write(hello('worker-b', 'shared-id'));
  const st = await b.status;
  b.close();
  t.equal(st.code, grpc.status.PERMISSION_DENIED);
  t.match(st.details, /belongs to node worker-a/);
});

t.test("an operator's certificate may not send events", async (t) => {
  const { address } = await startCentral(t);
  const s = openStream(address, await pki.operator('alice'));
  s.call.write(hello('alice'));
  const st = await s.status;
  s.close();
  t.equal(st.code, grpc.status.PERMISSION_DENIED);
  t.match(st.details, /operator alice may read but not send/);
});

t.test('a second stream of the same node replaces the first', async (t) => {
  const { central, address } = await startCentral(t);
  const pair = await pki.node('worker-a');
  const first = openStream(address, pair);
  first.call.write(hello('worker-a', 'worker-a-1'));
  await waitFor('first welcome', () => first.messages.some((m) => m.welcome));
  const second = openStream(address, pair);
  second.call.write(hello('worker-a', 'worker-a-1'));
  await waitFor('second welcome', () => second.messages.some((m) => m.welcome));
  const st = await first.status;
  t.equal(st.code, grpc.status.ABORTED, 'the older stream is closed');
  t.equal(first.messages.find((m) => m.refusal)?.refusal?.code, 'NW_ERR_STREAM_REPLACED');
  second.call.write(batch('worker-a-1', 'worker-a', 1));
  await waitFor('the newer stream stores', () => central.log.count() === 1);
  t.match(await central.registry.getSingleMetricAsString('nodewarden_ingest_streams_replaced_total'), / 1$/m);
  second.call.end();
  first.close();
  second.close();
});

t.test('a plaintext client cannot talk to the TLS port', async (t) => {
  const { address } = await startCentral(t);
  const Ctor = IngestClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & { Stream: (o?: object) => Duplex };
  const client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
  const call = client.Stream({ deadline: Date.now() + 3000 });
  call.on('data', () => undefined);
  const st = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  client.close();
  t.equal(st.code === grpc.status.UNAVAILABLE || st.code === grpc.status.DEADLINE_EXCEEDED, true, `refused (${grpc.status[st.code]})`);
});

t.test('Feed is for operators: a node certificate is refused, an operator certificate reads', async (t) => {
  const { address } = await startCentral(t);
  const subscribe = async (pair: PairFiles) => {
    const Ctor = FeedClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & {
      Subscribe: (r: nodewarden.v1.ISubscribeRequest) => grpc.ClientReadableStream<unknown>;
    };
    const client = new Ctor(address, grpc.credentials.createSsl(readFileSync(pki.ca), readFileSync(pair.key), readFileSync(pair.cert)), channelOptions);
    const stream = client.Subscribe({});
    const outcome = await Promise.race([
      new Promise<string>((resolve) => stream.on('error', (e: grpc.ServiceError) => resolve(grpc.status[e.code]))),
      new Promise<string>((resolve) => setTimeout(() => resolve('open'), 500)),
    ]);
    stream.cancel();
    client.close();
    return outcome;
  };
  t.equal(await subscribe(await pki.node('worker-a')), 'PERMISSION_DENIED');
  t.equal(await subscribe(await pki.operator('alice')), 'open');
});

t.test("central's certificate is re-read when its files change: new connections get the new one", async (t) => {
  const { port } = await startCentral(t);
  const serial = () => new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pki.ca), servername: 'localhost', ALPNProtocols: ['h2'] }, () => {
      const sn = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(sn);
    });
    s.on('error', reject);
  });
  const before = await serial();
  await pki.rotateServer();
  const after = await waitFor('the new certificate is served', async () => {
    const sn = await serial();
    return sn !== before ? sn : null;
  }, 10_000, 100);
  t.not(after, before);
});

t.test('/readyz is 503 naming the file when TLS material goes missing, and says insecure when it is', async (t) => {
  const fixture = await tlsFixture();
  t.teardown(() => rmSync(fixture.dir, { recursive: true, force: true }));
  const dir = tempDir('readyz');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = testConfig({
    insecure: false, 'central.dataDir': path.join(dir, 'central'), 'central.listen': '127.0.0.1:0',
    'central.tls.cert': fixture.server.cert, 'central.tls.key': fixture.server.key, 'central.tls.clientCa': fixture.ca,
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  t.teardown(() => central.stop());
  const readyz = async (c: Central) => {
    const res = await fetch(`http://127.0.0.1:${c.httpAddress!.port}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  t.equal((await readyz(central)).status, 200);
  unlinkSync(fixture.server.key);
  const r = await waitFor('not ready', async () => {
    const x = await readyz(central);
    return x.status === 503 ? x : null;
  }, 10_000, 100);
  t.match(r.body, new RegExp(`${fixture.server.key.replace(/[.]/g, '\\.')} cannot be read`));

  const insecure = new Central(testConfig({ 'central.dataDir': path.join(dir, 'c2'), 'central.listen': '127.0.0.1:0' }), quietLogger);
  await insecure.start();
  t.teardown(() => insecure.stop());
  const ok = await readyz(insecure);
  t.equal(ok.status, 200);
  t.match(ok.body, /insecure/);
});

t.test('/readyz is 503 when the event log cannot be written or its disk is nearly full', async (t) => {
  const dir = tempDir('readyz-disk');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const readyz = async (c: Central) => {
    const res = await fetch(`http://127.0.0.1:${c.httpAddress!.port}/readyz`);
    return { status: res.status, body: await res.text() };
  };
  const central = new Central(testConfig({ 'central.dataDir': path.join(dir, 'locked'), 'central.listen': '127.0.0.1:0' }), quietLogger);
  await central.start();
  t.teardown(() => central.stop());
  // Another writer holds the database: central's write probe cannot commit.
  const other = new Database(path.join(dir, 'locked', 'events.db'));
  t.teardown(() => other.close());
  other.exec('BEGIN EXCLUSIVE');
  const locked = await readyz(central);
  other.exec('COMMIT');
  t.equal(locked.status, 503);
  t.match(locked.body, /the event log cannot be written: .*cannot be written: .*locked/);

  const full = new Central(testConfig({
    'central.dataDir': path.join(dir, 'full'), 'central.listen': '127.0.0.1:0', 'central.minFreeDiskBytes': 2 ** 52,
  }), quietLogger);
  await full.start();
  t.teardown(() => full.stop());
  const r = await readyz(full);
  t.equal(r.status, 503);
  t.match(r.body, /is nearly full: \d+ bytes free, below central\.minFreeDiskBytes \(4503599627370496\)/);
});

t.test('central refuses to start with TLS but no way for an agent to prove its node', async (t) => {
  const dir = tempDir('noid');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const central = new Central(testConfig({
    insecure: false, 'central.dataDir': path.join(dir, 'central'), 'central.listen': '127.0.0.1:0',
    'central.tls.cert': pki.server.cert, 'central.tls.key': pki.server.key,
  }), quietLogger);
  await t.rejects(central.start(), /no agent could prove its node/);
  await central.stop();
  const plain = new Central(testConfig({ insecure: false, 'central.dataDir': path.join(dir, 'c2'), 'central.listen': '127.0.0.1:0' }), quietLogger);
  await t.rejects(plain.start(), /central needs central.tls.cert and central.tls.key/);
  await plain.stop();
});
