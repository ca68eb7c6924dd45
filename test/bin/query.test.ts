// `nodewarden events` and `nodewarden findings`: filter flags become request fields (unknown
// values refused with the accepted ones named), times parse as durations ago or RFC 3339, the
// three output formats, and central's refusals as one line with exit code 1.
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { filterRequest, parseSeverity, parseSource, parseState, parseTime } from '../../bin/event-filters.js';
import { eventsCommand, eventsRequest, findingsCommand, findingsRequest, renderEvents, renderFindings, type CommandIo, type EventsFlags } from '../../bin/query.js';
import { queryHandlers, type Verdict } from '../../central/query.js';
import { queryService, channelOptions } from '../../core/wire/services.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { quietLogger, freePort } from '../helpers/pipeline.js';
import { makeEvent, storeEvents, tempLog } from '../helpers/event-log-fixtures.js';

const pb = nodewarden.v1;
type Teardown = { teardown: (fn: () => unknown) => void };
const NOW = Date.parse('2025-05-01T12:00:00Z');
const nsOf = (ms: number): bigint => BigInt(ms) * 1_000_000n;

t.test('--severity names become their numbers', async (t) => {
  t.equal(parseSeverity('high'), pb.Severity.SEVERITY_HIGH);
  t.equal(parseSeverity('CRITICAL'), pb.Severity.SEVERITY_CRITICAL);
});

t.test('an unknown severity is refused naming the accepted ones', async (t) => {
  t.throws(() => parseSeverity('severe'), { code: 'NW_ERR_CONFIG', message: '--severity: unknown value "severe"; expected one of info, low, medium, high, critical' });
  t.throws(() => parseSeverity('unspecified'), { code: 'NW_ERR_CONFIG' }, 'the protobuf zero value is not a choice');
});

t.test('--source takes repeated flags and comma-separated lists', async (t) => {
  t.same(filterRequest({ source: ['posture,runtime', 'central'] }).sources, [pb.Source.SOURCE_POSTURE, pb.Source.SOURCE_RUNTIME, pb.Source.SOURCE_CENTRAL]);
});

t.test('an unknown source is refused naming the accepted ones', async (t) => {
  t.throws(() => parseSource('kernel'), { code: 'NW_ERR_CONFIG', message: /--source: unknown value "kernel"; expected one of posture, runtime, process, agent, kube, central/ });
});

t.test('--state takes open or resolved', async (t) => {
  t.equal(parseState('open'), pb.FindingState.FINDING_STATE_OPEN);
  t.equal(parseState('resolved'), pb.FindingState.FINDING_STATE_RESOLVED);
  t.throws(() => parseState('closed'), { message: /expected one of open, resolved/ });
});

t.test('no filter flags mean no filters', async (t) => {
  t.same(filterRequest({}), { nodes: [], minSeverity: 0, sources: [], ruleIds: [], namespaces: [] });
});

t.test('node, rule and namespace lists are split on commas and trimmed', async (t) => {
  t.same(filterRequest({ node: ['a, b', 'c'], rule: ['cis-*,exec-shell-in-container'], namespace: ['kube-system'] }),
    { nodes: ['a', 'b', 'c'], minSeverity: 0, sources: [], ruleIds: ['cis-*', 'exec-shell-in-container'], namespaces: ['kube-system'] });
});

t.test('a time given as a duration is that long before now', async (t) => {
  t.equal(parseTime('1h', '--since', NOW), nsOf(NOW - 3_600_000));
  t.equal(parseTime('1h30m', '--since', NOW), nsOf(NOW - 5_400_000));
});

t.test('an RFC 3339 time keeps its offset and its fraction to the nanosecond', async (t) => {
  t.equal(parseTime('2025-05-01T10:00:00Z', '--since'), nsOf(Date.parse('2025-05-01T10:00:00Z')));
  t.equal(parseTime('2025-05-01T12:00:00+02:00', '--since'), nsOf(Date.parse('2025-05-01T10:00:00Z')));
  t.equal(parseTime('2025-05-01T10:00:00.123456789Z', '--since'), nsOf(Date.parse('2025-05-01T10:00:00Z')) + 123_456_789n);
});

