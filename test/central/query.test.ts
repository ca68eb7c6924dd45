// Query.Events and Query.Findings over a real gRPC server and client on loopback: every filter
// reaches the event log, the stored bytes come back as they are, a refused caller gets the
// authorizer's status, and a malformed request gets INVALID_ARGUMENT.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import { queryHandlers, type Verdict } from '../../central/query.js';
import { QueryClient, queryService, channelOptions } from '../../core/wire/services.js';
import type { EventLog } from '../../central/event-log.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { quietLogger } from '../helpers/pipeline.js';
import { storeEvents, tempLog, type EventSpec } from '../helpers/event-log-fixtures.js';

const pb = nodewarden.v1;
type Event = nodewarden.v1.Event;
type Stub = grpc.Client & {
  Events: (req: nodewarden.v1.IEventsRequest) => grpc.ClientReadableStream<Event>;
  Findings: (req: nodewarden.v1.IFindingsRequest) => grpc.ClientReadableStream<Event>;
};
type Teardown = { teardown: (fn: () => unknown) => void };

const T0 = Date.parse('2025-05-01T00:00:00Z');
const nsLong = (ms: number): Long => Long.fromNumber(ms).multiply(1_000_000);
const { FINDING_STATE_OPEN: OPEN, FINDING_STATE_RESOLVED: RESOLVED } = pb.FindingState;

