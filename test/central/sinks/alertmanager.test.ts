// The alertmanager sink against a real Prometheus Alertmanager: a finding fires and resolves
// through Alertmanager's own notifications, a detection fires for its TTL, an open finding that
// central keeps re-sending outlives resolve_timeout, and every instance of an HA pair gets every
// alert. Answers a real Alertmanager cannot be made to give (400, hangs) come from small servers.
import { testSinkContext } from '../../helpers/sink-context.js';
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { alertmanagerConfigSchema, alertmanagerSinkFactory } from '../../../central/sinks/alertmanager/factory.js';
import { readSecret } from '../../../central/sinks/secret.js';
import type { SendResult, SinkDriver, SinkEvent, SinkFilter } from '../../../central/sinks/sink.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { alertmanagerUnavailable, sinkEvent, startAlertmanager, type AlertmanagerProcess } from '../../helpers/alertmanager.js';
import { freePort, tempDir } from '../../helpers/pipeline.js';
import { tlsFixture } from '../../helpers/tls-fixture.js';

const pb = nodewarden.v1;
const OPEN = pb.FindingState.FINDING_STATE_OPEN;
const RESOLVED = pb.FindingState.FINDING_STATE_RESOLVED;

// Skips (or, in CI, fails) only the tests that need the real Alertmanager.
const skip = (await alertmanagerUnavailable()) ?? false;

interface DriverOptions {
  filter?: SinkFilter;
  timeoutMs?: number;
  openFindings?: () => SinkEvent[];
  registry?: Registry;
  [key: string]: unknown;
}

/** The sink's driver as central builds it, with a context that hands out `openFindings`. */
function driverFor(urls: string[], o: DriverOptions = {}): SinkDriver {
  const { filter = {}, timeoutMs = 5_000, openFindings = () => [], registry = new Registry(), ...own } = o;
  const parsed = alertmanagerConfigSchema.parse({ urls, ...own });
  const ctx = testSinkContext({
    name: 'oncall', registry, secret: (ref) => readSecret(ref), version: '0.0.0-test',
    openFindings: (min) => openFindings().filter((e) => e.event.severity >= min),
  });
  const config = {
    ...parsed, name: 'oncall', type: 'alertmanager', enabled: true, filter,
    batch: { maxEvents: 100 }, retry: { initialMs: 100, maxMs: 1_000 }, timeoutMs,
  };
  return alertmanagerSinkFactory.create(config, ctx) as SinkDriver;
}

const send = (d: SinkDriver, batch: SinkEvent[]): Promise<SendResult> => d.transport.send(batch, AbortSignal.timeout(10_000));

/** What the chain does on its timer: the open findings, every `everyMs`; returns the stopper. */
function resendPeriodically(d: SinkDriver): () => void {
  const timer = setInterval(() => void send(d, d.periodic!.events()), d.periodic!.everyMs);
  return () => clearInterval(timer);
}

