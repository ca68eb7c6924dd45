// One stored event as a Prometheus Alertmanager alert (API v2 `postableAlert`). Alertmanager
// names an alert by its label set alone, so the labels hold only what never changes between a
// finding's open and resolved events (rule, node, object, fingerprint), never its state, count
// or time; the state lives in `endsAt`: in the future while open, in the past once resolved.

import { severityName, sourceName } from '../../core/event.js';
import { nodewarden } from '../../gen/nodewarden.js';
import type { SinkEvent } from '../sinks/sink.js';
import { isLong, isoTime, longNanosToMs } from './time.js';

const pb = nodewarden.v1;

/** What POST /api/v2/alerts takes for one alert (times in RFC 3339). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertOptions {
  /** The time of the send (Unix ms): open findings and late detections are timed from it. */
  now: number;
  /** How often central re-sends every open finding. */
  resendIntervalMs: number;
  /** How long a one-shot detection (an exec) stays firing after it happened. */
  detectionTtlMs: number;
  /** The `cluster` label when the event names none. */
  cluster?: string;
  /** A link back to where the alert came from (Alertmanager shows it as "Source"). */
  generatorUrl?: string;
}

/**
 * An open finding's alert ends this many re-send intervals ahead: Prometheus gives its alerts
 * the same 4 × max(resend delay, evaluation interval). Three re-sends in a row may fail (a retry
 * burst, a central restart) before Alertmanager would resolve a finding that is still open; and
 * if central is gone for good, Alertmanager resolves its alerts on its own within four intervals.
 */
export const OPEN_HORIZON_INTERVALS = 4;

/**
 * Annotations are for people and pagers (PagerDuty cuts a summary at 1,024 characters); an
 * event may carry up to 4 MiB of evidence, which has no place in a page.
 */
const MAX_ANNOTATION_CHARS = 4096;

export function toAlert(e: SinkEvent, opts: AlertOptions): AlertmanagerAlert {
  const ev = e.event;
  const at = eventTimeMs(ev);
  const openHorizonMs = OPEN_HORIZON_INTERVALS * opts.resendIntervalMs;
  let startsAt: number;
  let endsAt: number;
  switch (ev.state) {
    case pb.FindingState.FINDING_STATE_OPEN:
      // The open event's time is when the finding opened: the periodic re-sends carry the open
      // event too. An agent clock ahead of central's must not make startsAt pass endsAt
      // (Alertmanager refuses such an alert).
      startsAt = Math.min(at, opts.now);
      endsAt = opts.now + openHorizonMs;
      break;
    case pb.FindingState.FINDING_STATE_RESOLVED:
      // Resolved at once. A resolved event does not say when its finding opened; Alertmanager
      // keeps the earlier startsAt of the alert it holds when it merges the two. An agent clock
      // ahead of central's would otherwise keep the alert firing until that future time.
      endsAt = Math.min(at, opts.now);
      startsAt = endsAt;
      break;
    default: {
      // One-shot (an exec detection, an agent's own event): firing for detectionTtl after it
      // happened, and at least min(detectionTtl, the open horizon) after central sends it, so a
      // detection that reaches Alertmanager late (the agent or Alertmanager was away longer than
      // the TTL) still fires and is notified instead of arriving already resolved.
      startsAt = Math.min(at, opts.now);
      endsAt = Math.max(startsAt + opts.detectionTtlMs, opts.now + Math.min(opts.detectionTtlMs, openHorizonMs));
    }
  }

  const alert: AlertmanagerAlert = {
    labels: labelsOf(ev, opts.cluster),
    annotations: nonEmpty({
      summary: ev.title,
      description: ev.message,
      remediation: ev.remediation,
      evidence: ev.evidence,
    }, cut),
    startsAt: isoTime(startsAt),
    endsAt: isoTime(endsAt),
  };
  if (opts.generatorUrl) alert.generatorURL = opts.generatorUrl;
  return alert;
}

/**
 * The label set: Alertmanager's identity of the alert and what routes and groups it (e.g.
 * group_by [alertname, node], match severity=critical). Label names are fixed here, so they are
 * always valid; values are any UTF-8. Empty values are left out, as Alertmanager drops them.
 */
/** Label values are identifiers; one that long is hostile or broken, and is cut. */
const MAX_LABEL_CHARS = 1024;

export function labelsOf(ev: nodewarden.v1.Event, cluster?: string): Record<string, string> {
  const cut = (v: string): string => (v.length > MAX_LABEL_CHARS ? v.slice(0, MAX_LABEL_CHARS) : v);
  return nonEmpty({
    alertname: ev.ruleId,
    severity: ev.severity === pb.Severity.SEVERITY_UNSPECIFIED ? '' : severityName(ev.severity),
    node: ev.node,
    cluster: ev.cluster || (cluster ?? ''),
    namespace: ev.kubernetes?.namespace ?? '',
    pod: ev.kubernetes?.pod ?? '',
    container: ev.kubernetes?.container || ev.container?.name || '',
    cis_id: ev.cisId,
    source: ev.source === pb.Source.SOURCE_UNSPECIFIED ? '' : sourceName(ev.source),
    // Two findings of one rule on one node (two certificates about to expire, two privileged
    // containers of one pod) differ only here: without it Alertmanager would merge them, and
    // the first to resolve would resolve both.
    fingerprint: ev.fingerprint,
  }, cut);
}

export function eventTimeMs(ev: nodewarden.v1.Event): number {
  const ns: unknown = ev.timeUnixNano;
  if (ns === null || ns === undefined) return 0;
  if (isLong(ns)) return longNanosToMs(ns);
  return Number(BigInt(String(ns)) / 1_000_000n);
}

function nonEmpty(fields: Record<string, string | null | undefined>, map: (v: string) => string = (v) => v): Record<string, string> {
  const out: Record<string, string> = {};
  // for…in over an object literal: its own keys in order, without Object.entries' arrays.
  for (const k in fields) {
    const v = fields[k];
    if (v) out[k] = map(v);
  }
  return out;
}

/** At most MAX_ANNOTATION_CHARS, never splitting a surrogate pair, marked when cut. */
function cut(text: string): string {
  if (text.length <= MAX_ANNOTATION_CHARS) return text;
  let end = MAX_ANNOTATION_CHARS - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