t.test('a time that is neither is refused with examples', async (t) => {
  t.throws(() => parseTime('yesterday', '--until'), { code: 'NW_ERR_CONFIG', message: /^--until: "yesterday" is neither a duration ago .* nor an RFC 3339 time/ });
  t.throws(() => parseTime('2025-05-01', '--since'), { code: 'NW_ERR_CONFIG' }, 'a date alone is not a time');
});

const flags = (f: Partial<EventsFlags> = {}): EventsFlags => ({ output: 'table', ...f });

t.test('events flags become an EventsRequest', async (t) => {
  const req = eventsRequest(flags({ since: '2h', until: '1h', node: ['n1'], severity: 'high', state: 'open', limit: '50' }), NOW);
  t.same(
    { ...req, sinceUnixNano: String(req.sinceUnixNano), untilUnixNano: String(req.untilUnixNano) },
    { nodes: ['n1'], minSeverity: pb.Severity.SEVERITY_HIGH, sources: [], ruleIds: [], namespaces: [], state: pb.FindingState.FINDING_STATE_OPEN, limit: 50,
      sinceUnixNano: String(nsOf(NOW - 7_200_000)), untilUnixNano: String(nsOf(NOW - 3_600_000)) },
  );
});

t.test('--since later than --until is refused before anything is sent', async (t) => {
  t.throws(() => eventsRequest(flags({ since: '1h', until: '2h' }), NOW), { code: 'NW_ERR_CONFIG', message: /--since 1h is later than --until 2h/ });
});

t.test('--limit must be a whole number from 1 to 10,000', async (t) => {
  for (const limit of ['0', '10001', 'many', '2.5']) t.throws(() => findingsRequest({ output: 'table', limit }), { message: /--limit: expected a whole number from 1 to 10000/ }, limit);
  t.equal(findingsRequest({ output: 'table', limit: '10000' }).limit, 10_000);
});

const ev = (seq: number, node: string, severity: number, title: string) =>
  makeEvent('a', seq, { node, severity, title, timeMs: NOW + seq, state: pb.FindingState.FINDING_STATE_OPEN }).event;
const SAMPLE = [ev(1, 'node-b', pb.Severity.SEVERITY_LOW, 'low on b'), ev(2, 'node-a', pb.Severity.SEVERITY_MEDIUM, 'medium on a'), ev(3, 'node-a', pb.Severity.SEVERITY_CRITICAL, 'critical on a')];

t.test('table output is one readable block per event', async (t) => {
  const out = renderEvents(SAMPLE, 'table');
  t.match(out, /^2025-05-01T12:00:00\.001Z LOW +open +\[cis-4\.1\.1\] low on b\n/);
  t.equal(out.split('\n').filter((l) => /^\d{4}-/.test(l)).length, 3);
});

t.test('json output is one array in the protobuf JSON mapping', async (t) => {
  const parsed = JSON.parse(renderEvents(SAMPLE, 'json')) as { title: string; severity: string; sequence: string }[];
  t.same(parsed.map((e) => e.title), ['low on b', 'medium on a', 'critical on a']);
  t.equal(parsed[0]!.severity, 'SEVERITY_LOW');
  t.equal(parsed[0]!.sequence, '1', '64-bit integers as strings');
});

t.test('jsonl output is one object a line', async (t) => {
  const lines = renderEvents(SAMPLE, 'jsonl').trimEnd().split('\n');
  t.same(lines.map((l) => (JSON.parse(l) as { title: string }).title), ['low on b', 'medium on a', 'critical on a']);
});

t.test('no events: the table says so, json is an empty array, jsonl is empty', async (t) => {
  t.equal(renderEvents([], 'table'), 'No stored events match.\n');
  t.same(JSON.parse(renderEvents([], 'json')), []);
  t.equal(renderEvents([], 'jsonl'), '');
  t.equal(renderFindings([], 'table'), 'No open findings.\n');
});