const posture = (rowid: number, state: number, timeMs = Date.now()) => sinkEvent(rowid, {
  ruleId: 'cis-4.1.1', severity: pb.Severity.SEVERITY_HIGH, fingerprint: 'fp-kubelet-unit-mode', state, node: 'worker-1', timeMs,
  title: 'Kubelet service file permissions are too open',
}, { cisId: '4.1.1', remediation: 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf', evidence: 'mode 644' });

const exec = (rowid: number, timeMs = Date.now()) => sinkEvent(rowid, {
  source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', severity: pb.Severity.SEVERITY_CRITICAL,
  fingerprint: `fp-exec-${rowid}`, node: 'worker-2', timeMs, title: 'Shell started in a kube-system container',
}, { kubernetes: { namespace: 'kube-system', pod: 'coredns-5d78c9869d-abcde', container: 'coredns' } });

async function started(t: Test, opts: Parameters<typeof startAlertmanager>[0] = {}): Promise<AlertmanagerProcess> {
  const am = await startAlertmanager(opts);
  t.teardown(() => am.stop());
  return am;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ─── with a real Alertmanager ────────────────────────────────────────────────────────────────

t.test('a posture finding that opens and resolves gets Alertmanager\'s firing, then resolved notification', { skip }, async (t) => {
  const am = await started(t);
  const d = driverFor([am.url], { cluster: 'prod' });
  t.same(await send(d, [posture(1, OPEN)]), { kind: 'ok' });
  const firing = await am.notification('a firing notification', (n) => n.status === 'firing');
  t.same(firing.groupLabels, { alertname: 'cis-4.1.1', node: 'worker-1' }, 'grouped by rule and node');
  t.same(firing.alerts[0]!.labels, {
    alertname: 'cis-4.1.1', severity: 'high', node: 'worker-1', cluster: 'prod', cis_id: '4.1.1', source: 'posture', fingerprint: 'fp-kubelet-unit-mode',
  });
  t.match(firing.alerts[0]!.annotations, { summary: 'Kubelet service file permissions are too open', evidence: 'mode 644', remediation: /chmod 600/ });

  const resolvedAt = Date.now();
  t.same(await send(d, [posture(2, RESOLVED, resolvedAt)]), { kind: 'ok' });
  const resolved = await am.notification('a resolved notification', (n) => n.status === 'resolved');
  t.equal(resolved.alerts[0]!.status, 'resolved');
  t.same(resolved.alerts[0]!.labels, firing.alerts[0]!.labels, 'the same alert');
  t.equal(Date.parse(resolved.alerts[0]!.endsAt), resolvedAt, 'resolved at the resolution time');
  t.equal(resolved.alerts[0]!.startsAt, firing.alerts[0]!.startsAt, 'Alertmanager kept when it opened');
});

t.test('an exec detection fires, and ends its TTL after it happened', { skip }, async (t) => {
  const am = await started(t);
  const d = driverFor([am.url], { detectionTtlMs: 600_000 });
  const at = Date.now() - 2_000;
  t.same(await send(d, [exec(7, at)]), { kind: 'ok' });
  const firing = await am.notification('a firing notification', (n) => n.status === 'firing');
  const alert = firing.alerts[0]!;
  t.match(alert.labels, { alertname: 'exec-shell-in-container', severity: 'critical', node: 'worker-2', namespace: 'kube-system', pod: 'coredns-5d78c9869d-abcde', container: 'coredns', source: 'process' });
  // Webhooks show a firing alert's endsAt as zero: Alertmanager's API shows what it holds.
  const [held] = await am.alerts();
  t.equal(Date.parse(held!.startsAt), at);
  t.equal(Date.parse(held!.endsAt), at + 600_000);
});

t.test('an open finding that central keeps re-sending outlives resolve_timeout; without central it resolves', { skip }, async (t) => {
  const am = await started(t, { resolveTimeout: '2s' });
  const open = posture(1, OPEN);
  const d = driverFor([am.url], { resendIntervalMs: 1_000, openFindings: () => [open] });
  t.same(await send(d, [open]), { kind: 'ok' });
  await am.notification('a firing notification', (n) => n.status === 'firing');
  const stop = resendPeriodically(d);
  // Five resolve_timeouts, and twice the four re-send intervals an alert's endsAt lies ahead.
  await sleep(10_000);
  t.same(am.notifications.filter((n) => n.status === 'resolved'), [], 'never resolved while re-sent');
  const held = await am.alerts();
  t.equal(held.length, 1);
  t.equal(held[0]!.status.state, 'active');

  // Central goes away: the last endsAt passes and Alertmanager resolves the alert by itself.
  stop();
  const stoppedAt = Date.now();
  const resolved = await am.notification('Alertmanager resolving it on its own', (n) => n.status === 'resolved', 15_000);
  // The last re-send was at most one interval before the stop, and its endsAt four intervals on.
  const after = resolved.receivedAt - stoppedAt;
  t.ok(after >= 3 * 1_000, `not before the last endsAt (${after} ms)`);
  t.ok(after <= 4 * 1_000 + 5_000, `within four intervals and Alertmanager's group interval (${after} ms)`);
});

t.test('every Alertmanager of an HA pair gets every alert', { skip }, async (t) => {
  const [a, b] = await Promise.all([started(t), started(t)]);
  const d = driverFor([a.url, b.url]);
  t.same(await send(d, [posture(1, OPEN)]), { kind: 'ok' });
  for (const am of [a, b]) {
    await am.notification('a firing notification from each', (n) => n.status === 'firing');
    t.equal((await am.alerts()).length, 1);
  }
});

t.test('with one instance down the batch is delivered to the other, and the failure counted', { skip }, async (t) => {
  const am = await started(t);
  const registry = new Registry();
  const down = `http://127.0.0.1:${await freePort()}`;
  const d = driverFor([down, am.url], { registry });
  t.same(await send(d, [posture(1, OPEN)]), { kind: 'ok' });
  t.equal((await am.alerts()).length, 1);
  const failures = await registry.getSingleMetric('nodewarden_sink_alertmanager_instance_failures_total')!.get();
  t.same(failures.values.map((v) => [v.labels.instance, v.value]), [[down, 1]]);
});

t.test('an instance that hangs does not hold up a batch another instance took', { skip }, async (t) => {
  const am = await started(t);
  const hanging = await fakeAlertmanager(t, () => 'hang');
  const d = driverFor([hanging.url, am.url], { timeoutMs: 2_000 });
  const begun = Date.now();
  t.same(await send(d, [exec(3)]), { kind: 'ok' });
  t.ok(Date.now() - begun < 2_000, 'answered before the chain\'s timeout');
});

t.test('a re-send of an open finding made before its resolution does not fire it again', { skip }, async (t) => {
  const am = await started(t);
  const open = posture(1, OPEN);
  const d = driverFor([am.url]);
  await send(d, [open]);
  await am.notification('firing', (n) => n.status === 'firing');
  await send(d, [posture(5, RESOLVED)]);
  await am.notification('resolved', (n) => n.status === 'resolved');
  // The periodic snapshot taken while it was still open arrives late.
  t.same(await send(d, [open]), { kind: 'ok' });
  await sleep(2_500);
  t.equal(am.notifications.filter((n) => n.status === 'firing').length, 1, 'no second firing notification');
  t.same(await am.alerts(), [], 'nothing active');
});

// ─── answers a real Alertmanager does not give on demand ──────────────────────────────────────

type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';
interface Received { path: string; headers: http.IncomingHttpHeaders; body: unknown }

async function fakeAlertmanager(t: Test, answer: () => Answer, tls?: { cert: string; key: string }): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      const a = answer();
      if (a === 'hang') return;
      res.writeHead(a.status, a.headers).end(a.body ?? '');
    });
  };
  const server = tls ? https.createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handler) : http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

