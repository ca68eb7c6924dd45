// Every kind of nodewarden event becomes an OCSF 1.8.0 document that the schema snapshot accepts,
// with each fact where OCSF puts it; and the validator the tests rely on does catch bad documents.
import t, { type Test } from 'tap';
import Long from 'long';
import { nodewarden } from '../../../gen/nodewarden.js';
import { toOcsf } from '../../../central/formats/ocsf.js';
import type { SinkEvent } from '../../../central/sinks/sink.js';
import type { HostFacts } from '../../../core/host-facts.js';
import { loadOcsfSchema, validateOcsf } from '../../helpers/ocsf-validate.js';

const pb = nodewarden.v1;
const schema = loadOcsfSchema();
const T0 = 1_767_225_600_123; // 2026-01-01T00:00:00.123Z

const host: HostFacts = {
  hostname: 'worker-1.example.internal',
  os: { name: 'Debian GNU/Linux', version: '12', family: 'debian', platform: 'linux' },
  kernel: '6.1.0-18-amd64',
  architecture: 'x86_64',
  bootTime: T0 - 86_400_000,
  containerRuntime: 'containerd 1.7.24',
};

function sinkEvent(props: nodewarden.v1.IEvent, withHost?: HostFacts): SinkEvent {
  const event = pb.Event.create(props);
  const bytes = Buffer.from(pb.Event.encode(event).finish());
  // Decoded again, as sinks see stored events (64-bit fields as Long).
  return { rowid: 1, event: pb.Event.decode(bytes), bytes, host: withHost };
}

const envelope = (seq: number): nodewarden.v1.IEvent => ({
  id: `worker-1-ab12/${seq}`,
  agentId: 'worker-1-ab12',
  sequence: Long.fromNumber(seq, true),
  node: 'worker-1',
  timeUnixNano: Long.fromNumber(T0).multiply(1_000_000).add(456_789),
  cluster: 'prod',
  agentVersion: '0.1.0',
  count: 1,
});

