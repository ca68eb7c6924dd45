// The Splunk HEC sink against a local receiver that records the exact bytes: the envelope, the
// token from a secret file, indexer acknowledgement (ok only once Splunk says indexed), and what
// each HEC answer means for the send chain.
import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { eventToJson } from '../../../core/event.js';
import { readSecret } from '../../../central/sinks/secret.js';
import type { CommonSinkConfig, SinkContext, SinkDriver, SinkEvent } from '../../../central/sinks/sink.js';
import { splunkHecConfigSchema, splunkHecSinkFactory } from '../../../central/sinks/splunk-hec/factory.js';
import { SplunkHecTransport, type SplunkHecTransportOptions } from '../../../central/sinks/splunk-hec/transport.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { makeEvent, tempDirFor } from '../../helpers/event-log-fixtures.js';
import { quietLogger } from '../../helpers/pipeline.js';

const pb = nodewarden.v1;
const T = Date.UTC(2025, 5, 15, 10, 30, 0, 123);
const CHANNEL = '0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba';

interface Recorded {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}
type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A HEC receiver: `reply` answers each recorded request (event posts and ack polls alike). */
async function hec(t: Test, reply: (r: Recorded, requests: Recorded[]) => Reply): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(r);
      const { status, body, headers } = reply(r, requests);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body === undefined ? '' : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const success = { status: 200, body: { text: 'Success', code: 0 } };

function sinkEvents(n: number): SinkEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const bytes = makeEvent('worker-1-ab12', i + 1, { timeMs: T, node: 'worker-1', source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', namespace: i === 0 ? 'kube-system' : undefined }).bytes;
    return { rowid: i + 1, event: pb.Event.decode(bytes), bytes };
  });
}

function transport(t: Test, opts: Partial<SplunkHecTransportOptions> & { url: string }): SplunkHecTransport {
  const tr = new SplunkHecTransport({ token: () => '11111111-2222-3333-4444-555555555555', source: 'nodewarden', sourcetype: 'nodewarden', ack: false, logger: quietLogger, ...opts });
  t.teardown(() => tr.close());
  return tr;
}

const signal = () => AbortSignal.timeout(5000);
const common: CommonSinkConfig = { name: 'splunk', type: 'splunk-hec', enabled: true, filter: {}, batch: { maxEvents: 500 }, retry: { initialMs: 500, maxMs: 60_000 }, timeoutMs: 10_000 };

/** Only what network sink factories use; the chain's parts are not needed to build a transport. */
function context(): SinkContext {
  return { name: 'splunk', logger: quietLogger, registry: new Registry(), version: '0.1.0', secret: (ref) => readSecret(ref, {}) } as Partial<SinkContext> as SinkContext;
}

t.test('a batch is concatenated HEC envelopes with the JSON mapping as event, sent with the token from its secret file', async (t) => {
  const dir = tempDirFor(t, 'hec-token');
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, '0f3b2c1d-7e6a-4b59-8c3d-2e1f0a9b8c7d\n');
  const splunk = await hec(t, () => success);
  const config = splunkHecConfigSchema.parse({ url: splunk.url, token: { file: tokenFile } });
  const driver = splunkHecSinkFactory.create({ ...common, ...config }, context()) as SinkDriver;
  t.teardown(() => driver.transport.close?.());
  const batch = sinkEvents(2);

  t.same(await driver.transport.send(batch, signal()), { kind: 'ok' });
  const req = splunk.requests[0]!;
  t.equal(req.path, '/services/collector/event');
  t.equal(req.headers.authorization, 'Splunk 0f3b2c1d-7e6a-4b59-8c3d-2e1f0a9b8c7d', 'the token, trimmed, after "Splunk "');
  t.equal(req.headers['content-type'], 'application/json');
  t.equal(req.headers['x-splunk-request-channel'], undefined, 'no channel without ack');
  t.equal(req.body,
    `{"time":1749983400.123,"host":"worker-1","source":"nodewarden","sourcetype":"nodewarden","event":${JSON.stringify(eventToJson(batch[0]!.event))},` +
    '"fields":{"rule":"exec-shell-in-container","severity":"medium","node":"worker-1","event_source":"process","namespace":"kube-system"}}' +
    `{"time":1749983400.123,"host":"worker-1","source":"nodewarden","sourcetype":"nodewarden","event":${JSON.stringify(eventToJson(batch[1]!.event))},` +
    '"fields":{"rule":"exec-shell-in-container","severity":"medium","node":"worker-1","event_source":"process"}}');
  t.match(JSON.parse(req.body.slice(0, req.body.indexOf('}{') + 1)), { event: { id: 'worker-1-ab12/1', severity: 'SEVERITY_MEDIUM', sequence: '1' } }, 'the protobuf JSON mapping');

  writeFileSync(tokenFile, 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
  await driver.transport.send(batch, signal());
  t.equal(splunk.requests[1]!.headers.authorization, 'Splunk aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', 'a rotated token is used at the next send');
});

