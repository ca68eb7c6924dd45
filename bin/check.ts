// `nodewarden check`: every posture check once, printed as a table, JSON or JUnit XML.
// Exit code 1 when any check fails or could not be evaluated: a drop-in for a kube-bench node run.

import { HostFs } from '../collectors/host/host-fs.js';
import { evaluateNode } from '../collectors/posture/evaluate.js';
import { renderJson, renderJunit, renderTable } from '../collectors/posture/report.js';

export async function runCheck(flags: { hostRoot: string; format: 'table' | 'json' | 'junit' }): Promise<number> {
  const evaluation = await evaluateNode(new HostFs(flags.hostRoot));
  const render = { table: renderTable, json: renderJson, junit: renderJunit }[flags.format];
  const text = render(evaluation);
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return evaluation.results.some((r) => r.status === 'fail' || r.status === 'error') ? 1 : 0;
}
