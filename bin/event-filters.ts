// The filter flags `tail`, `events` and `findings` share (--node, --severity, --source, --rule,
// --namespace, and for events --since/--until/--state), turned into request fields. Every
// unknown value is refused with a sentence listing the accepted ones (NW_ERR_CONFIG).

import type { Command } from 'commander';
import { NwError } from '../core/errors.js';
import { parseDuration } from '../core/duration.js';
import { severityByName, sourceByName, stateByName } from '../core/event.js';

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export const SOURCES = ['posture', 'runtime', 'process', 'agent', 'kube', 'central'] as const;
export const STATES = ['open', 'resolved'] as const;

export interface FilterFlags {
  node?: string[];
  severity?: string;
  source?: string[];
  rule?: string[];
  namespace?: string[];
}

/** The fields SubscribeRequest, EventsRequest and FindingsRequest have in common. */
export interface FilterRequest {
  nodes: string[];
  minSeverity: number;
  sources: number[];
  ruleIds: string[];
  namespaces: string[];
}

export function addFilterOptions(cmd: Command): Command {
  return cmd
    .option('--node <name...>', 'only these nodes')
    .option('--severity <level>', `only at or above this severity (${SEVERITIES.join(', ')})`)
    .option('--source <source...>', `only these sources (${SOURCES.join(', ')})`)
    .option('--rule <id...>', 'only these rule ids (a trailing * matches a prefix)')
    .option('--namespace <ns...>', 'only these Kubernetes namespaces');
}

/** Repeated flags and comma-separated lists both work: `--source posture,runtime --source agent`. */
function values(list: string[] | undefined): string[] {
  return (list ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

function byName(flag: string, name: string, known: readonly string[], lookup: (n: string) => number | undefined): number {
  const n = known.includes(name.toLowerCase()) ? lookup(name) : undefined;
  if (n === undefined) throw new NwError('NW_ERR_CONFIG', `${flag}: unknown value ${JSON.stringify(name)}; expected one of ${known.join(', ')}`);
  return n;
}

export const parseSeverity = (name: string, flag = '--severity'): number => byName(flag, name, SEVERITIES, severityByName);
export const parseSource = (name: string, flag = '--source'): number => byName(flag, name, SOURCES, sourceByName);
export const parseState = (name: string, flag = '--state'): number => byName(flag, name, STATES, stateByName);

export function filterRequest(flags: FilterFlags): FilterRequest {
  return {
    nodes: values(flags.node),
    minSeverity: flags.severity ? parseSeverity(flags.severity) : 0,
    sources: values(flags.source).map((s) => parseSource(s)),
    ruleIds: values(flags.rule),
    namespaces: values(flags.namespace),
  };
}

// RFC 3339 as written by people and tools: a date, T (or a space), a time, an optional fraction
// of up to nine digits, and Z or an offset.
const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * A point in time in Unix nanoseconds from `--since`/`--until`: a duration ago (`90s`, `1h`,
 * `7d`) or an RFC 3339 time (`2025-05-01T12:00:00Z`, fractions kept to the nanosecond).
 */
export function parseTime(text: string, flag: string, nowMs = Date.now()): bigint {
  const ago = parseDuration(text);
  if (ago !== undefined) return BigInt(nowMs - ago) * 1_000_000n;
  const m = RFC3339.exec(text.trim());
  const ms = m ? Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`) : NaN;
  if (!m || Number.isNaN(ms)) {
    throw new NwError('NW_ERR_CONFIG', `${flag}: ${JSON.stringify(text)} is neither a duration ago (90s, 1h, 7d) nor an RFC 3339 time (2025-05-01T12:00:00Z)`);
  }
  return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
}