t.test('index, source and sourcetype are set as configured', async (t) => {
  const splunk = await hec(t, () => success);
  await transport(t, { url: `${splunk.url}/`, index: 'k8s_security', source: 'nw-prod', sourcetype: 'nodewarden:event' }).send(sinkEvents(1), signal());
  t.match(JSON.parse(splunk.requests[0]!.body), { host: 'worker-1', source: 'nw-prod', sourcetype: 'nodewarden:event', index: 'k8s_security' });
  t.match(Object.keys(JSON.parse(splunk.requests[0]!.body) as object), ['time', 'host', 'source', 'sourcetype', 'index', 'event', 'fields']);
});

t.test('with ack, the batch is ok only after the ack endpoint says the ackId is indexed', async (t) => {
  let indexedAt = 0;
  const splunk = await hec(t, (r, all) => {
    if (r.path === '/services/collector/event') return { status: 200, body: { text: 'Success', code: 0, ackId: 7 } };
    const polls = all.filter((x) => x.path === '/services/collector/ack').length;
    if (polls < 3) return { status: 200, body: { acks: { 7: false } } };
    indexedAt = Date.now();
    return { status: 200, body: { acks: { 7: true } } };
  });
  const result = await transport(t, { url: splunk.url, ack: true, channel: CHANNEL }).send(sinkEvents(2), signal());
  const answeredAt = Date.now();

  t.same(result, { kind: 'ok' });
  t.same(splunk.requests.map((r) => r.path), ['/services/collector/event', '/services/collector/ack', '/services/collector/ack', '/services/collector/ack']);
  t.ok(indexedAt > 0 && answeredAt >= indexedAt, 'answered after Splunk said indexed');
  for (const r of splunk.requests) t.equal(r.headers['x-splunk-request-channel'], CHANNEL, `${r.path} on the channel`);
  for (const r of splunk.requests.slice(1)) t.equal(r.body, '{"acks":[7]}');
});

t.test('with ack, a batch never acknowledged within the timeout is retried', async (t) => {
  const splunk = await hec(t, (r) => r.path === '/services/collector/event'
    ? { status: 200, body: { text: 'Success', code: 0, ackId: 3 } }
    : { status: 200, body: { acks: { 3: false } } });
  const result = await transport(t, { url: splunk.url, ack: true, channel: CHANNEL }).send(sinkEvents(1), AbortSignal.timeout(400));
  t.match(result, { kind: 'retry', reason: /did not acknowledge indexing ackId 3.*sent again/ });
  t.ok(splunk.requests.filter((r) => r.path === '/services/collector/ack').length >= 1, 'it polled');
});

t.test('with ack on a token that has acknowledgement off, the answer without ackId is taken as delivered', async (t) => {
  const splunk = await hec(t, () => success);
  t.same(await transport(t, { url: splunk.url, ack: true, channel: CHANNEL }).send(sinkEvents(1), signal()), { kind: 'ok' });
  t.equal(splunk.requests.length, 1, 'nothing to poll');
});

t.test('an ack poll refused because the token has acknowledgement off is retried with the fix', async (t) => {
  const splunk = await hec(t, (r) => r.path === '/services/collector/event'
    ? { status: 200, body: { text: 'Success', code: 0, ackId: 1 } }
    : { status: 400, body: { text: 'ACK is disabled', code: 14 } });
  t.match(await transport(t, { url: splunk.url, ack: true, channel: CHANNEL }).send(sinkEvents(1), signal()), { kind: 'retry', reason: /ACK is disabled.*ack: false/ });
});

