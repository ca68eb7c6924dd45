// The CEF message of an event: header and extension escaped as the CEF specification requires,
// the dictionary's keys, severities, and a size bound that shortens values without breaking them.
import t from 'tap';
import Long from 'long';
import { nodewarden } from '../../../gen/nodewarden.js';
import { CEF_MIN_BYTES, toCef } from '../../../central/formats/cef.js';
import type { SinkEvent } from '../../../central/sinks/sink.js';

const pb = nodewarden.v1;

function sinkEvent(props: nodewarden.v1.Event.$Properties): SinkEvent {
  const event = pb.Event.create({
    id: 'worker-1-ab12cd34/7',
    agentId: 'worker-1-ab12cd34',
    node: 'worker-1',
    timeUnixNano: Long.fromString('1700000000123456789'),
    source: pb.Source.SOURCE_PROCESS,
    ruleId: 'exec-shell-in-container',
    severity: pb.Severity.SEVERITY_HIGH,
    title: 'Shell started in a container',
    message: 'A shell ran in kube-system/coredns.',
    count: 1,
    ...props,
  });
  return { rowid: 1, event, bytes: Buffer.from(pb.Event.encode(event).finish()) };
}

/** A CEF parser written from the specification: header split on unescaped pipes, then key=value pairs. */
function parseCef(s: string): { header: string[]; ext: Map<string, string> } {
  const header: string[] = [];
  let cur = '';
  let i = 0;
  while (header.length < 7) {
    const c = s[i++];
    if (c === undefined) throw new Error(`only ${header.length} header fields`);
    if (c === '\\') cur += s[i++];
    else if (c === '|') {
      header.push(cur);
      cur = '';
    } else cur += c;
  }
  const text = s.slice(i);
  const starts = [...text.matchAll(/(?:^| )([A-Za-z0-9_]+)=/g)];
  const ext = new Map<string, string>();
  starts.forEach((m, n) => {
    const from = m.index + m[0].length;
    const to = n + 1 < starts.length ? starts[n + 1]!.index : text.length;
    const raw = text.slice(from, to);
    let v = '';
    for (let j = 0; j < raw.length; j++) {
      if (raw[j] === '\\') {
        const next = raw[++j];
        v += next === 'n' ? '\n' : next === 'r' ? '\r' : next;
      } else v += raw[j];
    }
    ext.set(m[1]!, v);
  });
  return { header, ext };
}

const HOSTILE = 'a|b=c\\d\ne\rf ü 漢字 😀 x=y \\= end';

t.test('the header names nodewarden, its version, the rule, the title and the CEF severity', async (t) => {
  const cef = toCef(sinkEvent({}), { version: '0.1.0' });
  t.match(cef, /^CEF:0\|nodewarden\|nodewarden\|0\.1\.0\|exec-shell-in-container\|Shell started in a container\|8\|rt=1700000000123 /);
});

t.test('event severities map to CEF severities: info 1, low 3, medium 5, high 8, critical 10', async (t) => {
  const sev = (severity: number) => parseCef(toCef(sinkEvent({ severity }), { version: '1' })).header[6];
  t.same(
    [pb.Severity.SEVERITY_INFO, pb.Severity.SEVERITY_LOW, pb.Severity.SEVERITY_MEDIUM, pb.Severity.SEVERITY_HIGH, pb.Severity.SEVERITY_CRITICAL, pb.Severity.SEVERITY_UNSPECIFIED].map(sev),
    ['1', '3', '5', '8', '10', '0'],
  );
});

t.test('backslash and pipe are escaped in the header; newlines there become spaces', async (t) => {
  const cef = toCef(sinkEvent({ ruleId: 'r|1', title: 'a|b\\c\nd\re=f' }), { version: 'v\\1|x' });
  t.ok(cef.startsWith('CEF:0|nodewarden|nodewarden|v\\\\1\\|x|r\\|1|a\\|b\\\\c d e=f|8|'), cef);
});

t.test('backslash, equals and newlines are escaped in extension values; pipes are not', async (t) => {
  const cef = toCef(sinkEvent({ message: 'p|q=r\\s\nt\ru' }), { version: '1' });
  t.ok(cef.endsWith(' msg=p|q\\=r\\\\s\\nt\\ru'), cef);
});

t.test('every header field and value comes back unchanged through a CEF parser', async (t) => {
  const se = sinkEvent({
    title: 'title ' + HOSTILE.replace(/[\r\n]/g, ' '),
    message: HOSTILE,
    fingerprint: HOSTILE,
    evidence: HOSTILE,
    kubernetes: { namespace: 'kube-system', pod: 'p=1|2', container: 'c\\d' },
  });
  const { header, ext } = parseCef(toCef(se, { version: '1' }));
  t.equal(header[5], se.event.title);
  t.equal(ext.get('msg'), HOSTILE);
  t.equal(ext.get('cs6'), HOSTILE);
  t.equal(ext.get('reason'), HOSTILE);
  t.equal(ext.get('cs2'), 'p=1|2');
  t.equal(ext.get('cs3'), 'c\\d');
});