t.test('alerts are one JSON array posted to <url>/api/v2/alerts, path prefix kept, token sent', async (t) => {
  const fake = await fakeAlertmanager(t, () => ({ status: 200 }));
  const dir = tempDir('am-token');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const token = path.join(dir, 'token');
  writeFileSync(token, 'first\n');
  const d = driverFor([`${fake.url}/alertmanager/`], { auth: { bearer: { file: token } } });
  t.same(await send(d, [posture(1, OPEN), exec(2)]), { kind: 'ok' });
  writeFileSync(token, 'rotated\n');
  await send(d, [exec(3)]);
  t.equal(fake.received[0]!.path, '/alertmanager/api/v2/alerts');
  t.match(fake.received[0]!.headers, { 'content-type': 'application/json', authorization: 'Bearer first', 'user-agent': 'nodewarden/0.0.0-test' });
  t.equal((fake.received[0]!.body as unknown[]).length, 2);
  t.equal(fake.received[1]!.headers.authorization, 'Bearer rotated', 'the secret is read again on every send');
});

t.test('alerts every instance refuses (400) are permanent; a 400 from only one is not', async (t) => {
  const refusing = await fakeAlertmanager(t, () => ({ status: 400, body: '"start time must be before end time"' }));
  const refusing2 = await fakeAlertmanager(t, () => ({ status: 400 }));
  const broken = await fakeAlertmanager(t, () => ({ status: 500 }));
  const r = await send(driverFor([refusing.url, refusing2.url]), [exec(1)]);
  t.equal(r.kind, 'permanent');
  t.match(r, { reason: /answered 400: "start time must be before end time"/ });
  t.equal((await send(driverFor([refusing.url, broken.url]), [exec(1)])).kind, 'retry', 'the other may take it later');
});

