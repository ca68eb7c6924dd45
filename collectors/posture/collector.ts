// The posture collector: runs the node's CIS checks (evaluate.ts) at start, whenever anything in
// a watched directory changes (inotify, debounced), and periodically as a safety net (a kubelet
// restarted with other flags shows only in /proc, which cannot be watched). Every result goes to the
// sink as an observation of the scope's state; the posture rules (rules/packs/posture.yaml) decide
// which are findings, and the lifecycle opens each once, resolves it once, and never repeats it.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Collector, CollectorContext, CollectorStatus } from '../collector.js';
import { UNKNOWN_ID, type PostureObservation } from '../../core/observation.js';
import { HostFs } from '../host/host-fs.js';
import { DirWatcher } from '../host/dir-watcher.js';
import { describeError } from '../../core/errors.js';
import { evaluateNode } from './evaluate.js';
import type { CheckResult, Evaluation } from './types.js';
import type { PostureConfig } from './factory.js';
import type { FileChange } from '../node-facts.js';
import { ChangeLedger, NO_CHANGE, attribute, checkPaths, unattributed, watchable, type ChangeAttribution } from './actor.js';

const SCOPE = 'posture';

/** A check result as the observation the posture rules judge; `change`: who changed its verdict, when it changed. */
export function checkObservation(r: CheckResult, node: string, kubeletConfig: string, change: ChangeAttribution = NO_CHANGE): PostureObservation {
  const f = r.file;
  return {
    kind: 'posture',
    key: r.subject,
    node,
    check: {
      id: r.id, title: r.title, status: r.status, reason: r.reason ?? '', component: r.component, subject: r.subject,
      evidence: r.evidence, expected: r.expected, config: kubeletConfig,
    },
    file: {
      path: f?.path ?? '', exists: f?.exists ?? false, mode: f?.mode ?? 0, uid: f?.uid ?? UNKNOWN_ID, gid: f?.gid ?? UNKNOWN_ID, kind: f?.kind ?? '',
    },
    change,
  };
}

const FAILING = new Set(['fail', 'warn', 'error']);
/** How long an evaluation after a file change that saw a verdict change waits for the audit record of the change. */
const AUDIT_GRACE_MS = 300;
const FILE_CHANGE = 'file change';

export class PostureCollector implements Collector {
  readonly name = 'posture';
  private readonly fs: HostFs;
  private watcher: DirWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private stopped = false;
  private last: Evaluation | null = null;
  private lastError: string | null = null;
  private readonly evaluations: Counter;
  private readonly duration: Histogram;
  private readonly checks: Gauge<'status'>;
  /** Recent changes to watched files, and who made them (from the process collector's audit source). */
  private readonly ledger = new ChangeLedger();
  /** Each result's status at the last evaluation whose state was recorded: `${id}\0${subject}` → status; null before the first. */
  private verdicts: Map<string, string> | null = null;
  private verdictsSinceNs = 0n;
  private watchedFiles = '';