const execDetection = (): SinkEvent => sinkEvent({
  ...envelope(7),
  source: pb.Source.SOURCE_PROCESS,
  ruleId: 'exec-shell-in-container',
  severity: pb.Severity.SEVERITY_HIGH,
  title: 'Shell started in a container',
  message: 'A shell (/bin/sh) started in kube-system/coredns-abc/coredns.',
  fingerprint: 'process:exec-shell-in-container:kube-system/coredns-abc/coredns:/bin/sh',
  tags: ['process', 'audit'],
  mitreTechniques: ['T1059.004', 'T1609'],
  evidence: 'exe=/bin/sh argv=sh -c id',
  remediation: 'Find out who ran the shell; remove shells from the image.',
  attributes: { repeatOf: 'x' },
  process: {
    pid: 4242, ppid: 4200, uid: 0, euid: 0, gid: 0, egid: 0, auid: 4294967295,
    exe: '/bin/sh', comm: 'sh', argv: ['sh', '-c', "echo 'hi there'"], argvTruncated: false, cwd: '/',
    startTimeUnixNano: Long.fromNumber(T0 - 5).multiply(1_000_000),
    ancestors: [
      { pid: 4200, exe: '/usr/bin/runc', comm: 'runc', argv: ['runc', 'exec', '-t', 'abc'] },
      { pid: 4100, exe: '/usr/bin/containerd-shim-runc-v2', comm: 'containerd-shim', argv: ['containerd-shim-runc-v2', '-namespace', 'k8s.io'] },
    ],
    capture: 'audit',
  },
  container: { id: 'c0ffee1234567890', name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.1', imageDigest: 'sha256:abcdef', runtime: 'containerd', state: 'running', pid: 4000, privileged: false, sandboxId: 'sb1' },
  kubernetes: { namespace: 'kube-system', pod: 'coredns-abc', podUid: '3f0e2b1c-9a4d-4e5f-8a6b-7c8d9e0f1a2b', container: 'coredns' },
}, host);

const posture = (state: number, seq: number): SinkEvent => sinkEvent({
  ...envelope(seq),
  source: pb.Source.SOURCE_POSTURE,
  ruleId: 'cis-4.1.1',
  severity: pb.Severity.SEVERITY_MEDIUM,
  title: 'Ensure that the kubelet service file permissions are set to 600 or more restrictive',
  message: 'The kubelet service file is 0644; expected 600 or more restrictive.',
  fingerprint: 'posture:4.1.1:/etc/systemd/system/kubelet.service.d/10-kubeadm.conf',
  state,
  tags: ['posture', 'kubelet', 'cis', 'status:fail'],
  cisId: '4.1.1',
  evidence: 'mode 0644',
  expected: '600 or more restrictive',
  remediation: 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf',
  file: { path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', mode: 0o644, uid: 0, gid: 0, exists: true, kind: 'file' },
}, host);

const runtimeFinding = (): SinkEvent => sinkEvent({
  ...envelope(9),
  source: pb.Source.SOURCE_RUNTIME,
  ruleId: 'runtime-privileged',
  severity: pb.Severity.SEVERITY_HIGH,
  title: 'Privileged container',
  message: 'kube-system/kube-proxy-x/kube-proxy runs privileged.',
  fingerprint: 'runtime:privileged:worker-1:kube-system/kube-proxy-x/kube-proxy',
  state: pb.FindingState.FINDING_STATE_OPEN,
  tags: ['container'],
  evidence: 'privileged: true',
  expected: 'privileged: false',
  attributes: { node: 'worker-1' },
  container: { id: 'feedface', name: 'kube-proxy', image: 'registry.k8s.io/kube-proxy:v1.30.0', imageDigest: '', privileged: true, state: 'CONTAINER_RUNNING' },
  kubernetes: { namespace: 'kube-system', pod: 'kube-proxy-x', podUid: 'not-a-uuid', container: 'kube-proxy' },
});

const agentEvent = (): SinkEvent => sinkEvent({
  ...envelope(10),
  source: pb.Source.SOURCE_AGENT,
  ruleId: 'agent-events-dropped',
  severity: pb.Severity.SEVERITY_HIGH,
  title: 'Events dropped',
  message: 'The spool reached its cap; events 100-200 were dropped.',
  fingerprint: 'agent:agent-events-dropped:worker-1',
  evidence: 'sequences 100-200',
  attributes: { from: '100', to: '200' },
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read deep into documents
type Doc = Record<string, any>;
const ocsf = (e: SinkEvent): Doc => JSON.parse(JSON.stringify(toOcsf(e, { version: '9.9.9' }))) as Doc;

function valid(t: Test, doc: Doc): void {
  t.same(validateOcsf(doc, schema), [], 'the OCSF 1.8.0 snapshot accepts it');
}

t.test('an exec detection is a Detection Finding with the process, its parents, the container and the pod', async (t) => {
  const doc = ocsf(execDetection());
  valid(t, doc);
  t.match(doc, { class_uid: 2004, category_uid: 2, activity_id: 1, type_uid: 200401, severity_id: 4, status_id: 1, time: T0, is_alert: true });
  t.equal(doc.finding_info.uid, 'worker-1-ab12/7', 'a one-off detection is its own finding');
  t.match(doc.finding_info, { title: 'Shell started in a container', analytic: { uid: 'exec-shell-in-container', type_id: 1 }, types: ['Process Execution'] });
  t.same(doc.finding_info.attacks, [
    { technique: { uid: 'T1059', src_url: 'https://attack.mitre.org/techniques/T1059/' }, sub_technique: { uid: 'T1059.004', src_url: 'https://attack.mitre.org/techniques/T1059/004/' } },
    { technique: { uid: 'T1609', src_url: 'https://attack.mitre.org/techniques/T1609/' } },
  ]);
  const p = doc.evidences[0].process;
  t.match(p, { pid: 4242, name: 'sh', cmd_line: `sh -c 'echo '\\''hi there'\\'''`, file: { path: '/bin/sh', name: 'sh' }, user: { uid: '0' }, working_directory: '/', created_time: T0 - 5 });
  t.notOk('auid' in p, 'an unset audit uid is left out');
  t.equal(p.parent_process.pid, 4200);
  t.equal(p.parent_process.cmd_line, 'runc exec -t abc');
  t.equal(p.parent_process.parent_process.pid, 4100);
  t.notOk(p.parent_process.parent_process.parent_process, 'the chain ends with the last ancestor');
  t.match(p.container, { uid: 'c0ffee1234567890', name: 'coredns', image: { uid: 'sha256:abcdef', name: 'registry.k8s.io/coredns/coredns:v1.11.1' }, orchestrator: 'Kubernetes', pod_uuid: '3f0e2b1c-9a4d-4e5f-8a6b-7c8d9e0f1a2b' });
  t.same(doc.evidences[0].container, p.container);
  t.same(doc.resources, [{ type: 'Kubernetes Pod', name: 'coredns-abc', namespace: 'kube-system', uid: '3f0e2b1c-9a4d-4e5f-8a6b-7c8d9e0f1a2b', role_id: 3, role: 'Affected' }]);
  t.match(doc.metadata, {
    version: '1.8.0', uid: 'worker-1-ab12/7', event_code: 'exec-shell-in-container', log_name: 'process',
    product: { name: 'nodewarden', vendor_name: 'nodewarden', version: '9.9.9' },
    profiles: ['container', 'host', 'linux/linux_users'], labels: ['process', 'audit'], tags: [{ name: 'repeatOf', value: 'x' }],
  });
  t.match(doc.device, { hostname: 'worker-1.example.internal', name: 'worker-1', type_id: 1, os: { name: 'Debian GNU/Linux', type_id: 200, version: '12', kernel_release: '6.1.0-18-amd64' }, hw_info: { cpu_architecture_id: 1, cpu_bits: 64 } });
  t.match(doc.device.agent_list, [{ uid: 'worker-1-ab12', version: '0.1.0' }]);
  t.same(doc.unmapped, { cluster: 'prod' });
  t.equal(doc.remediation.desc, 'Find out who ran the shell; remove shells from the image.');
});

t.test('an open posture finding is a failed CIS control in a Compliance Finding', async (t) => {
  const doc = ocsf(posture(pb.FindingState.FINDING_STATE_OPEN, 11));
  valid(t, doc);
  t.match(doc, { class_uid: 2003, activity_id: 1, type_uid: 200301, status_id: 1, severity_id: 3 });
  t.match(doc.compliance, { control: '4.1.1', standards: ['CIS Kubernetes Benchmark'], status_id: 3, status: 'Fail', desc: '600 or more restrictive', status_details: ['mode 0644'] });
  t.match(doc.compliance.checks, [{ uid: 'cis-4.1.1', status_id: 3, severity_id: 3, standards: ['CIS Kubernetes Benchmark'] }]);
  t.match(doc.evidences[0], { file: { path: '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', name: '10-kubeadm.conf', type_id: 1, owner: { uid: '0' } }, data: { file_mode: '0644', file_exists: true } });
  t.same(doc.resources, [{ type: 'Kubernetes Node', name: 'worker-1', role_id: 1, role: 'Target' }]);
  t.equal(doc.remediation.desc, 'chmod 600 /etc/systemd/system/kubelet.service.d/10-kubeadm.conf');
  t.equal(doc.metadata.profiles.includes('container'), false, 'no container profile without a container');
});

t.test('a resolved posture finding closes the finding it opened and passes the control', async (t) => {
  const open = ocsf(posture(pb.FindingState.FINDING_STATE_OPEN, 11));
  const doc = ocsf(posture(pb.FindingState.FINDING_STATE_RESOLVED, 12));
  valid(t, doc);
  t.match(doc, { class_uid: 2003, activity_id: 3, activity_name: 'Close', type_uid: 200303, status_id: 4, status: 'Resolved' });
  t.match(doc.compliance, { status_id: 1, status: 'Pass' });
  t.equal(doc.finding_info.uid, open.finding_info.uid, 'open and resolved share the finding uid');
  t.equal(doc.finding_info.uid_alt, 'worker-1-ab12/12', 'the event id stays reachable');
  t.equal(doc.metadata.uid, 'worker-1-ab12/12');
  t.equal(doc.metadata.correlation_uid, open.metadata.correlation_uid);
});

t.test('a runtime finding carries its container and pod in a Compliance Finding', async (t) => {
  const doc = ocsf(runtimeFinding());
  valid(t, doc);
  t.match(doc.compliance, { control: 'runtime-privileged', status_id: 3 });
  t.notOk(doc.compliance.standards, 'no CIS standard claimed without a CIS id');
  t.match(doc.evidences[0], { container: { uid: 'feedface', name: 'kube-proxy', image: { uid: 'registry.k8s.io/kube-proxy:v1.30.0' } }, data: { privileged: true } });
  t.notOk(doc.evidences[0].container.pod_uuid, 'a pod uid that is not a UUID stays out of pod_uuid');
  t.match(doc.resources, [{ type: 'Kubernetes Pod', name: 'kube-proxy-x', namespace: 'kube-system', uid: 'not-a-uuid' }]);
  t.notOk(doc.device.os, 'no host facts, no os');
});

t.test('an agent report is a Compliance Finding with a warning status', async (t) => {
  const doc = ocsf(agentEvent());
  valid(t, doc);
  t.match(doc, { class_uid: 2003, compliance: { control: 'agent-events-dropped', status_id: 2, status: 'Warning', status_details: ['sequences 100-200'] } });
  t.same(doc.metadata.tags, [{ name: 'from', value: '100' }, { name: 'to', value: '200' }]);
});

t.test('a posture check that could not be evaluated is an Other status with its caption', async (t) => {
  const e = posture(pb.FindingState.FINDING_STATE_OPEN, 13);
  e.event.tags = ['posture', 'status:error'];
  const doc = ocsf(e);
  valid(t, doc);
  t.match(doc.compliance, { status_id: 99, status: 'Error' });
});

t.test('events of every source and severity, and one with no fields at all, are valid', async (t) => {
  for (const source of Object.values(pb.Source).filter((v): v is number => typeof v === 'number')) {
    for (const severity of [0, 1, 2, 3, 4, 5]) {
      for (const state of [0, 1, 2]) {
        // Bare, with a bare container, and with only a Kubernetes context.
        const variants: nodewarden.v1.IEvent[] = [{}, { container: { id: 'c1' } }, { kubernetes: { namespace: 'ns', pod: 'p', container: 'c' } }];
        for (const [i, extra] of variants.entries()) {
          const errors = validateOcsf(ocsf(sinkEvent({ source, severity, state, ...extra })), schema);
          if (errors.length > 0) t.fail(`source ${source} severity ${severity} state ${state} variant ${i}: ${errors.join('; ')}`);
        }
      }
    }
  }
  const empty = ocsf(sinkEvent({}));
  valid(t, empty);
  t.match(empty, { class_uid: 2003, time: 0, severity_id: 0 });
  t.notOk(empty.device, 'no node, no device');
});

t.test('the validator rejects an unknown attribute at any depth', async (t) => {
  const doc = ocsf(execDetection());
  doc.process = { pid: 1 };
  doc.evidences[0].process.parent_process.colour = 'blue';
  t.same(validateOcsf(doc, schema).sort(), [
    'evidences[0].process.parent_process.colour: unknown attribute of Process',
    'process: unknown attribute of Detection Finding',
  ]);
});

t.test('the validator rejects a missing required attribute', async (t) => {
  const doc = ocsf(posture(1, 11));
  delete doc.finding_info.uid;
  delete doc.compliance;
  delete doc.evidences[0].file.name;
  t.same(validateOcsf(doc, schema).sort(), [
    'compliance: required by Compliance Finding, missing',
    'evidences[0].file.name: required by File, missing',
    'finding_info.uid: required by Finding Information, missing',
  ]);
});

t.test('the validator rejects an enum value the enum lacks and a caption that does not match', async (t) => {
  const doc = ocsf(execDetection());
  doc.severity_id = 7;
  doc.status = 'Closed';
  t.same(validateOcsf(doc, schema), ['severity_id: 7 is not one of 0, 1, 2, 3, 4, 5, 6, 99', 'status: "Closed" does not match status_id 1 (New)']);
});

t.test('the validator rejects wrong types, undeclared profiles and a type_uid that is not class × 100 + activity', async (t) => {
  const doc = ocsf(execDetection());
  doc.time = '2026-01-01';
  doc.evidences[0].process.pid = 2 ** 40;
  doc.metadata.profiles = ['host'];
  doc.type_uid = 200403;
  const errors = validateOcsf(doc, schema);
  t.ok(errors.includes('time: "2026-01-01" is not a 64-bit integer (timestamp_t)'));
  t.ok(errors.includes('evidences[0].process.pid: 1099511627776 is not a 32-bit integer (integer_t)'));
  t.ok(errors.some((e) => /^evidences\[0\]\.process\.container: belongs to profile container/.test(e)));
  t.ok(errors.some((e) => /^evidences\[0\]\.process\.euid: belongs to profile linux\/linux_users/.test(e)));
  t.ok(errors.some((e) => /^type_uid: 200403, expected/.test(e)));
});
