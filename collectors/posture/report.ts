// Renderers for the one-shot `nodewarden check`: an aligned plain-text table (id, status,
// title, evidence) with a summary line, the evaluation as JSON, and JUnit XML (one testcase per
// result: fail → <failure>, error → <error>, na → <skipped>) for CI systems that read test reports.

import type { CheckResult, CheckStatus, Evaluation } from './types.js';

const STATUS_WORD: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', na: 'N/A', error: 'ERROR' };
const STATUS_COLOUR: Record<CheckStatus, string> = { pass: '32', fail: '31', warn: '33', na: '90', error: '35' };
/** Titles are cut to keep rows on one line; evidence is the last column and never cut. */
const MAX_TITLE = 60;

export function summarise(e: Evaluation): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { pass: 0, fail: 0, warn: 0, na: 0, error: 0 };
  for (const r of e.results) counts[r.status]++;
  return counts;
}

function summaryLine(e: Evaluation): string {
  const c = summarise(e);
  return (
    `${e.results.length} results: ${c.pass} pass, ${c.fail} fail, ${c.warn} warn, ${c.error} error, ${c.na} not applicable ` +
    `(${e.durationMs.toFixed(1)} ms); benchmark ${e.benchmark.id}: ${e.benchmark.reason}`
  );
}

export function renderTable(e: Evaluation, options: { color?: boolean } = {}): string {
  const rows = e.results.map((r) => ({
    id: r.id,
    status: STATUS_WORD[r.status],
    colour: STATUS_COLOUR[r.status],
    title: r.title.length > MAX_TITLE ? r.title.slice(0, MAX_TITLE - 1) + '…' : r.title,
    evidence: oneLine(r.evidence),
  }));
  const w = {
    id: Math.max(2, ...rows.map((r) => r.id.length)),
    status: Math.max(6, ...rows.map((r) => r.status.length)),
    title: Math.max(5, ...rows.map((r) => r.title.length)),
  };
  const line = (id: string, status: string, title: string, evidence: string, colour?: string): string => {
    const s = status.padEnd(w.status);
    const shown = options.color && colour ? `\x1b[${colour}m${s}\x1b[0m` : s;
    return `${id.padEnd(w.id)}  ${shown}  ${title.padEnd(w.title)}  ${evidence}`.trimEnd();
  };
  const out = [line('ID', 'STATUS', 'TITLE', 'EVIDENCE'), line('-'.repeat(w.id), '-'.repeat(w.status), '-'.repeat(w.title), '--------')];
  for (const r of rows) out.push(line(r.id, r.status, r.title, r.evidence, r.colour));
  out.push('', summaryLine(e));
  return out.join('\n') + '\n';
}

export function renderJson(e: Evaluation): string {
  // Components' environments stay out of the report: a manifest's env may hold anything.
  const components = Object.fromEntries(Object.entries(e.discovery.components).map(([name, c]) => [name, {
    ...(c.process ? { pid: c.process.pid } : {}),
    args: c.args,
    root: c.root,
    manifest: { hostPath: c.manifest.hostPath, state: c.manifest.state, ...(c.manifest.error ? { error: c.manifest.error } : {}), args: c.manifest.args, image: c.manifest.image },
  }]));
  const discovery = { ...e.discovery, components };
  return JSON.stringify({ summary: summarise(e), durationMs: e.durationMs, benchmark: e.benchmark, results: e.results, discovery, watch: e.watch }, null, 2) + '\n';
}

export function renderJunit(e: Evaluation): string {
  const c = summarise(e);
  const seconds = (e.durationMs / 1000).toFixed(3);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="nodewarden check" tests="${e.results.length}" failures="${c.fail}" errors="${c.error}" skipped="${c.na}" time="${seconds}">`,
    `  <testsuite name="nodewarden posture" tests="${e.results.length}" failures="${c.fail}" errors="${c.error}" skipped="${c.na}" time="${seconds}">`,
  ];
  for (const r of e.results) out.push(...testcase(r));
  out.push('  </testsuite>', '</testsuites>');
  return out.join('\n') + '\n';
}

function testcase(r: CheckResult): string[] {
  const name = `${r.id} ${r.title} [${r.subject}]`;
  const open = `    <testcase classname="nodewarden.${xml(r.component)}" name="${xml(name)}">`;
  const detail = `${r.evidence}\nExpected: ${r.expected}\nRemediation: ${r.remediation ?? ''}`;
  switch (r.status) {
    case 'pass':
      return [`    <testcase classname="nodewarden.${xml(r.component)}" name="${xml(name)}"/>`];
    case 'warn':
      // JUnit has no warning state: a passing case that carries the warning in its output.
      return [open, `      <system-out>${xml(`WARN: ${detail}`)}</system-out>`, '    </testcase>'];
    case 'na':
      return [open, `      <skipped message="${xml(r.evidence)}"/>`, '    </testcase>'];
    case 'fail':
      return [open, `      <failure message="${xml(r.evidence)}" type="${r.severity ?? 'unknown'}">${xml(detail)}</failure>`, '    </testcase>'];
    case 'error':
      return [open, `      <error message="${xml(r.evidence)}" type="error">${xml(detail)}</error>`, '    </testcase>'];
  }
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ');
}

/** Escape for XML text and attributes; characters XML 1.0 cannot carry are dropped. */
export function xml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