  constructor(private readonly config: PostureConfig, private readonly ctx: CollectorContext) {
    this.fs = new HostFs(ctx.hostRoot);
    this.evaluations = new Counter({ name: 'nodewarden_posture_evaluations_total', help: 'Full evaluations of the node posture checks.', registers: [ctx.metrics] });
    this.duration = new Histogram({ name: 'nodewarden_posture_evaluation_seconds', help: 'Time for one full posture evaluation.', buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5], registers: [ctx.metrics] });
    this.checks = new Gauge({ name: 'nodewarden_posture_checks', help: 'Posture checks by status in the last evaluation.', labelNames: ['status'], registers: [ctx.metrics] });
  }

  async start(): Promise<void> {
    // A kubelet or kube-proxy exec may carry new flags: discover again at once.
    this.ctx.facts.on('component-exec', this.onComponentExec);
    this.ctx.facts.on('file-change', this.onFileChange);
    await this.evaluate('start');
    if (this.stopped) return;
    this.timer = setInterval(() => this.schedule('interval'), this.config.intervalMs);
    this.timer.unref();
  }

  private readonly onComponentExec = (c: { component: string }) => {
    if (c.component === 'kubelet' || c.component === 'kube-proxy') this.schedule(`${c.component} exec`);
  };

  private readonly onFileChange = (c: FileChange) => {
    this.ledger.add(c);
    this.schedule(FILE_CHANGE);
  };

  /** Re-run discovery and every check soon (e.g. the kubelet was seen restarting). */
  schedule(reason: string): void {
    // Changes during the quiet time join the pending evaluation; it is never pushed back, so a
    // directory that keeps changing cannot postpone evaluation for ever.
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.evaluate(reason);
    }, this.config.debounceMs);
  }

  /** The last evaluation, for status pages and the one-shot check. */
  lastEvaluation(): Evaluation | null {
    return this.last;
  }

  private evaluate(reason: string): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.rerun = false;
        try {
          await this.evaluateOnce(reason);
        } catch (err) {
          // Nothing from the host may stop the collector: say so and keep the last state.
          this.lastError = describeError(err);
          this.ctx.logger.error({ err: this.lastError, reason }, 'A posture evaluation failed.');
        }
      } while (this.rerun && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async evaluateOnce(reason: string): Promise<void> {
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const end = this.duration.startTimer();
    let evaluation: Evaluation;
    try {
      evaluation = await evaluateNode(this.fs, { benchmark: this.config.benchmark });
    } catch (err) {
      // evaluateNode turns bad host input into results; reaching here is a bug, not a host
      // problem: say so and keep the previous state rather than resolving everything.
      this.lastError = describeError(err);
      this.ctx.logger.error({ err: this.lastError, reason }, 'The posture evaluation failed.');
      return;
    } finally {
      end();
    }
    this.lastError = null;
    this.evaluations.inc();
    this.last = evaluation;
    const byStatus: Record<string, number> = { pass: 0, fail: 0, warn: 0, na: 0, error: 0 };
    for (const r of evaluation.results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
    for (const [status, n] of Object.entries(byStatus)) this.checks.set({ status }, n);

    // Every result is offered, passing ones too: the rules decide which are problems, and a
    // problem that resolves is told what is true now.
    const config = evaluation.discovery.kubelet.configFile?.hostPath ?? '';
    // After a file change, a verdict that changed may be waiting for the audit record of that
    // change (inotify can be quicker than the audit stream): it gets a moment, once. Other causes
    // (a kubelet restarted with other flags, the periodic scan) have no record to wait for.
    const mayWait = reason === FILE_CHANGE;
    let changes = evaluation.results.map((r) => this.whoChanged(r, evaluation, !mayWait));
    if (changes.some((c) => c === null)) {
      await new Promise((resolve) => setTimeout(resolve, AUDIT_GRACE_MS));
      changes = evaluation.results.map((r) => this.whoChanged(r, evaluation, true));
    }
    const observations = evaluation.results.map((r, i) => checkObservation(r, this.ctx.node, config, changes[i] ?? NO_CHANGE));
    try {
      const transitions = await this.ctx.sink.state([{ scope: SCOPE, observations }]);
      this.verdicts = new Map(evaluation.results.map((r) => [`${r.id}\0${r.subject}`, r.status]));
      this.verdictsSinceNs = startedNs;
      if (transitions.length > 0) {
        this.ctx.logger.info({ reason, opened: transitions.filter((t) => t.state === 'open').length, resolved: transitions.filter((t) => t.state === 'resolved').length }, 'Posture changed.');
      }
    } catch (err) {
      // Not recorded: the next evaluation works out the same transitions and sends them again.
      this.lastError = `findings could not be spooled: ${describeError(err)}`;
      this.ctx.logger.error({ err: describeError(err) }, 'Posture findings could not be spooled; they will be sent after the next evaluation.');
    }
    if (!this.stopped) {
      await this.updateWatches(evaluation.watch);
      this.publishWatchedFiles(evaluation.watch);
    }
  }

  /**
   * Who changed a check's verdict: for a result whose status differs from the last recorded
   * evaluation (or a subject new since then), the latest audit record of a change to the files
   * behind it since that evaluation began (a second's slack for clocks). Nothing for a steady
   * verdict; at the first evaluation, a failing result says that any change predates the agent.
   * null: no record yet (the caller waits a moment and asks again with `last`).
   */
  private whoChanged(r: CheckResult, e: Evaluation, last = false): ChangeAttribution | null {
    const failing = FAILING.has(r.status);
    if (this.verdicts === null) {
      return failing ? unattributed('the check did not pass when the agent started; a change made while the agent was not running has no record') : NO_CHANGE;
    }
    const before = this.verdicts.get(`${r.id}\0${r.subject}`);
    if (before === r.status || (before === undefined && !failing)) return NO_CHANGE;
    const watch = this.ctx.facts.fileWatch;
    if (watch !== 'active') return unattributed(`changes to the node's files are not watched here (${watch || 'the process collector is off'})`);
    const paths = checkPaths(r, e.discovery);
    const c = this.ledger.latest(paths, this.verdictsSinceNs - 1_000_000_000n);
    if (c) return attribute(c);
    if (!last) return null;
    return unattributed(`no audit record of a change to ${paths.length > 0 ? paths.join(', ') : 'its files'} since the previous evaluation (a change through a mount the watch does not see, or of a file not watched)`);
  }

  /** The files this evaluation read, for the process collector's audit watch rules. */
  private publishWatchedFiles(paths: string[]): void {
    const files = watchable(paths);
    const key = files.join('\n');
    if (key === this.watchedFiles) return;
    this.watchedFiles = key;
    this.ctx.facts.watchFiles = files;
    this.ctx.facts.emit('watch-files', files);
  }

  private async updateWatches(hostPaths: string[]): Promise<void> {
    // Watch the directory of every path (and every directory named), under the host root with
    // symlinks resolved inside it. A directory that does not exist yet is covered by its nearest
    // existing ancestor, so its creation is seen too.
    const dirs = new Set<string>();
    for (const p of hostPaths) {
      let real: string;
      try {
        real = await this.fs.resolve(p);
      } catch {
        continue; // a symlink loop or the like: the evaluation already reports it; the periodic scan covers it
      }
      let dir = isDirectory(real) ? real : path.dirname(real);
      while (dir.length > this.fs.root.length && !existsSync(dir)) dir = path.dirname(dir);
      dirs.add(dir);
    }
    this.watcher ??= new DirWatcher(
      () => this.schedule(FILE_CHANGE),
      (dir, err) => this.ctx.logger.debug({ dir, err: describeError(err) }, 'A posture directory watch ended; the next evaluation sets it again.'),
    );
    this.watcher.set(dirs);
  }

  status(): CollectorStatus {
    if (this.lastError) return { name: this.name, healthy: false, detail: `the last evaluation failed: ${this.lastError}` };
    if (!this.last) return { name: this.name, healthy: false, detail: 'no evaluation yet' };
    const failing = this.last.results.filter((r) => FAILING.has(r.status)).length;
    return { name: this.name, healthy: true, detail: `${this.last.results.length} checks, ${failing} failing, ${this.watcher?.size ?? 0} directories watched` };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ctx.facts.off('component-exec', this.onComponentExec);
    this.ctx.facts.off('file-change', this.onFileChange);
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.running;
    this.watcher?.close();
    this.watcher = null;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