const SIX: EventSpec[] = [
  { title: 'e0', timeMs: T0, node: 'node-a', severity: pb.Severity.SEVERITY_INFO, source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.1', state: OPEN, fingerprint: 'f0' },
  { title: 'e1', timeMs: T0 + 60_000, node: 'node-a', severity: pb.Severity.SEVERITY_LOW, source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.2.1', state: RESOLVED, fingerprint: 'f1' },
  { title: 'e2', timeMs: T0 + 120_000, node: 'node-b', severity: pb.Severity.SEVERITY_MEDIUM, source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', namespace: 'default' },
  { title: 'e3', timeMs: T0 + 180_000, node: 'node-b', severity: pb.Severity.SEVERITY_HIGH, source: pb.Source.SOURCE_RUNTIME, ruleId: 'runtime-privileged', namespace: 'kube-system', state: OPEN, fingerprint: 'f3' },
  { title: 'e4', timeMs: T0 + 240_000, node: 'node-c', severity: pb.Severity.SEVERITY_CRITICAL, source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-network-tool-in-container', namespace: 'kube-system' },
];

async function serve(t: Teardown, log: EventLog, authorize: () => Promise<Verdict> = async () => ({ ok: true })): Promise<{ client: Stub; address: string }> {
  const server = new grpc.Server(channelOptions);
  server.addService(queryService, queryHandlers({ log, authorize, logger: quietLogger }));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const address = `127.0.0.1:${port}`;
  const Ctor = QueryClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => Stub;
  const client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions);
  t.teardown(() => {
    client.close();
    server.forceShutdown();
  });
  return { client, address };
}

/** Every event of a call, or the status it failed with. */
function read(stream: grpc.ClientReadableStream<Event>): Promise<{ events: Event[]; error?: grpc.ServiceError }> {
  const events: Event[] = [];
  return new Promise((resolve) => {
    stream.on('data', (e: Event) => events.push(e));
    stream.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
    stream.on('end', () => resolve({ events }));
  });
}

async function sixServed(t: Teardown): Promise<Stub> {
  const { log } = tempLog(t, 'query');
  storeEvents(log, SIX);
  return (await serve(t, log)).client;
}

const titles = (r: { events: Event[] }): string[] => r.events.map((e) => e.title);

const EVENT_FILTERS: [string, nodewarden.v1.IEventsRequest, string[]][] = [
  ['no filter: every event, oldest first', {}, ['e0', 'e1', 'e2', 'e3', 'e4']],
  ['since', { sinceUnixNano: nsLong(T0 + 120_000) }, ['e2', 'e3', 'e4']],
  ['until', { untilUnixNano: nsLong(T0 + 60_000) }, ['e0', 'e1']],
  ['since and until', { sinceUnixNano: nsLong(T0 + 60_000), untilUnixNano: nsLong(T0 + 120_000) }, ['e1', 'e2']],
  ['nodes', { nodes: ['node-b', 'node-c'] }, ['e2', 'e3', 'e4']],
  ['min_severity', { minSeverity: pb.Severity.SEVERITY_HIGH }, ['e3', 'e4']],
  ['sources', { sources: [pb.Source.SOURCE_PROCESS] }, ['e2', 'e4']],
  ['rule_ids, exact and by prefix', { ruleIds: ['cis-4.2.1', 'exec-*'] }, ['e1', 'e2', 'e4']],
  ['namespaces', { namespaces: ['kube-system'] }, ['e3', 'e4']],
  ['state', { state: OPEN }, ['e0', 'e3']],
  ['limit: the newest N, oldest first', { limit: 2 }, ['e3', 'e4']],
  ['several together', { nodes: ['node-a', 'node-b'], minSeverity: pb.Severity.SEVERITY_LOW, state: OPEN }, ['e3']],
];

for (const [name, req, want] of EVENT_FILTERS) {
  t.test(`Events over the wire: ${name}`, async (t) => {
    const client = await sixServed(t);
    const r = await read(client.Events(req));
    t.equal(r.error, undefined);
    t.same(titles(r), want);
  });
}

const FINDING_FILTERS: [string, nodewarden.v1.IFindingsRequest, string[]][] = [
  ['no filter: every open finding', {}, ['e0', 'e3']],
  ['nodes', { nodes: ['node-b'] }, ['e3']],
  ['min_severity', { minSeverity: pb.Severity.SEVERITY_MEDIUM }, ['e3']],
  ['sources', { sources: [pb.Source.SOURCE_POSTURE] }, ['e0']],
  ['rule_ids by prefix', { ruleIds: ['cis-*'] }, ['e0']],
  ['namespaces', { namespaces: ['kube-system'] }, ['e3']],
  ['limit', { limit: 1 }, ['e3']],
];

for (const [name, req, want] of FINDING_FILTERS) {
  t.test(`Findings over the wire: ${name}`, async (t) => {
    const client = await sixServed(t);
    const r = await read(client.Findings(req));
    t.equal(r.error, undefined);
    t.same(titles(r), want);
  });
}

t.test('events come back byte for byte as stored', async (t) => {
  const { log } = tempLog(t, 'query');
  storeEvents(log, SIX);
  const { client } = await serve(t, log);
  const r = await read(client.Events({}));
  const stored = log.events().map((row) => row.body);
  t.same(r.events.map((e) => Buffer.from(pb.Event.encode(e).finish())), stored);
});

t.test('a large answer arrives whole through flow control', async (t) => {
  const { log } = tempLog(t, 'query');
  storeEvents(log, Array.from({ length: 5000 }, (_, i) => ({ title: `e${i}`, timeMs: T0 + i, padding: 2000 })));
  const { client } = await serve(t, log);
  const r = await read(client.Events({ limit: 10_000 }));
  t.equal(r.events.length, 5000);
  t.equal(r.events.at(-1)?.title, 'e4999');
});

t.test("a refused caller gets the authorizer's status and message, and no events", async (t) => {
  const { log } = tempLog(t, 'query');
  storeEvents(log, SIX);
  const { client } = await serve(t, log, async () => ({ ok: false, code: grpc.status.PERMISSION_DENIED, message: 'agents cannot read history' }));
  for (const r of [await read(client.Events({})), await read(client.Findings({}))]) {
    t.equal(r.error?.code, grpc.status.PERMISSION_DENIED);
    t.equal(r.error?.details, 'agents cannot read history');
    t.same(r.events, []);
  }
});

t.test('an unauthenticated caller gets UNAUTHENTICATED', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log, async () => ({ ok: false, code: grpc.status.UNAUTHENTICATED, message: 'no credential' }));
  t.equal((await read(client.Events({}))).error?.code, grpc.status.UNAUTHENTICATED);
});

t.test('an authorizer that throws gives INTERNAL, not a hung call', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log, async () => {
    throw new Error('identity layer broke');
  });
  t.equal((await read(client.Events({}))).error?.code, grpc.status.INTERNAL);
});

