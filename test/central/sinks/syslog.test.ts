// The syslog sink against a real rsyslogd: what it receives is byte for byte what we formatted
// (over TCP and TLS), a receiver that is down or restarts costs a retry and a reconnect, and a
// certificate that fails verification is a retry that says why.
import { testSinkContext } from '../../helpers/sink-context.js';
import t, { type Test } from 'tap';
import net from 'node:net';
import Long from 'long';
import { nodewarden } from '../../../gen/nodewarden.js';
import { syslogConfigSchema, syslogSinkFactory, type SyslogConfig } from '../../../central/sinks/syslog/factory.js';
import { syslogMessage } from '../../../central/sinks/syslog/message.js';
import { SyslogTransport } from '../../../central/sinks/syslog/transport.js';
import { toCef } from '../../../central/formats/cef.js';
import type { CommonSinkConfig, SendResult, SinkContext, SinkEvent, Transport } from '../../../central/sinks/sink.js';
import { ensureRsyslog, startRsyslog } from '../../helpers/rsyslog.js';
import { tlsFixture } from '../../helpers/tls-fixture.js';
import { quietLogger, stablePort, waitFor } from '../../helpers/pipeline.js';

const pb = nodewarden.v1;
const VERSION = '0.1.0-test';

const plain = await ensureRsyslog();
const withTls = plain.ok ? await ensureRsyslog({ tls: true }) : plain;
const needsRsyslog = { skip: plain.ok ? false : plain.reason };
const needsTls = { skip: withTls.ok ? false : withTls.reason };
const rsyslogd = plain.ok ? plain.rsyslogd : '';

let seq = 0;
function sinkEvent(props: nodewarden.v1.Event.$Properties = {}): SinkEvent {
  seq++;
  const event = pb.Event.create({
    id: `worker-1-ab12cd34/${seq}`,
    agentId: 'worker-1-ab12cd34',
    sequence: Long.fromNumber(seq, true),
    node: 'worker-1',
    timeUnixNano: Long.fromNumber(Date.now(), false).mul(1_000_000),
    source: pb.Source.SOURCE_PROCESS,
    ruleId: 'exec-shell-in-container',
    severity: pb.Severity.SEVERITY_HIGH,
    title: `Shell started in a container (${seq})`,
    message: 'A shell ran in kube-system/coredns.',
    count: 1,
    ...props,
  });
  return { rowid: seq, event, bytes: Buffer.from(pb.Event.encode(event).finish()) };
}

/** An event whose every field tries to break the framing: CEF specials, newlines, non-ASCII. */
function hostileEvent(): SinkEvent {
  const nasty = 'pipe| equals= backslash\\ newline\n return\r tab\t ü 漢字 😀 end\\';
  return sinkEvent({
    ruleId: 'rule|with=odd\\chars',
    title: `title ${nasty}`,
    message: `message ${nasty}`,
    evidence: nasty,
    fingerprint: nasty,
    mitreTechniques: ['T1059.004'],
    process: { pid: 31337, uid: 1000, exe: '/tmp/x y', comm: 'x y', argv: ['/tmp/x y', '-e', 'a=b|c\\d\ne', 'ü'] },
    kubernetes: { namespace: 'kube-system', pod: 'pod=1|2', container: 'c\\d' },
    container: { name: 'c\\d', image: 'reg.example/img:1' },
  });
}

function context(): SinkContext {
  return testSinkContext({ name: 'siem', version: VERSION });
}

function common(): CommonSinkConfig {
  return { name: 'siem', type: 'syslog', enabled: true, filter: {}, batch: { maxEvents: 100 }, retry: { initialMs: 100, maxMs: 1000 }, timeoutMs: 5000 };
}

/** The sink's transport, built by its factory from raw config, closed when the test ends. */
function transportFor(t: Test, raw: Record<string, unknown>): { transport: Transport; config: SyslogConfig } {
  const config = syslogConfigSchema.parse(raw);
  const driver = syslogSinkFactory.create({ ...config, ...common() }, context());
  if (!('transport' in driver)) throw new Error('the syslog factory must build a network driver');
  t.teardown(() => driver.transport.close?.());
  return { transport: driver.transport, config };
}

const expected = (config: SyslogConfig, batch: SinkEvent[]): Buffer[] =>
  batch.map((e) => Buffer.from(syslogMessage(e, { facility: config.facility, appName: config.appName, version: VERSION, maxBytes: config.maxMessageBytes })));

const send = (tr: Transport, batch: SinkEvent[], timeoutMs = 5000): Promise<SendResult> => tr.send(batch, AbortSignal.timeout(timeoutMs));

