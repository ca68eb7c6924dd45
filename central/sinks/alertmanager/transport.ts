// Posts alerts to every Alertmanager of an HA cluster (POST <url>/api/v2/alerts, a JSON array).
// Alertmanager instances gossip silences and what they have notified, never alerts: each must
// receive every alert itself, so every batch goes to every URL, at the same time.
//
//   batch ─▶ toAlert (skip stale re-sends) ─▶ JSON ─┬─▶ am-0 ─┐
//                                                 ├─▶ am-1 ─┼─▶ ok if one took it
//                                                 └─▶ am-2 ─┘   (the others logged and counted)

import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { describeError } from '../../../core/errors.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import type { AlertmanagerAlert } from '../../formats/alert.js';
import type { Outcome, SendResult, SinkEvent, Transport } from '../sink.js';
import { HttpClient, retryAfterMs } from '../http/client.js';

const pb = nodewarden.v1;

/** Enough of an error answer to say why, in a log line or a dead letter. */
const MAX_ANSWER_CHARS = 2048;
/** How long a resolution is remembered to recognise a stale re-send of its open event. */
const RESOLVED_MEMORY_MS = 3_600_000;
const RESOLVED_MEMORY_MAX = 100_000;

export interface AlertmanagerTransportOptions {
  /** Base URLs, one per Alertmanager instance (a path prefix such as /alertmanager is kept). */
  urls: string[];
  /** The alert for an event, at the time of the send. */
  toAlert: (e: SinkEvent, now: number) => AlertmanagerAlert;
  /**
   * Each instance's own deadline, below the chain's timeout: an instance that hangs must not make
   * the whole batch time out (and be sent again) when another instance has already taken it.
   */
  instanceTimeoutMs: number;
  /** A PEM file of the CA(s) that sign the instances' certificates, re-read on every send. */
  caFile?: string;
  /** The bearer token, read on every send (a rotated secret needs no restart). */
  bearer?: () => string;
  userAgent: string;
  sink: string;
  logger: Logger;
  /** nodewarden_sink_alertmanager_instance_failures_total{sink,instance}. */
  instanceFailures: Counter<'sink' | 'instance'>;
}

interface Instance {
  endpoint: URL;
  /** The URL without credentials: what logs and metrics name. */
  display: string;
}

export class AlertmanagerTransport implements Transport {
  private readonly instances: Instance[];
  /** Instances whose last send failed, so a failure is logged once and a recovery once. */
  private readonly failing = new Set<string>();
  /** The latest resolution sent per (node, fingerprint): the rowid of its event and when. */
  private readonly resolved = new Map<string, { rowid: number; at: number }>();
  /** Keep-alive connections to every instance; the CA file re-read on every send. */
  private readonly client: HttpClient;

  constructor(private readonly opts: AlertmanagerTransportOptions) {
    this.client = new HttpClient({ caFile: opts.caFile, maxResponseBytes: MAX_ANSWER_CHARS });
    this.instances = opts.urls.map((u) => {
      const endpoint = new URL(`${u.replace(/\/+$/, '')}/api/v2/alerts`);
      const shown = new URL(u);
      shown.username = '';
      shown.password = '';
      return { endpoint, display: shown.toString().replace(/\/+$/, '') };
    });
  }