t.test('the findings table groups per node, by name, with a count, most severe first', async (t) => {
  const out = renderFindings(SAMPLE, 'table');
  const heads = out.split('\n').filter((l) => /^\S/.test(l));
  t.same(heads, ['node-a: 2 open findings', 'node-b: 1 open finding', '3 open findings on 2 nodes.']);
  t.ok(out.indexOf('critical on a') < out.indexOf('medium on a'));
  t.match(out, /\n {2}2025-05-01T12:00:00\.003Z CRITICAL/, 'events indented under their node');
});

// ---- the commands against a real Query server ----

function captureIo(): CommandIo & { out: string; err: string; code: number | undefined } {
  const io = {
    out: '',
    err: '',
    code: undefined as number | undefined,
    stdout: { write: (s: string) => (io.out += s) },
    stderr: { write: (s: string) => (io.err += s) },
    setExitCode: (c: number) => (io.code = c),
  };
  return io;
}

async function queryServer(t: Teardown, authorize: () => Promise<Verdict> = async () => ({ ok: true })): Promise<string> {
  const { log } = tempLog(t, 'cli');
  storeEvents(log, SAMPLE.map((e) => ({ node: e.node, severity: e.severity, title: e.title, timeMs: NOW, state: pb.FindingState.FINDING_STATE_OPEN, fingerprint: e.title })));
  const server = new grpc.Server(channelOptions);
  server.addService(queryService, queryHandlers({ log, authorize, logger: quietLogger }));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

const plaintext = (address: string) => () => ({ address, credentials: grpc.credentials.createInsecure(), options: channelOptions });

t.test('nodewarden events -o jsonl prints the matching stored events', async (t) => {
  const address = await queryServer(t);
  const io = captureIo();
  await eventsCommand(plaintext(address), io).parseAsync(['--node', 'node-a', '-o', 'jsonl', '--insecure'], { from: 'user' });
  t.same(io.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { title: string }).title), ['medium on a', 'critical on a']);
  t.equal(io.code, undefined);
  t.equal(io.err, '');
});

t.test('nodewarden findings prints the open findings per node', async (t) => {
  const address = await queryServer(t);
  const io = captureIo();
  await findingsCommand(plaintext(address), io).parseAsync(['--severity', 'medium', '--insecure'], { from: 'user' });
  t.match(io.out, /^node-a: 2 open findings\n/);
  t.match(io.out, /2 open findings on 1 node\.\n$/);
});

t.test("central's refusal is one line on stderr and exit code 1", async (t) => {
  const address = await queryServer(t, async () => ({ ok: false, code: grpc.status.PERMISSION_DENIED, message: 'agent certificates cannot read history' }));
  const io = captureIo();
  await eventsCommand(plaintext(address), io).parseAsync(['--insecure'], { from: 'user' });
  t.equal(io.err, 'nodewarden events: central refused to serve this credential: agent certificates cannot read history\n');
  t.equal(io.code, 1);
  t.equal(io.out, '');
});

t.test('an unreachable central is one line on stderr and exit code 1', async (t) => {
  const address = `127.0.0.1:${await freePort()}`;
  const io = captureIo();
  await findingsCommand(plaintext(address), io).parseAsync(['--insecure', '--central', address], { from: 'user' });
  t.match(io.err, new RegExp(`^nodewarden findings: central at ${address} did not answer in plaintext .*\\n$`));
  t.equal(io.err.split('\n').length, 2, 'one line');
  t.equal(io.code, 1);
});

t.test('a bad flag throws before anything is sent', async (t) => {
  let connected = false;
  const io = captureIo();
  const connect = () => {
    connected = true;
    return { address: '127.0.0.1:1', credentials: grpc.credentials.createInsecure(), options: {} };
  };
  await t.rejects(eventsCommand(connect, io).parseAsync(['--source', 'kernel'], { from: 'user' }), { code: 'NW_ERR_CONFIG' });
  t.notOk(connected);
});