t.test('a busy server (503, code 9) is retried, honouring Retry-After', async (t) => {
  const splunk = await hec(t, () => ({ status: 503, body: { text: 'Server is busy', code: 9 }, headers: { 'retry-after': '4' } }));
  t.same(await transport(t, { url: splunk.url }).send(sinkEvents(2), signal()), { kind: 'retry', reason: 'Splunk HEC answered 503 (code 9: Server is busy)', afterMs: 4000 });
});

t.test('a refused token is retried with a reason, never dead-lettered', async (t) => {
  const splunk = await hec(t, () => ({ status: 403, body: { text: 'Invalid token', code: 4 } }));
  t.match(await transport(t, { url: splunk.url }).send(sinkEvents(2), signal()), { kind: 'retry', reason: /403 \(code 4: Invalid token\): the token is not known/ });
});

t.test('an index the token may not write to is retried as configuration, not dead-lettered', async (t) => {
  const splunk = await hec(t, () => ({ status: 400, body: { text: 'Incorrect index', code: 7, 'invalid-event-number': 0 } }));
  t.match(await transport(t, { url: splunk.url, index: 'nope' }).send(sinkEvents(2), signal()), { kind: 'retry', reason: /code 7: Incorrect index/ });
});

t.test('invalid data dead-letters the event HEC names and sends the others again', async (t) => {
  const splunk = await hec(t, () => ({ status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': 1 } }));
  t.match(await transport(t, { url: splunk.url }).send(sinkEvents(3), signal()), { kind: 'items', items: [
    { kind: 'retry' },
    { kind: 'permanent', reason: 'Splunk HEC answered 400 (code 6: Invalid data format)' },
    { kind: 'retry' },
  ] });
});

t.test('invalid data without the event named: a batch is split to find it, a single event is permanent', async (t) => {
  const splunk = await hec(t, () => ({ status: 400, body: { text: 'Event field is required', code: 12 } }));
  t.same(await transport(t, { url: splunk.url }).send(sinkEvents(2), signal()), { kind: 'retry', reason: 'Splunk HEC answered 400 (code 12: Event field is required)', split: true });
  t.same(await transport(t, { url: splunk.url }).send(sinkEvents(1), signal()), { kind: 'permanent', reason: 'Splunk HEC answered 400 (code 12: Event field is required)' });
});

t.test('a receiver that does not answer is a retry, never a throw', async (t) => {
  const splunk = await hec(t, () => success);
  t.match(await transport(t, { url: splunk.url.replace(/:\d+$/, ':1') }).send(sinkEvents(1), signal()), { kind: 'retry', reason: /did not answer/ });
});

t.test('the configuration has defaults, refuses a collector path in the URL and a channel that is not a GUID', async (t) => {
  t.same(splunkHecConfigSchema.parse({ url: 'https://splunk:8088', token: { env: 'HEC_TOKEN' } }), {
    url: 'https://splunk:8088', token: { env: 'HEC_TOKEN' }, source: 'nodewarden', sourcetype: 'nodewarden', ack: false,
  });
  const r = splunkHecConfigSchema.safeParse({ url: 'https://splunk:8088/services/collector/event', token: 'inline', channel: 'abc' });
  t.notOk(r.success);
  t.same(r.error!.issues.map((i) => i.path.join('.')).sort(), ['channel', 'token', 'url']);
});

t.test('with ack and no channel configured, the sink makes one up and uses it', async (t) => {
  const dir = tempDirFor(t, 'hec-channel');
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, 'tok');
  const splunk = await hec(t, () => success);
  const config = splunkHecConfigSchema.parse({ url: splunk.url, token: { file: tokenFile }, ack: true });
  const driver = splunkHecSinkFactory.create({ ...common, ...config, timeoutMs: 30_000 }, context()) as SinkDriver;
  t.teardown(() => driver.transport.close?.());
  await driver.transport.send(sinkEvents(1), signal());
  t.match(splunk.requests[0]!.headers['x-splunk-request-channel'], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

t.test('a token file that cannot be read stops the sink at start, naming the file', async (t) => {
  const missing = path.join(tempDirFor(t, 'hec-missing'), 'token');
  const config = splunkHecConfigSchema.parse({ url: 'https://splunk:8088', token: { file: missing } });
  t.throws(() => splunkHecSinkFactory.create({ ...common, ...config }, context()), { code: 'NW_ERR_CONFIG', message: new RegExp(`token: .*${missing}`) });
});