t.test('rsyslog receives every message intact, byte for byte, CEF specials and non-ASCII included', needsRsyslog, async (t) => {
  const rs = await startRsyslog(t, { rsyslogd });
  const { transport, config } = transportFor(t, { address: `127.0.0.1:${rs.port}` });
  const hostile = hostileEvent();
  const batch = [sinkEvent(), hostile, sinkEvent({ severity: pb.Severity.SEVERITY_INFO, source: pb.Source.SOURCE_POSTURE })];
  t.same(await send(transport, batch), { kind: 'ok' });
  const lines = await rs.waitForLines(3);
  t.same(lines, expected(config, batch));
  const line = lines[1]!.toString('utf8');
  t.match(line, /^<83>1 \S+ worker-1 nodewarden - process - CEF:0\|nodewarden\|/, 'authpriv.err, the node as hostname, the source as MSGID');
  t.ok(line.endsWith(` ${toCef(hostile, { version: VERSION })}`), 'the message is the CEF of the event, whole');
});

t.test('a message at the 64 KiB bound arrives whole', needsRsyslog, async (t) => {
  const rs = await startRsyslog(t, { rsyslogd });
  const { transport, config } = transportFor(t, { address: `127.0.0.1:${rs.port}` });
  const huge = sinkEvent({ message: 'ü'.repeat(100_000), process: { pid: 1, exe: '/x', argv: Array.from({ length: 10_000 }, (_, i) => `--flag-${i}`) } });
  const small = sinkEvent();
  t.same(await send(transport, [huge, small]), { kind: 'ok' });
  const lines = await rs.waitForLines(2);
  t.ok(lines[0]!.length <= 64 * 1024 && lines[0]!.length > 60 * 1024, `${lines[0]!.length} bytes`);
  t.same(lines, expected(config, [huge, small]));
});

t.test('connection refused is a retry with the reason', async (t) => {
  const port = await stablePort();
  const { transport } = transportFor(t, { address: `127.0.0.1:${port}` });
  const r = await send(transport, [sinkEvent()]);
  t.equal(r.kind, 'retry');
  t.match((r as { reason: string }).reason, /127\.0\.0\.1:\d+ refused the connection \(ECONNREFUSED\)/);
});

t.test('while rsyslog is down sends are retries; after it restarts the next send reconnects and arrives', needsRsyslog, async (t) => {
  const rs = await startRsyslog(t, { rsyslogd });
  const { transport, config } = transportFor(t, { address: `127.0.0.1:${rs.port}` });
  const first = [sinkEvent()];
  t.same(await send(transport, first), { kind: 'ok' });
  await rs.waitForLines(1);

  await rs.stop();
  const down = await send(transport, [sinkEvent()]);
  t.equal(down.kind, 'retry', 'down: retry');
  t.match((down as { reason: string }).reason, /ECONNREFUSED/);

  await rs.start();
  const second = [sinkEvent(), sinkEvent()];
  t.same(await send(transport, second), { kind: 'ok' });
  const lines = await rs.waitForLines(3);
  t.same(lines, expected(config, [...first, ...second]));
});

t.test('a restart between two sends is noticed: the second goes over a new connection and arrives', needsRsyslog, async (t) => {
  const rs = await startRsyslog(t, { rsyslogd });
  const { transport, config } = transportFor(t, { address: `127.0.0.1:${rs.port}` });
  const first = [sinkEvent()];
  t.same(await send(transport, first), { kind: 'ok' });
  await rs.waitForLines(1);
  await rs.stop();
  await rs.start();
  const second = [sinkEvent()];
  t.same(await send(transport, second), { kind: 'ok' });
  t.same(await rs.waitForLines(2), expected(config, [...first, ...second]));
});

t.test('over TLS rsyslog receives every message intact when its certificate chains to tls.ca', needsTls, async (t) => {
  const fx = await tlsFixture();
  const rs = await startRsyslog(t, { rsyslogd, tls: { ca: fx.ca, cert: fx.server.cert, key: fx.server.key } });
  const { transport, config } = transportFor(t, { address: `127.0.0.1:${rs.port}`, transport: 'tls', tls: { ca: fx.ca } });
  const batch = [sinkEvent(), hostileEvent()];
  t.same(await send(transport, batch), { kind: 'ok' });
  t.same(await rs.waitForLines(2), expected(config, batch));

  // By name too: the certificate names localhost.
  const byName = transportFor(t, { address: `localhost:${rs.port}`, transport: 'tls', tls: { ca: fx.ca } });
  const more = [sinkEvent()];
  t.same(await send(byName.transport, more), { kind: 'ok' });
  t.same((await rs.waitForLines(3)).slice(2), expected(config, more));
});