t.test('an instance that is busy is retried after its Retry-After; with none up, the batch is retried', async (t) => {
  const busy = await fakeAlertmanager(t, () => ({ status: 503, headers: { 'retry-after': '7' } }));
  t.same(await send(driverFor([busy.url]), [exec(1)]), { kind: 'retry', reason: `${busy.url} answered 503`, afterMs: 7_000 });
  const down = `http://127.0.0.1:${await freePort()}`;
  const r = await send(driverFor([down]), [exec(1)]);
  t.equal(r.kind, 'retry');
  t.match(r, { reason: /ECONNREFUSED/ });
  t.notOk('afterMs' in r);
});

t.test('TLS: instances are checked against tls.ca', async (t) => {
  const fx = await tlsFixture();
  t.teardown(() => rmSync(fx.dir, { recursive: true, force: true }));
  const fake = await fakeAlertmanager(t, () => ({ status: 200 }), fx.server);
  t.same(await send(driverFor([fake.url], { tls: { ca: fx.ca } }), [exec(1)]), { kind: 'ok' });
  t.equal((await send(driverFor([fake.url]), [exec(1)])).kind, 'retry', 'an unknown CA is refused');
});

// ─── the periodic re-sends and the configuration ──────────────────────────────────────────────

t.test('the periodic re-sends are the open findings the sink\'s filter takes, every resendInterval', async (t) => {
  const high = posture(1, OPEN);
  const medium = sinkEvent(2, { severity: pb.Severity.SEVERITY_MEDIUM, state: OPEN });
  const runtime = sinkEvent(3, { source: pb.Source.SOURCE_RUNTIME, severity: pb.Severity.SEVERITY_CRITICAL, state: OPEN });
  const d = driverFor(['http://127.0.0.1:9'], { filter: { minSeverity: 'high', sources: ['posture'] }, resendIntervalMs: 30_000, openFindings: () => [high, medium, runtime] });
  t.equal(d.periodic!.everyMs, 30_000);
  t.same(d.periodic!.events().map((e) => e.rowid), [1]);
  t.equal(driverFor(['http://127.0.0.1:9']).periodic!.everyMs, 60_000, 'default 60 s');
});

t.test('configuration: defaults, and every refusal names its key', async (t) => {
  t.same(alertmanagerConfigSchema.parse({ urls: ['http://am:9093'] }), { urls: ['http://am:9093'], resendIntervalMs: 60_000, detectionTtlMs: 900_000 });
  const issues = (v: unknown) => {
    const r = alertmanagerConfigSchema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
  };
  t.same(issues({ urls: [] }), ['urls']);
  t.same(issues({ urls: ['ftp://am'] }), ['urls.0']);
  t.same(issues({ urls: ['http://a:9093', 'http://a:9093'] }), ['urls']);
  t.same(issues({ urls: ['http://a'], resendIntervalMs: 10 }), ['resendIntervalMs']);
  t.same(issues({ urls: ['http://a'], auth: { bearer: 'inline-token' } }), ['auth.bearer']);
  t.same(issues({ urls: ['http://a'], severity: 'high' }), ['']);
});

t.test('a tls.ca that cannot be read stops the sink at start', async (t) => {
  t.throws(() => driverFor(['https://a'], { tls: { ca: '/nonexistent/ca.crt' } }), { code: 'NW_ERR_CONFIG' });
});
