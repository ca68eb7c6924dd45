// A sink's filter: which events it takes (minimum severity, sources, namespaces, rule ids with a
// trailing * as a prefix). Events a sink does not take still move its cursor past them.

import type { nodewarden } from '../../gen/nodewarden.js';
import { severityByName, sourceByName } from '../../core/event.js';
import type { SinkFilter } from './sink.js';

export function filterFor(filter: SinkFilter): (e: nodewarden.v1.Event) => boolean {
  const minSeverity = filter.minSeverity ? severityByName(filter.minSeverity) ?? 0 : 0;
  const sources = new Set((filter.sources ?? []).map((s) => sourceByName(s) ?? -1));
  const namespaces = new Set(filter.namespaces ?? []);
  const rules = filter.rules ?? [];
  const exact = new Set(rules.filter((r) => !r.endsWith('*')));
  const prefixes = rules.filter((r) => r.endsWith('*')).map((r) => r.slice(0, -1));
  return (e) => {
    if (e.severity < minSeverity) return false;
    if (sources.size > 0 && !sources.has(e.source)) return false;
    if (namespaces.size > 0 && !namespaces.has(e.kubernetes?.namespace ?? '')) return false;
    if (rules.length > 0 && !exact.has(e.ruleId) && !prefixes.some((p) => e.ruleId.startsWith(p))) return false;
    return true;
  };
}