/** Send raw request bytes, as a broken or hostile client would. */
function rawCall(address: string, path: string, bytes: Buffer): Promise<{ events: Event[]; error?: grpc.ServiceError }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const stream = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => pb.Event.decode(b), bytes);
  return read(stream).finally(() => client.close());
}

const MALFORMED = Buffer.from([0x32, 0x10, 0x61]); // rule_ids: a 16-byte string with one byte present

t.test('a malformed Events request gets INVALID_ARGUMENT', async (t) => {
  const { log } = tempLog(t, 'query');
  const { address } = await serve(t, log);
  const r = await rawCall(address, '/nodewarden.v1.Query/Events', MALFORMED);
  t.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
  t.match(r.error?.details, /malformed EventsRequest/);
});

t.test('a malformed Findings request gets INVALID_ARGUMENT', async (t) => {
  const { log } = tempLog(t, 'query');
  const { address } = await serve(t, log);
  const r = await rawCall(address, '/nodewarden.v1.Query/Findings', MALFORMED);
  t.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
  t.match(r.error?.details, /malformed FindingsRequest/);
});

t.test('authorization comes before the request is read: a refused caller learns nothing about it', async (t) => {
  const { log } = tempLog(t, 'query');
  const { address } = await serve(t, log, async () => ({ ok: false, code: grpc.status.UNAUTHENTICATED, message: 'no credential' }));
  const r = await rawCall(address, '/nodewarden.v1.Query/Events', MALFORMED);
  t.equal(r.error?.code, grpc.status.UNAUTHENTICATED);
});

t.test('since after until gets INVALID_ARGUMENT naming the fields', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log);
  const r = await read(client.Events({ sinceUnixNano: nsLong(T0 + 1000), untilUnixNano: nsLong(T0) }));
  t.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
  t.match(r.error?.details, /since_unix_nano is after until_unix_nano/);
});

t.test('an unknown state gets INVALID_ARGUMENT', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log);
  const r = await read(client.Events({ state: 7 as nodewarden.v1.FindingState }));
  t.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
});

t.test('more than a thousand values in one filter gets INVALID_ARGUMENT', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log);
  const r = await read(client.Events({ nodes: Array.from({ length: 1001 }, (_, i) => `n${i}`) }));
  t.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
  t.match(r.error?.details, /nodes has 1001 values/);
});

t.test('a closed event log gives INTERNAL', async (t) => {
  const { log } = tempLog(t, 'query');
  const { client } = await serve(t, log);
  log.close();
  t.equal((await read(client.Events({}))).error?.code, grpc.status.INTERNAL);
});

t.test('dead letters come back with the sink, the reason and the time, newest first, per sink on request', async (t) => {
  const { log } = tempLog(t, 'query-dead');
  const rowids = storeEvents(log, SIX);
  const rows = log.query({ limit: 10 });
  log.deadLetter('elastic', [{ rowid: rowids[0]!, body: rows[0]!.body, reason: 'mapper_parsing_exception: [process.pid] failed to parse' }]);
  log.deadLetter('hook', [{ rowid: rowids[1]!, body: rows[1]!.body, reason: 'HTTP 400 Bad Request' }]);
  const { client } = await serve(t, log);
  const all = await read(client.Events({ deadLetter: true }));
  t.same(titles(all), ['e1', 'e0'], 'newest first');
  t.equal(all.events[1]!.attributes['dead_letter.sink'], 'elastic');
  t.match(all.events[1]!.attributes['dead_letter.reason'], /mapper_parsing_exception/);
  t.match(all.events[1]!.attributes['dead_letter.at'], /^\d{4}-\d\d-\d\dT/);
  const hook = await read(client.Events({ deadLetter: true, sink: 'hook' }));
  t.same(titles(hook), ['e1']);
});
