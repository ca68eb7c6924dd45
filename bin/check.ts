// `nodewarden check`: every posture check once, plus the container runtime's state when a CRI
// socket is found (or given with --cri-socket), printed as a table, JSON or JUnit XML. Exit code
// 1 when any check fails or could not be evaluated: a drop-in for a kube-bench node run.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { HostFs } from '../collectors/host/host-fs.js';
import { evaluateNode } from '../collectors/posture/evaluate.js';
import { renderJson, renderJunit, renderTable } from '../collectors/posture/report.js';
import type { CheckResult } from '../collectors/posture/types.js';
import type { Finding } from '../core/finding.js';
import { NodeFacts } from '../collectors/node-facts.js';
import { RuntimeCollector } from '../collectors/runtime/collector.js';
import { runtimeCollectorFactory } from '../collectors/runtime/factory.js';

export interface CheckFlags {
  hostRoot: string;
  format: 'table' | 'json' | 'junit';
  criSocket?: string;
  node: string;
}

export async function runCheck(flags: CheckFlags): Promise<number> {
  const evaluation = await evaluateNode(new HostFs(flags.hostRoot));
  evaluation.results.push(...(await runtimeResults(flags)));
  const render = { table: renderTable, json: renderJson, junit: renderJunit }[flags.format];
  const text = render(evaluation);
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return evaluation.results.some((r) => r.status === 'fail' || r.status === 'error') ? 1 : 0;
}

/** One refresh of the runtime collector; its open findings become failing results. */
async function runtimeResults(flags: CheckFlags): Promise<CheckResult[]> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'nodewarden-check-'));
  const findings: Finding[] = [];
  const parsed = runtimeCollectorFactory.validate({ socket: flags.criSocket, useEvents: false });
  if (!parsed.ok) throw new Error(`--cri-socket: ${parsed.errors.join('; ')}`);
  const facts = new NodeFacts();
  const collector = new RuntimeCollector(parsed.config, {
    hostRoot: flags.hostRoot, stateDir, node: flags.node, facts,
    sink: {
      observe: () => undefined,
      // One refresh: every problem seen is open.
      state: async (changes) => {
        const open = changes.flatMap((c) => c.current.map((f) => ({ ...f, state: 'open' as const })));
        findings.push(...open);
        return open;
      },
      report: async (fs) => void findings.push(...fs),
    },
    logger: pino({ level: 'silent' }), metrics: new Registry(),
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
