// The renderers of `nodewarden check`: an aligned table with statuses in words, JSON that
// round-trips, and JUnit XML with one testcase per result and escaped text.

import t from 'tap';
import { renderTable, renderJson, renderJunit, evaluateNode, type Evaluation } from '../../../collectors/posture/index.js';
import { prepareHost } from './fixture-host.js';

async function misconfigured(): Promise<Evaluation> {
  const host = await prepareHost('misconfigured-worker');
  try {
    return await evaluateNode(host.fs, { now: host.now });
  } finally {
    await host.cleanup();
  }
}

const sample: Evaluation = {
  results: [
    { id: '4.2.4', title: 'Kubelet read-only port is disabled', severity: 'medium', status: 'fail', evidence: 'readOnlyPort is 10255 <"&\'>', expected: 'readOnlyPort: 0', remediation: 'Set readOnlyPort: 0', component: 'kubelet', subject: 'kubelet' },
    { id: '4.1.1', title: 'Kubelet service file permissions are 600 or more restrictive', severity: 'medium', status: 'pass', evidence: 'mode 600', expected: 'mode 600', remediation: 'chmod', component: 'kubelet', subject: '/x' },
    { id: '4.3.1', title: 'kube-proxy metrics are bound to localhost', severity: 'low', status: 'na', evidence: 'no kube-proxy', expected: 'loopback', remediation: 'set it', component: 'kube-proxy', subject: 'kube-proxy' },
    { id: 'nw-cert-expiry', title: 'Certificate is valid', severity: 'medium', status: 'warn', evidence: 'expires in 3 days', expected: 'valid', remediation: 'renew', component: 'node', subject: '/c.crt' },
    { id: '4.2.1', title: 'Kubelet anonymous authentication is disabled', severity: 'high', status: 'error', evidence: 'bad \u0001 YAML', expected: 'false', remediation: 'fix', component: 'kubelet', subject: 'kubelet' },
  ],
  watch: [],
  discovery: { components: {} } as unknown as Evaluation['discovery'],
  benchmark: { id: 'cis-1.12', reason: 'cis-1.12 as configured' },
  durationMs: 2.5,
};

t.test('the table aligns its columns and spells statuses out', async (t) => {
  const lines = renderTable(sample).split('\n');
  t.match(lines[0], /^ID\s+STATUS\s+TITLE\s+EVIDENCE$/);
  const statusCol = lines[0]!.indexOf('STATUS');
  const evidenceCol = lines[0]!.indexOf('EVIDENCE');
  for (const line of lines.slice(2, 7)) {
    t.match(line.slice(statusCol), /^(PASS|FAIL|WARN|N\/A|ERROR)\s/);
    t.not(line[evidenceCol - 1], undefined);
    t.equal(line[evidenceCol - 1], ' ', 'evidence starts in its column');
  }
  t.match(lines[2], /^4\.2\.4\s+FAIL\s+Kubelet read-only port is disabled\s+readOnlyPort is 10255/);
  t.match(renderTable(sample), '5 results: 1 pass, 1 fail, 1 warn, 1 error, 1 not applicable (2.5 ms)');
  t.notMatch(renderTable(sample), '\x1b[', 'no colours unless asked');
  t.match(renderTable(sample, { color: true }), '\x1b[31mFAIL');
});

t.test('JSON carries the results, a summary and the discovery', async (t) => {
  const e = await misconfigured();
  const parsed = JSON.parse(renderJson(e));
  t.equal(parsed.results.length, e.results.length);
  t.same(parsed.results[0], JSON.parse(JSON.stringify(e.results[0])));
  t.equal(parsed.summary.fail, e.results.filter((r) => r.status === 'fail').length);
  t.equal(parsed.discovery.kubelet.process.pid, 1300);
});

t.test('JUnit: one testcase per result, failure/skipped/error by status, counts in the suite', async (t) => {
  const xml = renderJunit(sample);
  t.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites /);
  t.match(xml, '<testsuite name="nodewarden posture" tests="5" failures="1" errors="1" skipped="1" time="0.003">');
  t.equal(xml.match(/<testcase /g)?.length, 5);
  t.match(xml, '<failure message="readOnlyPort is 10255 &lt;&quot;&amp;&apos;&gt;" type="medium">');
  t.match(xml, '<skipped message="no kube-proxy"/>');
  t.match(xml, '<error message="bad  YAML" type="error">', 'control characters XML cannot carry are dropped');
  t.match(xml, '<system-out>WARN: expires in 3 days');
  t.match(xml, 'name="4.1.1 Kubelet service file permissions are 600 or more restrictive [/x]"/>');
  t.notMatch(xml, /\u0001/);
});

t.test('JUnit of a real evaluation is well formed enough for a strict reader', async (t) => {
  const xml = renderJunit(await misconfigured());
  const opens = (xml.match(/<testcase [^>]*[^/]>/g) ?? []).length;
  const closes = (xml.match(/<\/testcase>/g) ?? []).length;
  t.equal(opens, closes);
  t.notMatch(xml.replace(/&(amp|lt|gt|quot|apos);/g, ''), /&/, 'no unescaped ampersand');
});
