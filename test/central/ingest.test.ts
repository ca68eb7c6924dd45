// Ingest refuses bad frames on one stream without harming others, and Feed.Subscribe delivers
// stored events live, filtered, with replay.
import t from 'tap';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { IngestClient, FeedClient, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { freePort, quietLogger, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

const pb = nodewarden.v1;
type Duplex = grpc.ClientDuplexStream<Buffer, nodewarden.v1.CentralMessage>;

async function startCentral(t: { teardown: (f: () => unknown) => void }) {
  const dir = tempDir('ingest');
  const port = await freePort();
  const cfg = pipelineConfig(dir, port);
  const central = new Central(cfg, quietLogger);
  await central.start();
  t.teardown(() => central.stop());
  return { central, cfg, address: `127.0.0.1:${port}` };
}

function openStream(address: string): { call: Duplex; messages: nodewarden.v1.CentralMessage[]; ended: Promise<void>; client: grpc.Client } {
  const Ctor = IngestClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & { Stream: () => Duplex };
  const client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
  const call = client.Stream();
  const messages: nodewarden.v1.CentralMessage[] = [];
  call.on('data', (m: nodewarden.v1.CentralMessage) => messages.push(m));
  const ended = new Promise<void>((resolve) => {
    call.on('end', resolve);
    call.on('error', () => resolve());
  });
  return { call, messages, ended, client };
}

const enc = (m: nodewarden.v1.IAgentMessage) => Buffer.from(pb.AgentMessage.encode(m).finish());

t.test('a malformed frame is refused on its own stream; another agent keeps delivering', async (t) => {
  const { central, cfg, address } = await startCentral(t);
  const agent = new Agent(cfg, quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();

  const bad = openStream(address);
  bad.call.write(Buffer.from([0x12, 0xff, 0xff, 0xff, 0x0f, 0x01])); // a length far past the frame
  await bad.ended;
  bad.client.close();
  t.equal(bad.messages[0]?.refusal?.code, 'NW_ERR_WIRE_PROTOCOL', 'the bad stream gets a refusal naming the error');
  t.match(bad.messages[0]?.refusal?.message ?? '', /malformed AgentMessage/);

  await agent.sink.emit([{ source: 'agent', ruleId: 'test', severity: 'info', title: 'still fine', message: 'm', fingerprint: 'f' }]);
  await waitFor('the good agent stored', () => central.log.count() === 1);
  t.pass('the well-behaved agent was not harmed');
});

t.test('a batch before hello, and an event claiming another agent, are refused', async (t) => {
  const { central, address } = await startCentral(t);
  const early = openStream(address);
  early.call.write(enc({ batch: { batchId: Long.UONE, events: [{ agentId: 'a', sequence: Long.UONE }] } }));
  await early.ended;
  early.client.close();
  t.match(early.messages[0]?.refusal?.message ?? '', /before the welcome/);

  const liar = openStream(address);
  liar.call.write(enc({ hello: { agentId: 'node-a', node: 'a' } }));
  liar.call.write(enc({ batch: { batchId: Long.UONE, events: [{ agentId: 'node-b', sequence: Long.UONE }] } }));
  await liar.ended;
  liar.client.close();
  t.ok(liar.messages[0]?.welcome, 'hello is welcomed');
  t.match(liar.messages[1]?.refusal?.message ?? '', /arrived on the stream of node-a/);
  t.equal(central.log.count(), 0, 'nothing stored from refused streams');
});

t.test('Feed.Subscribe replays and streams matching events live', async (t) => {
  const { central, cfg, address } = await startCentral(t);
  const agent = new Agent(cfg, quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.sink.emit([
    { source: 'agent', ruleId: 'old-high', severity: 'high', title: 'old', message: 'm', fingerprint: 'f1' },
    { source: 'agent', ruleId: 'old-low', severity: 'low', title: 'old', message: 'm', fingerprint: 'f2' },
  ]);
  await waitFor('two stored', () => central.log.count() === 2);

  const Ctor = FeedClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: object) => grpc.Client & {
    Subscribe: (r: nodewarden.v1.ISubscribeRequest) => grpc.ClientReadableStream<nodewarden.v1.FeedMessage>;
  };
  const client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
  t.teardown(() => client.close());
  const got: string[] = [];
  const stream = client.Subscribe({ minSeverity: pb.Severity.SEVERITY_MEDIUM, replay: 10 });
  stream.on('data', (m: nodewarden.v1.FeedMessage) => m.event && got.push(m.event.ruleId ?? ''));
  stream.on('error', () => undefined);
  await waitFor('the replayed event', () => got.length === 1);
  await agent.sink.emit([
    { source: 'agent', ruleId: 'new-low', severity: 'low', title: 'new', message: 'm', fingerprint: 'f3' },
    { source: 'agent', ruleId: 'new-critical', severity: 'critical', title: 'new', message: 'm', fingerprint: 'f4' },
  ]);
  await waitFor('the live event', () => got.length === 2);
  t.same(got, ['old-high', 'new-critical'], 'only events at or above medium, replay first');
  stream.cancel();
});

t.test('a frame with more events than any agent batches is refused before it is decoded further', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address);
  s.call.write(enc({ hello: { agentId: 'flood', node: 'n' } }));
  // 5,000 empty events: small on the wire, costly if decoded and checked one by one.
  const parts = [Buffer.from([0x08, 0x01])];
  for (let i = 0; i < 5000; i++) parts.push(Buffer.from([0x12, 0x00]));
  const batch = Buffer.concat(parts);
  const lenBytes: number[] = [];
  for (let n = batch.length; ; n >>>= 7) {
    if (n < 0x80) { lenBytes.push(n); break; }
    lenBytes.push((n & 0x7f) | 0x80);
  }
  s.call.write(Buffer.concat([Buffer.from([0x12, ...lenBytes]), batch]));
  await s.ended;
  s.client.close();
  t.match(s.messages[1]?.refusal?.message ?? '', /more than 4096 events/);
  t.equal(central.log.count(), 0);
});

t.test('a second hello on one stream is refused (an identity cannot change mid-stream)', async (t) => {
  const { address } = await startCentral(t);
  const s = openStream(address);
  s.call.write(enc({ hello: { agentId: 'a', node: 'n' } }));
  s.call.write(enc({ hello: { agentId: 'b', node: 'n' } }));
  await s.ended;
  s.client.close();
  t.match(s.messages[1]?.refusal?.message ?? '', /second hello/);
});

t.test('a batch sent twice is acknowledged twice and stored once', async (t) => {
  const { central, address } = await startCentral(t);
  const s = openStream(address);
  s.call.write(enc({ hello: { agentId: 'twice', node: 'n' } }));
  const batch = (id: number) => enc({ batch: { batchId: Long.fromNumber(id, true), events: [1, 2, 3].map((q) => ({ agentId: 'twice', sequence: Long.fromNumber(q, true), ruleId: 'r' })) } });
  s.call.write(batch(1));
  s.call.write(batch(2));
  await waitFor('two acks', () => s.messages.filter((m) => m.ack).length === 2);
  s.call.end();
  s.client.close();
  const acks = s.messages.filter((m) => m.ack).map((m) => m.ack!);
  t.same(acks.map((a) => [a.accepted, a.duplicates, Number(a.storedThrough)]), [[3, 0, 3], [0, 3, 3]]);
  t.equal(central.log.count(), 3);
  const metric = await central.registry.getSingleMetricAsString('nodewarden_ingest_events_duplicate_total');
  t.match(metric, /_total 3$/m);
});

t.test("an agent's Hello carries its host facts; central keeps them per node", async (t) => {
  const { central, cfg } = await startCentral(t);
  const agent = new Agent(cfg, quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  const row = await waitFor('facts stored', () => central.log.nodeFacts().find((n) => n.node === cfg.node));
  const facts = JSON.parse(row.facts) as { kernel: string; architecture: string; os: { name: string; platform: string }; bootTime: number };
  const os = await import('node:os');
  t.equal(facts.kernel, os.release());
  t.equal(facts.os.platform, 'linux');
  t.ok(facts.os.name.length > 0, `the OS is named (${facts.os.name})`);
  t.ok(facts.bootTime > 0 && facts.bootTime < Date.now());
});
