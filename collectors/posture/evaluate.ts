// One full posture evaluation of a node: discover the components, load their effective
// configuration, run every check of the catalogue (concurrently; each host file is read at most
// once thanks to the shared HostView) and return the results in catalogue order. Never throws on
// host content: a check that fails unexpectedly becomes an 'error' result naming its id.

import type { HostFs } from '../host/host-fs.js';
import { describeError } from '../../core/errors.js';
import { HostView } from './host-view.js';
import { Accounts } from './accounts.js';
import { discover } from './discovery.js';
import { loadKubeletConfig } from './kubelet-config.js';
import { loadKubeProxyConfig } from './kube-proxy-config.js';
import { catalogFor, type CheckDefinition } from './catalog.js';
import { chooseBenchmark, type BenchmarkChoice } from './benchmark.js';
import { COMPONENT_CHECKS } from './component-checks.js';
import type { CheckContext, CheckFn, Outcome } from './check.js';
import { CONTROL_PLANE_CHECKS } from './control-plane.js';
import { WORKER_FILE_CHECKS } from './worker-files.js';
import { SETTING_CHECKS } from './setting-checks.js';
import { CERT_CHECKS } from './cert-checks.js';
import type { CheckResult, Evaluation } from './types.js';

export const DEFAULT_EXPIRY_WARN_DAYS = 30;

export interface EvaluateOptions {
  /** The time certificates are judged against (tests pin it). */
  now?: Date;
  /** Warn when a certificate expires within this many days (default 30). */
  expiryWarnDays?: number;
  /**
   * Where processes are looked for (its /proc). Defaults to `fs`. Tests pass HostFs('/') to find
   * a real spawned "kubelet" while reading the files it names from a fixture host root.
   */
  procFs?: HostFs;
  /** The CIS version to follow: 'auto' (the default) picks it from the node's Kubernetes version. */
  benchmark?: BenchmarkChoice;
}

/** Every catalogue id mapped to its implementation. */
export const CHECKS: Readonly<Record<string, CheckFn>> = {
  ...CONTROL_PLANE_CHECKS,
  ...COMPONENT_CHECKS,
  ...WORKER_FILE_CHECKS,
  ...SETTING_CHECKS,
  ...CERT_CHECKS,
};

export async function evaluateNode(fs: HostFs, options: EvaluateOptions = {}): Promise<Evaluation> {
  const started = performance.now();
  const view = new HostView(fs, options.procFs ?? fs);
  const discovery = await discover(view);
  const [kubelet, proxy, accounts, benchmark] = await Promise.all([
    loadKubeletConfig(view, discovery.kubelet),
    loadKubeProxyConfig(view, discovery.kubeProxy),
    Accounts.load(view),
    chooseBenchmark(view, discovery, options.benchmark),
  ]);
  const ctx: CheckContext = {
    view,
    discovery,
    kubelet,
    proxy,
    accounts,
    now: options.now ?? new Date(),
    expiryWarnDays: options.expiryWarnDays ?? DEFAULT_EXPIRY_WARN_DAYS,
    benchmark: benchmark.id,
  };
  const perCheck = await Promise.all(catalogFor(benchmark.id).map((def) => runCheck(ctx, def)));
  return {
    results: perCheck.flat(),
    watch: view.watchList(),
    discovery,
    benchmark,
    durationMs: performance.now() - started,
  };
}

async function runCheck(ctx: CheckContext, def: CheckDefinition): Promise<CheckResult[]> {
  const fn = CHECKS[def.id];
  let outcomes: Outcome[];
  try {
    if (!fn) throw new Error(`check ${def.id} has no implementation`);
    outcomes = await fn(ctx);
  } catch (err) {
    // A bug, not host content (which checks turn into results): still one row, never a crash.
    outcomes = [{ status: 'error', evidence: `check ${def.id} failed unexpectedly: ${describeError(err)}`, subject: def.component }];
  }
  return outcomes.map((o) => toResult(ctx, def, o));
}

function toResult(ctx: CheckContext, def: CheckDefinition, o: Outcome): CheckResult {
  // A Manual check that is not met asks for a person's review: a warning, never a failure.
  const review = def.manual === true && o.status === 'fail';
  return {
    id: def.id,
    title: def.title,
    status: review ? 'warn' : o.status,
    ...(o.reason || review ? { reason: o.reason ?? 'manual' } : {}),
    ...(def.manual ? { manual: true } : {}),
    evidence: o.evidence,
    expected: def.expected.replaceAll('{days}', String(ctx.expiryWarnDays)),
    component: def.component,
    subject: o.subject,
    ...(o.file ? { file: o.file } : {}),
  };
}