t.test('a receiver certificate that fails verification is a retry that says so, and nothing is sent', needsTls, async (t) => {
  const fx = await tlsFixture();
  const rs = await startRsyslog(t, { rsyslogd, tls: { ca: fx.ca, cert: fx.server.cert, key: fx.server.key } });
  const untrusted = transportFor(t, { address: `127.0.0.1:${rs.port}`, transport: 'tls', tls: { ca: fx.ca2 } });
  const r1 = await send(untrusted.transport, [sinkEvent()]);
  t.equal(r1.kind, 'retry', 'the batch is fine, the channel is not');
  t.match((r1 as { reason: string }).reason, /TLS certificate of the syslog receiver at 127\.0\.0\.1:\d+ failed verification .*check tls\.ca and tls\.serverName/);

  const wrongName = transportFor(t, { address: `127.0.0.1:${rs.port}`, transport: 'tls', tls: { ca: fx.ca, serverName: 'siem.example' } });
  const r2 = await send(wrongName.transport, [sinkEvent()]);
  t.equal(r2.kind, 'retry');
  t.match((r2 as { reason: string }).reason, /failed verification \(ERR_TLS_CERT_ALTNAME_INVALID/);

  await new Promise((r) => setTimeout(r, 300));
  t.same(rs.lines(), [], 'rsyslog received nothing');
});

t.test('a send that does not finish before the timeout is a retry, and its connection is replaced', async (t) => {
  // A receiver that accepts and never reads: the kernel buffers fill and the write never flushes.
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.pause();
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    sockets.forEach((s) => s.destroy());
    return new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as net.AddressInfo).port;
  const probe = sinkEvent();
  const big = Buffer.alloc(1 << 20, 0x61);
  const transport = new SyslogTransport({ host: '127.0.0.1', port, frame: (e) => (e === probe ? Buffer.from('5 hello') : big), logger: quietLogger });
  t.teardown(() => transport.close());
  t.same(await send(transport, [probe]), { kind: 'ok' }, 'connected');
  const r = await send(transport, Array.from({ length: 48 }, () => sinkEvent()), 1500);
  t.equal(r.kind, 'retry');
  t.match((r as { reason: string }).reason, /did not finish before the timeout; the connection was closed/);
  // The stalled connection is given up (its stream may hold half a frame): the next send opens another.
  void send(transport, [probe], 1500);
  await waitFor('a second connection', () => sockets.length === 2);
  t.pass('the next send opened a new connection');
});

t.test('an event that cannot be formatted is rejected alone; the others are delivered', needsRsyslog, async (t) => {
  const rs = await startRsyslog(t, { rsyslogd });
  const bad = sinkEvent();
  const transport = new SyslogTransport({
    host: '127.0.0.1',
    port: rs.port,
    frame: (e) => {
      if (e === bad) throw new Error('boom');
      return Buffer.from(`5 hello`);
    },
    logger: quietLogger,
  });
  t.teardown(() => transport.close());
  const r = await send(transport, [sinkEvent(), bad, sinkEvent()]);
  t.same(r, { kind: 'items', items: [{ kind: 'ok' }, { kind: 'permanent', reason: 'the event could not be formatted as syslog: boom' }, { kind: 'ok' }] });
  t.same((await rs.waitForLines(2)).map(String), ['hello', 'hello']);
});

t.test('close is safe without a send and safe twice', async (t) => {
  const transport = new SyslogTransport({ host: '127.0.0.1', port: 9, frame: () => Buffer.alloc(0), logger: quietLogger });
  await transport.close();
  await transport.close();
  t.equal((await send(transport, [sinkEvent()])).kind, 'retry', 'a send after close is a retry');
});

t.test('config: defaults, and every mistake reported with its path', async (t) => {
  t.same(syslogConfigSchema.parse({ address: 'siem:514' }), {
    address: 'siem:514', transport: 'tcp', facility: 10, appName: 'nodewarden', maxMessageBytes: 65536, connectTimeoutMs: 10_000,
  });
  t.ok(syslogConfigSchema.safeParse({ address: '[::1]:6514', transport: 'tls', tls: { ca: '/ca.crt', serverName: 'siem' } }).success);
  const bad = syslogConfigSchema.safeParse({ address: 'siem', facility: 24, appName: 'no spaces', extra: 1 });
  t.notOk(bad.success);
  const paths = bad.error!.issues.map((i) => i.path.join('.')).sort();
  t.same(paths, ['', 'address', 'appName', 'facility']);
  const tlsMisuse = syslogConfigSchema.safeParse({ address: 'siem:514', tls: { ca: '/x', cert: '/c' } });
  t.same(tlsMisuse.error!.issues.map((i) => i.path.join('.')).sort(), ['tls', 'tls.cert']);
  t.notOk(syslogConfigSchema.safeParse({ address: 'siem:70000' }).success, 'a port past 65535');
});
