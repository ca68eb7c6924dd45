// An event as an Alertmanager alert: labels that name the finding (the same when it opens and
// when it resolves), annotations for people, and endsAt carrying the state.
import t from 'tap';
import { OPEN_HORIZON_INTERVALS, toAlert } from '../../../central/formats/alert.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { sinkEvent } from '../../helpers/alertmanager.js';

const pb = nodewarden.v1;
const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const RESEND = 60_000;
const TTL = 900_000;
const opts = { now: NOW, resendIntervalMs: RESEND, detectionTtlMs: TTL };
const iso = (ms: number) => new Date(ms).toISOString();

const context = {
  cisId: '5.2.1',
  cluster: 'prod',
  remediation: 'Run the container without privileged: true.',
  evidence: 'securityContext.privileged=true',
  kubernetes: { namespace: 'kube-system', pod: 'kube-proxy-x7k2', container: 'kube-proxy' },
};
const finding = (rowid: number, state: number, timeMs: number) => sinkEvent(rowid, {
  source: pb.Source.SOURCE_RUNTIME, ruleId: 'runtime-privileged', severity: pb.Severity.SEVERITY_HIGH,
  fingerprint: 'fp-privileged-kube-proxy', state, timeMs, node: 'worker-1', title: 'Privileged container',
}, context);

t.test('a finding has the same labels when it opens and when it resolves', async (t) => {
  const opened = toAlert(finding(1, pb.FindingState.FINDING_STATE_OPEN, NOW - 600_000), opts);
  const resolved = toAlert(finding(9, pb.FindingState.FINDING_STATE_RESOLVED, NOW - 1_000), { ...opts, now: NOW + 5_000 });
  t.same(resolved.labels, opened.labels);
});

t.test('labels name the rule, severity, node, object, CIS id, source, cluster and finding', async (t) => {
  const alert = toAlert(finding(1, pb.FindingState.FINDING_STATE_OPEN, NOW), opts);
  t.same(alert.labels, {
    alertname: 'runtime-privileged',
    severity: 'high',
    node: 'worker-1',
    cluster: 'prod',
    namespace: 'kube-system',
    pod: 'kube-proxy-x7k2',
    container: 'kube-proxy',
    cis_id: '5.2.1',
    source: 'runtime',
    fingerprint: 'fp-privileged-kube-proxy',
  });
});

t.test('empty fields give no label', async (t) => {
  const alert = toAlert(sinkEvent(1, { ruleId: 'cis-4.1.1', node: 'worker-1', fingerprint: 'fp' }), opts);
  t.same(Object.keys(alert.labels).sort(), ['alertname', 'fingerprint', 'node', 'severity', 'source']);
});

t.test('the sink\'s cluster names alerts whose event names none; an event\'s own cluster wins', async (t) => {
  t.equal(toAlert(sinkEvent(1, {}), { ...opts, cluster: 'eu-1' }).labels.cluster, 'eu-1');
  t.equal(toAlert(sinkEvent(1, {}, { cluster: 'us-2' }), { ...opts, cluster: 'eu-1' }).labels.cluster, 'us-2');
});

t.test('every severity is named as Alertmanager routes match it', async (t) => {
  const names = [1, 2, 3, 4, 5].map((severity) => toAlert(sinkEvent(1, { severity }), opts).labels.severity);
  t.same(names, ['info', 'low', 'medium', 'high', 'critical']);
});

t.test('annotations carry summary, description, remediation and evidence', async (t) => {
  const alert = toAlert(finding(1, pb.FindingState.FINDING_STATE_OPEN, NOW), opts);
  t.same(alert.annotations, {
    summary: 'Privileged container',
    description: 'm',
    remediation: context.remediation,
    evidence: context.evidence,
  });
});

t.test('huge evidence is cut to a size a page can hold, and says so', async (t) => {
  const alert = toAlert(sinkEvent(1, { padding: 100_000 }), opts);
  t.equal(alert.annotations.evidence!.length, 4096);
  t.ok(alert.annotations.evidence!.endsWith('…'));
});

t.test('an open finding starts when it opened and ends four re-send intervals from now', async (t) => {
  const openedAt = NOW - 3_600_000;
  const alert = toAlert(finding(1, pb.FindingState.FINDING_STATE_OPEN, openedAt), opts);
  t.equal(OPEN_HORIZON_INTERVALS, 4);
  t.equal(alert.startsAt, iso(openedAt));
  t.equal(alert.endsAt, iso(NOW + 4 * RESEND));
});

t.test('a resolved finding ends at its resolution time, at once', async (t) => {
  const resolvedAt = NOW - 2_000;
  const alert = toAlert(finding(2, pb.FindingState.FINDING_STATE_RESOLVED, resolvedAt), opts);
  t.equal(alert.endsAt, iso(resolvedAt));
  t.ok(Date.parse(alert.startsAt) <= Date.parse(alert.endsAt));
});

t.test('an agent clock ahead of central never makes an alert end before it starts or resolve late', async (t) => {
  const ahead = NOW + 600_000;
  const opened = toAlert(finding(1, pb.FindingState.FINDING_STATE_OPEN, ahead + 3_600_000), opts);
  t.ok(Date.parse(opened.startsAt) <= Date.parse(opened.endsAt));
  const resolved = toAlert(finding(2, pb.FindingState.FINDING_STATE_RESOLVED, ahead), opts);
  t.equal(resolved.endsAt, iso(NOW), 'resolved now, not ten minutes from now');
});

t.test('a detection fires for detectionTtl after it happened', async (t) => {
  const at = NOW - 1_000;
  const alert = toAlert(sinkEvent(1, { source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', timeMs: at }), opts);
  t.equal(alert.startsAt, iso(at));
  t.equal(alert.endsAt, iso(at + TTL));
});

t.test('a detection delivered after its TTL still fires for a while instead of arriving resolved', async (t) => {
  const at = NOW - 2 * TTL;
  const alert = toAlert(sinkEvent(1, { source: pb.Source.SOURCE_PROCESS, timeMs: at }), opts);
  t.equal(alert.startsAt, iso(at));
  t.equal(alert.endsAt, iso(NOW + 4 * RESEND));
  const short = toAlert(sinkEvent(1, { source: pb.Source.SOURCE_PROCESS, timeMs: at }), { ...opts, detectionTtlMs: 30_000 });
  t.equal(short.endsAt, iso(NOW + 30_000), 'never longer than the TTL from now');
});

t.test('generatorURL only when one is given', async (t) => {
  t.notOk('generatorURL' in toAlert(sinkEvent(1, {}), opts));
  t.equal(toAlert(sinkEvent(1, {}), { ...opts, generatorUrl: 'https://nw.example/findings' }).generatorURL, 'https://nw.example/findings');
});