  async send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    const now = Date.now();
    this.forgetOldResolutions(now);
    const alerts: AlertmanagerAlert[] = [];
    // Per event: its own outcome when it is not sent, or null when its fate is the batch's.
    const own: (Outcome | null)[] = [];
    for (const e of batch) {
      if (this.isStale(e, now)) {
        own.push({ kind: 'ok' });
        continue;
      }
      const alert = this.opts.toAlert(e, now);
      const invalid = invalidReason(alert);
      if (invalid) {
        own.push({ kind: 'permanent', reason: invalid });
        continue;
      }
      alerts.push(alert);
      own.push(null);
    }
    const sent: Outcome = alerts.length > 0 ? await this.post(alerts, signal) : { kind: 'ok' };
    const items = own.map((o) => o ?? sent);
    return items.every((o) => o === sent || o.kind === 'ok' && sent.kind === 'ok') ? sent : { kind: 'items', items };
  }

  /**
   * A re-send of an open finding made before its resolution was sent, arriving after it (the
   * periodic re-sends and the cursor's sends run side by side): it would fire the alert again
   * until its endsAt. Events from the cursor come in log order and are never stale.
   */
  private isStale(e: SinkEvent, now: number): boolean {
    const { state, node, fingerprint } = e.event;
    if (!fingerprint) return false;
    const key = `${node}\u0000${fingerprint}`;
    const last = this.resolved.get(key);
    if (state === pb.FindingState.FINDING_STATE_RESOLVED) {
      if (!last || last.rowid < e.rowid) {
        this.resolved.delete(key); // re-inserted last: the map stays in age order
        this.resolved.set(key, { rowid: e.rowid, at: now });
      }
      return false;
    }
    return state === pb.FindingState.FINDING_STATE_OPEN && last !== undefined && e.rowid < last.rowid;
  }

  private forgetOldResolutions(now: number): void {
    for (const [key, r] of this.resolved) {
      if (now - r.at < RESOLVED_MEMORY_MS && this.resolved.size <= RESOLVED_MEMORY_MAX) break;
      this.resolved.delete(key);
    }
  }

  /**
   * The batch to every instance. The outcome is ok when at least one instance took it, as
   * Prometheus does: an HA pair exists so that one instance can be down, and waiting for all
   * would stall this sink for as long as one is. What a failed instance missed comes back to it
   * soon: every open finding is re-sent each resend interval, and a resolution it missed
   * becomes one when the alert's endsAt passes, since re-sends stop. Failures are logged and
   * counted per instance. When no instance took it, the batch is permanent (dead-lettered) only
   * when every instance refused the alerts themselves; otherwise it is retried.
   */
  private async post(alerts: AlertmanagerAlert[], signal: AbortSignal): Promise<Outcome> {
    const body = Buffer.from(JSON.stringify(alerts));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': this.opts.userAgent };
    try {
      if (this.opts.bearer) headers.authorization = `Bearer ${this.opts.bearer()}`;
    } catch (err) {
      return { kind: 'retry', reason: describeError(err) };
    }
    const answers = await Promise.all(this.instances.map(async (i) => {
      const outcome = await this.postOnce(i, body, headers, AbortSignal.any([signal, AbortSignal.timeout(this.opts.instanceTimeoutMs)]));
      this.track(i, outcome, alerts.length);
      return outcome;
    }));
    if (answers.some((a) => a.kind === 'ok')) return { kind: 'ok' };
    const reason = answers.map((a) => (a.kind === 'ok' ? '' : a.reason)).join('; ');
    if (answers.every((a) => a.kind === 'permanent')) return { kind: 'permanent', reason };
    // The soonest any instance said it would take more; none when one of them said nothing.
    const waits = answers.flatMap((a) => (a.kind === 'retry' ? [a.afterMs] : []));
    if (waits.some((w) => w === undefined)) return { kind: 'retry', reason };
    return { kind: 'retry', reason, afterMs: Math.min(...(waits as number[])) };
  }

  /** One POST to one instance; never throws. */
  private async postOnce(i: Instance, body: Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<Outcome> {
    try {
      const answer = await this.client.post(i.endpoint, body, headers, signal);
      return classify(i.display, answer.status, answer.body.toString('utf8').trim(), answer.headers['retry-after']);
    } catch (err) {
      return { kind: 'retry', reason: `${i.display}: ${signal.aborted ? describeError(signal.reason) : describeError(err)}` };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private track(i: Instance, outcome: Outcome, alerts: number): void {
    if (outcome.kind === 'ok') {
      if (this.failing.delete(i.display)) this.opts.logger.info({ sink: this.opts.sink, instance: i.display }, `Alertmanager ${i.display} takes alerts again.`);
      return;
    }
    this.opts.instanceFailures.inc({ sink: this.opts.sink, instance: i.display });
    if (this.failing.has(i.display)) return;
    this.failing.add(i.display);
    this.opts.logger.warn({ sink: this.opts.sink, instance: i.display, alerts, reason: outcome.reason },
      `Alertmanager ${i.display} did not take ${alerts} alerts (${outcome.reason}); the sink goes on if another instance did.`);
  }
}

/** What Alertmanager itself would refuse with 400 (the API's own checks), caught before sending. */
function invalidReason(a: AlertmanagerAlert): string | undefined {
  if (Object.keys(a.labels).length === 0) return 'the alert has no labels';
  if (Date.parse(a.endsAt) < Date.parse(a.startsAt)) return 'the alert ends before it starts';
  return undefined;
}

/**
 * An instance's answer. 2xx: taken. 400 (an alert Alertmanager's validation refuses; it still
 * stores the valid others), 413 and 422: the same alerts would be refused again. Everything else
 * (5xx, 429, 401/403 while a token is rotated, 404 from a wrong path being fixed) is retried:
 * dead-lettering pages because of a fixable setting would lose them.
 */
export function classify(instance: string, status: number, text: string, retryAfter?: string): Outcome {
  if (status >= 200 && status < 300) return { kind: 'ok' };
  const reason = `${instance} answered ${status}${text ? `: ${text}` : ''}`;
  if (status === 400 || status === 413 || status === 422) return { kind: 'permanent', reason };
  const afterMs = retryAfterMs(retryAfter);
  return afterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, afterMs };
}
