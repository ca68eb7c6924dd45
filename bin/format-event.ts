// One readable line (or a few) per event for people: `nodewarden run` on a terminal and
// `nodewarden tail`. Machine consumers use the JSON-lines sink instead.

import type { nodewarden } from '../gen/nodewarden.js';
import { severityName, sourceName, stateName } from '../core/event.js';

export function formatEvent(e: nodewarden.v1.Event): string {
  const time = new Date(Number(BigInt(e.timeUnixNano.toString()) / 1_000_000n)).toISOString();
  const state = stateName(e.state);
  const where: string[] = [];
  if (e.kubernetes?.namespace) where.push(`${e.kubernetes.namespace}/${e.kubernetes.pod}${e.kubernetes.container ? '/' + e.kubernetes.container : ''}`);
  if (e.file?.path) where.push(e.file.path);
  if (e.process?.argv?.length) where.push(`pid ${e.process.pid}: ${e.process.argv.join(' ').slice(0, 200)}`);
  const head = [
    time,
    severityName(e.severity).toUpperCase().padEnd(8),
    (state || sourceName(e.source)).padEnd(8),
    e.cisId ? `[CIS ${e.cisId}]` : `[${e.ruleId}]`,
    e.title,
    e.count > 1 ? `(x${e.count})` : '',
  ].filter(Boolean).join(' ');
  const lines = [head];
  if (where.length) lines.push(`    on ${e.node}: ${where.join(' · ')}`);
  if (e.evidence) lines.push(`    found: ${e.evidence}`);
  if (e.state !== 2 && e.expected) lines.push(`    expected: ${e.expected}`);
  if (e.state !== 2 && e.remediation) lines.push(`    fix: ${e.remediation}`);
  return lines.join('\n');
}
