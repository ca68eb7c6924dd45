// `nodewarden check`: every posture check once, plus the container runtime's state when a CRI
// socket is found (or given with --cri-socket) judged by the rule packs (built-in, then each
// --rules folder), printed as a table, JSON or JUnit XML. Exit code 1 when any check fails or
// could not be evaluated (with --strict also when one warns: a Manual check not met, a certificate
// about to expire), 2 when the rules do not load: a drop-in for a kube-bench node run.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HostFs } from '../collectors/host/host-fs.js';
import { evaluateNode } from '../collectors/posture/evaluate.js';
import { renderJson, renderJunit, renderTable } from '../collectors/posture/report.js';
import type { CheckResult } from '../collectors/posture/types.js';
import type { BenchmarkChoice } from '../collectors/posture/benchmark.js';
import type { Finding, Severity } from '../core/finding.js';
import { checkObservation } from '../collectors/posture/collector.js';
import { matchState } from '../rules/state.js';
import { NodeFacts } from '../collectors/node-facts.js';
import { RuntimeCollector } from '../collectors/runtime/collector.js';
import { formatProblem } from '../rules/pack.js';
import { RuleEngine } from '../rules/engine.js';
import { type Ruleset, loadRuleset } from '../rules/ruleset.js';
import { runtimeCollectorFactory } from '../collectors/runtime/factory.js';

export interface CheckFlags {
  hostRoot: string;
  format: 'table' | 'json' | 'junit';
  criSocket?: string;
  node: string;
  /** User rule folders, read after the built-in packs. */
  rules?: string[];
  /** Warnings (Manual checks not met, certificates about to expire) count as failures too. */
  strict?: boolean;
  /** The CIS version to follow ('auto', the default: the one for the node's Kubernetes version). */
  benchmark?: BenchmarkChoice;
}

export async function runCheck(flags: CheckFlags): Promise<number> {
  const loaded = loadRuleset({ dirs: flags.rules ?? [] });
  if (!loaded.ok) {
    for (const p of loaded.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write(`nodewarden check: the rules have ${loaded.problems.length} problem(s); nothing was checked.\n`);
    return 2;
  }
  const evaluation = await evaluateNode(new HostFs(flags.hostRoot), { benchmark: flags.benchmark ?? 'auto' });
  evaluation.results = judgePosture(evaluation.results, loaded.ruleset, flags.node, evaluation.discovery.kubelet.configFile?.hostPath ?? '');
  evaluation.results.push(...(await runtimeResults(flags, loaded.ruleset)));
  const render = { table: renderTable, json: renderJson, junit: renderJunit }[flags.format];
  const text = render(evaluation);
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  const counts = (r: CheckResult) => r.status === 'fail' || r.status === 'error' || (flags.strict === true && r.status === 'warn');
  return evaluation.results.some(counts) ? 1 : 0;
}

/**
 * Each measured result through the posture rules, as the agent judges it: a failing, warning or
 * erroring result the rules raise nothing for (its rule disabled, or an exception) is reported
 * as not applicable, saying so; severity and remediation are the rule's.
 */
export function judgePosture(results: CheckResult[], ruleset: Ruleset, node: string, kubeletConfig: string): CheckResult[] {
  const byCis = new Map(ruleset.rules.filter((r) => r.source === 'posture' && r.cis).map((r) => [r.cis!, r]));
  return results.map((r) => {
    const obs = checkObservation(r, node, kubeletConfig);
    const fired = matchState(ruleset, obs).map((m) => m.rule).sort((a, b) => b.rank - a.rank);
    const rule = fired[0] ?? byCis.get(r.id) ?? ruleset.byId.get(`posture.${r.id}`);
    const out: CheckResult = { ...r };
    if (rule) {
      out.severity = rule.severity as Severity;
      out.remediation = rule.remediation(obs);
      if (rule.mitre.length > 0) out.mitre = [...rule.mitre];
    }
    if (fired.length === 0 && (r.status === 'fail' || r.status === 'warn' || r.status === 'error')) {
      out.status = 'na';
      out.evidence = `${r.evidence} (not judged: no enabled rule raises it here)`;
    }
    return out;
  });
}

/** One refresh of the runtime collector, judged by the rules: each finding it opens is a failing (or, for info, warning) result. */
async function runtimeResults(flags: CheckFlags, ruleset: Ruleset): Promise<CheckResult[]> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nodewarden-check-'));
  const findings: Finding[] = [];
  const parsed = runtimeCollectorFactory.validate({ socket: flags.criSocket, useEvents: false });
  if (!parsed.ok) throw new Error(`--cri-socket: ${parsed.errors.join('; ')}`);
  const facts = new NodeFacts();
  const logger = pino({ level: 'silent' });
  const engine = new RuleEngine(ruleset, {
    sink: { emit: async (fs) => void findings.push(...fs) }, logger, registry: new Registry(), stateDir: null, repeatWindowMs: 0,
  });
  const collector = new RuntimeCollector(parsed.config, {
    hostRoot: flags.hostRoot, stateDir, node: flags.node, facts, sink: engine.sinkFor('runtime'), logger, metrics: new Registry(),
  });
  try {
    await collector.start();
  } finally {
    await collector.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
  const unreachable = findings.find((f) => f.ruleId === 'runtime.unavailable');
  if (unreachable && !collector.socketPath && !flags.criSocket) {
    return [{
      id: 'runtime', title: 'Container runtime state', severity: 'info', status: 'na', component: 'runtime', subject: 'runtime',
      evidence: 'no container runtime socket found (give one with --cri-socket)', expected: 'a CRI runtime on this node', remediation: '',
    }];
  }
  const open = findings.filter((f) => f.state === 'open');
  if (open.length === 0) {
    return [{
      id: 'runtime', title: 'Container runtime state', severity: 'info', status: 'pass', component: 'runtime', subject: collector.socketPath ?? 'runtime',
      evidence: `${facts.inventory.containers().length} containers checked, nothing found`, expected: 'no risky container settings', remediation: '',
    }];
  }
  return open.map((f) => ({
    id: f.ruleId,
    title: f.title,
    severity: f.severity,
    // Informational findings (expected privilege on an allow-listed workload) are reported, not failed.
    status: f.severity === 'info' ? 'warn' : 'fail',
    evidence: f.evidence ?? f.message,
    expected: f.expected ?? '',
    remediation: f.remediation ?? '',
    component: 'runtime',
    subject: f.kubernetes?.namespace ? `${f.kubernetes.namespace}/${f.kubernetes.pod}/${f.kubernetes.container}` : f.container?.id ?? f.fingerprint,
    mitre: f.mitre,
  }));
}