t.test('a process detection carries time, node, ids, process, pod, image and MITRE keys with their labels', async (t) => {
  const se = sinkEvent({
    mitreTechniques: ['T1059.004', 'T1609'],
    fingerprint: 'exec:abc',
    count: 3,
    cluster: 'prod-eu',
    process: { pid: 4242, uid: 0, exe: '/bin/sh', comm: 'sh', argv: ['sh', '-c', 'id; echo "hi there"'] },
    kubernetes: { namespace: 'kube-system', pod: 'coredns-1', container: 'coredns' },
    container: { name: 'coredns', image: 'registry.k8s.io/coredns:v1.11' },
  });
  const { ext } = parseCef(toCef(se, { version: '1' }));
  t.same(Object.fromEntries(ext), {
    rt: '1700000000123',
    dvchost: 'worker-1',
    externalId: 'worker-1-ab12cd34/7',
    cat: 'process',
    cnt: '3',
    spid: '4242',
    sproc: '/bin/sh',
    suid: '0',
    cs1Label: 'namespace', cs1: 'kube-system',
    cs2Label: 'pod', cs2: 'coredns-1',
    cs3Label: 'container', cs3: 'coredns',
    cs4Label: 'image', cs4: 'registry.k8s.io/coredns:v1.11',
    cs5Label: 'mitreTechniques', cs5: 'T1059.004,T1609',
    cs6Label: 'fingerprint', cs6: 'exec:abc',
    flexString2Label: 'cluster', flexString2: 'prod-eu',
    msg: 'A shell ran in kube-system/coredns. Command line: sh -c "id; echo \\"hi there\\""',
  });
});

t.test('a posture finding carries its file, its state as act, its CIS id, evidence and remediation', async (t) => {
  const se = sinkEvent({
    source: pb.Source.SOURCE_POSTURE,
    ruleId: 'cis-4.1.1',
    state: pb.FindingState.FINDING_STATE_RESOLVED,
    cisId: '4.1.1',
    evidence: 'mode 644',
    expected: 'mode 600 or stricter',
    remediation: 'chmod 600 /etc/systemd/system/kubelet.service',
    message: 'The kubelet unit file is too open.',
    file: { path: '/etc/systemd/system/kubelet.service', mode: 0o644, exists: true, kind: 'file' },
  });
  const { ext } = parseCef(toCef(se, { version: '1' }));
  t.equal(ext.get('cat'), 'posture');
  t.equal(ext.get('act'), 'resolved');
  t.equal(ext.get('fname'), 'kubelet.service');
  t.equal(ext.get('filePath'), '/etc/systemd/system/kubelet.service');
  t.equal(ext.get('filePermission'), '0644');
  t.equal(ext.get('fileType'), 'file');
  t.equal(ext.get('flexString1Label'), 'cisId');
  t.equal(ext.get('flexString1'), '4.1.1');
  t.equal(ext.get('reason'), 'mode 644; expected: mode 600 or stricter');
  t.equal(ext.get('msg'), 'The kubelet unit file is too open. Remediation: chmod 600 /etc/systemd/system/kubelet.service');
  t.notOk(ext.has('spid'), 'no process keys without a process');
  t.notOk(ext.has('cs1'), 'no empty custom strings');
});

t.test('control characters without a CEF escape are replaced, so no control byte is ever sent', async (t) => {
  const cef = toCef(sinkEvent({ title: 'a\tb\x1bc', message: 'd\te\x00f\x7fg\u0085h' }), { version: '1' });
  t.notMatch(cef, /[\x00-\x1f\x7f-\x9f]/);
  t.ok(cef.includes('|a b\uFFFDc|'), 'a tab is a space, ESC is U+FFFD');
  t.ok(cef.endsWith('msg=d e\uFFFDf\uFFFDg\uFFFDh'));
});

t.test('a lone UTF-16 surrogate becomes U+FFFD instead of invalid UTF-8', async (t) => {
  const cef = toCef(sinkEvent({ message: 'x\uD800y' }), { version: '1' });
  t.ok(cef.endsWith('msg=x\uFFFDy'));
});

t.test('a huge event is shortened to the bound: whole characters, whole escapes, marked with …', async (t) => {
  const hugeArgv = Array.from({ length: 20_000 }, (_, i) => `arg${i}=\\😀`);
  const se = sinkEvent({
    title: 'T'.repeat(5000),
    message: '漢'.repeat(100_000),
    evidence: '\\'.repeat(100_000),
    fingerprint: 'fp-short',
    process: { pid: 1, exe: '/x', argv: hugeArgv },
  });
  for (const maxBytes of [63 * 1024, 8192, CEF_MIN_BYTES]) {
    const cef = toCef(se, { version: '1', maxBytes });
    const bytes = Buffer.from(cef, 'utf8');
    t.ok(bytes.length <= maxBytes, `${bytes.length} <= ${maxBytes}`);
    t.equal(bytes.toString('utf8'), cef, 'valid UTF-8: no character cut in half');
    const { header, ext } = parseCef(cef);
    t.ok(header[5]!.length <= 512 && header[5]!.endsWith('…'), 'the title is bounded on its own');
    t.equal(ext.get('cs6'), 'fp-short', 'short values stay whole');
    t.equal(ext.get('externalId'), 'worker-1-ab12cd34/7');
    t.match(ext.get('reason'), /^\\+…$/, 'an escape is never split: the value is still backslashes');
    t.match(ext.get('msg'), /^漢+…$/);
  }
  t.ok(Buffer.byteLength(toCef(se, { version: '1' })) > 60 * 1024, 'the default bound uses the room it has');
});
