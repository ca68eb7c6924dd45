// The node's posture results as a ClusterPolicyReport of the Kubernetes Policy working group
// (wgpolicyk8s.io/v1alpha2), one per node, named nodewarden-node-<node>, so Policy Reporter and
// similar dashboards show them beside Kyverno's. The posture collector's results reach it where
// the daemon wires that collector (its sink is wrapped: every state it offers is also handed
// here); each result is judged by the posture rules for its severity, as `nodewarden check` does.
//
//   posture collector ─state─▶ rule engine (findings)
//                       └────▶ PolicyReportPublisher ─(content changed? debounce)─▶ server-side apply
//
// The report is applied only when its content changed (results, not timestamps); a failed apply
// is retried with backoff; a cluster without the CRD (404) is said once and asked again every
// five minutes.

import type { Logger } from 'pino';
import type { Finding, Severity } from '../core/finding.js';
import type { PostureObservation, StateObservation } from '../core/observation.js';
import { describeError } from '../core/errors.js';
import { type KubeApiClient, isApiError } from '../collectors/kube/api-client.js';

export const REPORT_API = 'wgpolicyk8s.io/v1alpha2';
const FIELD_MANAGER = 'nodewarden';
const SEVERITY_RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

export interface ReportResult {
  policy: string;
  rule: string;
  result: 'pass' | 'fail' | 'warn' | 'error' | 'skip';
  severity?: Severity;
  category: string;
  source: string;
  message: string;
  scored: boolean;
  properties: Record<string, string>;
  timestamp: { seconds: number; nanos: number };
}

export function reportName(node: string): string {
  // Node names are DNS subdomains already; anything else is made one.
  const n = node.toLowerCase().replace(/[^a-z0-9.-]/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return `nodewarden-node-${n}`.slice(0, 253);
}

/**
 * One result per posture check result: the check's status as the result, the severity of the
 * rule that judges it. A failing check whose rule is disabled or excepted is `skip`, saying so.
 */
export function reportResults(observations: readonly PostureObservation[], judge: (o: PostureObservation) => Finding[], at: Date): ReportResult[] {
  const seconds = Math.floor(at.getTime() / 1000);
  return observations.map((o) => {
    const c = o.check;
    const findings = judge(o);
    const top = findings.reduce<Finding | undefined>((a, f) => (!a || SEVERITY_RANK[f.severity] > SEVERITY_RANK[a.severity] ? f : a), undefined);
    let result: ReportResult['result'] = c.status === 'na' ? 'skip' : (c.status as ReportResult['result']);
    const properties: Record<string, string> = { subject: c.subject, component: c.component, evidence: c.evidence, expected: c.expected };
    if (c.reason) properties.reason = c.reason;
    if (top) properties.rule = top.ruleId;
    if (top?.remediation) properties.remediation = top.remediation;
    if ((result === 'fail' || result === 'warn' || result === 'error') && !top) {
      result = 'skip';
      properties.reason = 'the rule judging this check is disabled or excepted';
    }
    const r: ReportResult = {
      policy: /^\d/.test(c.id) ? `cis-${c.id}` : c.id,
      rule: c.subject,
      result,
      category: `CIS Kubernetes Benchmark: ${c.component}`,
      source: 'nodewarden',
      message: `${c.title}: ${c.evidence || c.status}`.slice(0, 1024),
      scored: c.reason !== 'manual',
      properties,
      timestamp: { seconds, nanos: 0 },
    };
    if (top) r.severity = top.severity;
    return r;
  });
}

export function clusterPolicyReport(node: string, nodeUid: string, results: ReportResult[]): Record<string, unknown> {
  const summary = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) summary[r.result]++;
  return {
    apiVersion: REPORT_API,
    kind: 'ClusterPolicyReport',
    metadata: {
      name: reportName(node),
      labels: { 'app.kubernetes.io/managed-by': 'nodewarden', 'nodewarden.io/node': node.slice(0, 63) },
    },
    scope: { apiVersion: 'v1', kind: 'Node', name: node, ...(nodeUid ? { uid: nodeUid } : {}) },
    summary,
    results,
  };
}

export interface PublisherOptions {
  client: KubeApiClient;
  node: string;
  logger: Logger;
  /** How a posture observation is judged (the rule engine's judgeState). */
  judge: (o: PostureObservation) => Finding[];
  /** The Node object's uid, once the API has shown it ('' until then: nothing is published). */
  nodeUid: () => string;
  debounceMs?: number;
}

export class PolicyReportPublisher {
  private latest: PostureObservation[] | null = null;
  private appliedKey = '';
  /** Per result (policy + rule): its content and when it got that content, so unchanged results keep their time. */
  private since = new Map<string, { key: string; at: Date }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private saidMissingCrd = false;
  private stopped = false;
  /** Applies done (for status and tests). */
  applied = 0;
  lastError = '';

  constructor(private readonly o: PublisherOptions) {}

  /** A posture state was offered: publish it (soon) if the report's content changes. */
  offer(changes: readonly { observations: readonly StateObservation[] }[]): void {
    this.latest = changes.flatMap((c) => c.observations).filter((x): x is PostureObservation => x.kind === 'posture');
    this.schedule(this.o.debounceMs ?? 1000);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.publish().finally(() => (this.running = null));
    }, ms);
    this.timer.unref?.();
  }

  private async publish(): Promise<void> {
    const obs = this.latest;
    if (!obs || this.stopped) return;
    // A report is scoped to this node's Node object: none is written before the API has shown
    // it (an agent started with a kubeconfig on a machine that is no node of that cluster).
    const nodeUid = this.o.nodeUid?.() ?? '';
    if (!nodeUid) {
      this.schedule(5_000);
      return;
    }
    const now = new Date();
    const results = reportResults(obs, this.o.judge, now).map((r) => {
      const id = `${r.policy}|${r.rule}`;
      const key = JSON.stringify({ ...r, timestamp: undefined });
      const prev = this.since.get(id);
      const at = prev && prev.key === key ? prev.at : now;
      this.since.set(id, { key, at });
      return { ...r, timestamp: { seconds: Math.floor(at.getTime() / 1000), nanos: 0 } };
    });
    const ids = new Set(results.map((r) => `${r.policy}|${r.rule}`));
    for (const id of this.since.keys()) if (!ids.has(id)) this.since.delete(id);
    const report = clusterPolicyReport(this.o.node, nodeUid, results);
    const key = JSON.stringify(report);
    if (key === this.appliedKey) return;
    const name = reportName(this.o.node);
    try {
      await this.o.client.apply(`/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/${name}`, report, FIELD_MANAGER);
      this.appliedKey = key;
      this.applied++;
      this.failures = 0;
      if (this.lastError) this.o.logger.info({ name }, 'The PolicyReport is published again.');
      this.lastError = '';
    } catch (err) {
      this.failures++;
      const first = this.lastError === '';
      this.lastError = describeError(err);
      if (isApiError(err, 'not-found')) {
        if (!this.saidMissingCrd) this.o.logger.warn({ name }, 'The cluster has no ClusterPolicyReport CRD (wgpolicyk8s.io/v1alpha2): the posture results are not published as a PolicyReport; asking again every 5 minutes.');
        this.saidMissingCrd = true;
        this.schedule(5 * 60_000);
        return;
      }
      if (first) this.o.logger.warn({ name, err: this.lastError }, 'The PolicyReport could not be applied; retrying with backoff.');
      this.schedule(Math.min(60_000, 1000 * 2 ** Math.min(this.failures, 6)) * (0.8 + Math.random() * 0.4));
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
