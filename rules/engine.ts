// The rule engine: where observations become findings. Collectors hand it observations (through
// the ObservationSink each one is given); it evaluates the ruleset, folds repeats, applies
// per-rule rate limits and the open/resolved lifecycle, and hands findings to the daemon's
// emitter. The ruleset can be swapped at any time (hot reload): an observation is evaluated
// against the ruleset current when it arrives, whole, never half old and half new.
//
//   observe(exec) ─▶ index by process.name ─▶ conditions ─▶ exceptions ─▶ one finding naming every
//                    matched rule (most severe first) ─▶ rate limit ─▶ repeat folding ─▶ emit
//   state(scope)  ─▶ lifecycle (open once, resolve once) ─▶ emit
//   report(agent) ─▶ emit

import path from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Finding, FindingSink, Severity } from '../core/finding.js';
import type { ExecObservation, Observation, ObservationSink, StateChange, StateObservation } from '../core/observation.js';
import { describeError } from '../core/errors.js';
import { type CompiledRule, type MatchHooks, type Ruleset, matchRules } from './ruleset.js';
import { FindingLifecycle, type ScopeChange } from './lifecycle.js';
import { matchState, resolvedNow, stateFinding } from './state.js';
import { RepeatFolder } from './repeat-folder.js';
import { RateLimiter } from './rate-limit.js';
import type { Baselines } from './baseline.js';

export interface EngineOptions {
  sink: FindingSink;
  logger: Logger;
  registry: Registry;
  /** Where lifecycle state is kept: `<stateDir>/<collector>/findings.json`. Null: in memory (check, tests). */
  stateDir: string | null;
  /** Identical detections within this window are folded into one with a count. */
  repeatWindowMs: number;
  /** Process baselines; none: `baseline.state` is always ''. */
  baselines?: Baselines;
}

const NO_BASELINE = Object.freeze({ state: '', known: false, workload: '' });

export class RuleEngine {
  private ruleset: Ruleset;
  private readonly folder: RepeatFolder;
  private readonly limiter = new RateLimiter();
  private readonly lifecycles = new Map<string, FindingLifecycle>();
  private readonly matches: Counter<'rule'>;
  private readonly suppressed: Counter<'rule' | 'reason'>;
  private readonly errors: Counter<'rule'>;
  private readonly errorLogged = new Set<string>();
  private summaryTimer: NodeJS.Timeout | null = null;
  /**
   * A state observation's findings, by the observation object and the ruleset that judged it:
   * collectors hand the same object again while nothing about it changed (a container between
   * two refreshes), and it is not judged again.
   */
  private stateMemo = new WeakMap<object, { ruleset: Ruleset; findings: Finding[] }>();
  /** The last state each collector offered, by scope: judged again when the rules change. */
  private readonly lastState = new Map<string, Map<string, StateChange>>();
  /** State judgements in order, so a re-judgement never overtakes a collector's own. */
  private stateQueue: Promise<unknown> = Promise.resolve();

  constructor(ruleset: Ruleset, private readonly opts: EngineOptions) {
    this.ruleset = ruleset;
    this.folder = new RepeatFolder(opts.repeatWindowMs, (fs) => this.emit(fs));
    const reg = opts.registry;
    this.matches = new Counter({ name: 'nodewarden_rule_matches_total', help: 'Observations a rule matched (before exceptions, rate limits and folding).', labelNames: ['rule'], registers: [reg] });
    this.suppressed = new Counter({ name: 'nodewarden_rule_suppressed_total', help: 'Matches not sent on their own, by rule and reason: exception, rate-limit, folded (sent later as a count).', labelNames: ['rule', 'reason'], registers: [reg] });
    this.errors = new Counter({ name: 'nodewarden_rule_evaluation_errors_total', help: 'Conditions that failed to evaluate (counted as no match).', labelNames: ['rule'], registers: [reg] });
    const self = this;
    new Gauge({ name: 'nodewarden_rules_loaded', help: 'Enabled rules in the ruleset in use.', registers: [reg], collect() { this.set(self.ruleset.rules.length); } });
    const b = opts.baselines;
    if (b) {
      new Gauge({ name: 'nodewarden_baseline_workloads', help: 'Workloads with a process baseline.', registers: [reg], collect() { this.set(b.size); } });
      new Gauge({ name: 'nodewarden_baseline_untracked_execs', help: 'Execs of workloads that got no baseline because rules.baselines.maxWorkloads was reached (since start).', registers: [reg], collect() { this.set(b.dropped); } });
    }
  }

  start(): void {
    this.folder.start();
    this.summaryTimer = setInterval(() => {
      this.summariseHeld();
      this.saveBaselines();
    }, 10_000);
    this.summaryTimer.unref();
  }

  stop(): void {
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    this.summaryTimer = null;
    this.folder.stop();
    this.summariseHeld();
    this.saveBaselines();
  }

  private saveBaselines(): void {
    try {
      this.opts.baselines?.save();
    } catch (err) {
      this.opts.logger.error({ err: describeError(err) }, 'The process baselines could not be saved; they are kept in memory and saved again later.');
    }
  }

  get rules(): Ruleset {
    return this.ruleset;
  }

  /**
   * Use another ruleset from the next observation on; the states collectors last offered (the
   * runtime, the posture results) are judged again at once, so a changed state rule opens and
   * resolves its findings now rather than at the collector's next refresh. Resolves when done.
   */
  swap(ruleset: Ruleset): Promise<void> {
    this.ruleset = ruleset;
    this.errorLogged.clear();
    const again = [...this.lastState].map(([collector, scopes]) => this.state(collector, [...scopes.values()]).catch((err: unknown) => {
      // Not recorded: the collector's next refresh works the same transitions out.
      this.opts.logger.error({ err: describeError(err), collector }, 'Findings of the new rules could not be spooled; they follow the next refresh.');
    }));
    return Promise.all(again).then(() => undefined);
  }

  /** The sink a collector is given: its state goes to its own lifecycle file. */
  sinkFor(collector: string): ObservationSink {
    return {
      observe: (obs) => this.observe(obs),
      state: (changes) => this.state(collector, changes),
      report: (findings) => this.opts.sink.emit(findings),
    };
  }

  /** Evaluate and send; never throws (a failed emit is logged: execs cannot be offered again). */
  observe(observations: Observation[]): void {
    const out: Finding[] = [];
    for (const obs of observations) {
      let f: Finding | null;
      try {
        f = this.evaluate(obs);
      } catch (err) {
        // A bug or a hostile observation must not stop the others: count it and go on.
        this.errors.inc({ rule: '(engine)' });
        this.opts.logger.warn({ err: describeError(err), exe: obs.process?.exe }, 'An observation could not be evaluated.');
        continue;
      }
      if (!f) continue;
      const primary = f.ruleId;
      // Repeats are folded first (they cost no tokens); what the folder lets through is rate-limited.
      const key = `${f.fingerprint}|${obs.process.args.slice(0, 512)}`;
      const sent = this.folder.offer(key, f);
      if (sent.length === 0 || sent[0] !== f) this.suppressed.inc({ rule: primary, reason: 'folded' });
      for (const s of sent) {
        if (s !== f || this.limiter.take(primary, this.maxPerMinute(primary))) out.push(s);
        else this.suppressed.inc({ rule: primary, reason: 'rate-limit' });
      }
    }
    if (out.length > 0) this.emit(out);
  }

  /** Which rules an observation matches (exceptions applied), most severe first. */
  matchRules(obs: Observation, count = false): CompiledRule[] {
    obs.baseline ??= NO_BASELINE;
    return matchRules(this.ruleset, obs, this.hooks(count));
  }

  private hooks(count: boolean): MatchHooks {
    return {
      matched: count ? (r) => this.matches.inc({ rule: r.id }) : undefined,
      excepted: count ? (r) => this.suppressed.inc({ rule: r.id, reason: 'exception' }) : undefined,
      failed: (r, err) => {
        this.errors.inc({ rule: r.id });
        if (this.errorLogged.has(r.id)) return;
        this.errorLogged.add(r.id);
        this.opts.logger.warn({ rule: r.id, err: describeError(err) }, 'A rule\'s condition failed to evaluate; it counts as no match.');
      },
    };
  }

  /** The problems a state observation is now: one finding per rule that holds (per element for `each` rules). */
  judgeState(obs: StateObservation): Finding[] {
    const memo = this.stateMemo.get(obs);
    if (memo && memo.ruleset === this.ruleset) return memo.findings;
    let findings: Finding[];
    try {
      findings = matchState(this.ruleset, obs, this.hooks(true)).map((m) => stateFinding(m, obs));
    } catch (err) {
      // A bug or a hostile observation must not stop the scope: counted, and judged again next time.
      this.errors.inc({ rule: '(engine)' });
      this.opts.logger.warn({ err: describeError(err), key: obs.key }, 'A state observation could not be evaluated.');
      return [];
    }
    this.stateMemo.set(obs, { ruleset: this.ruleset, findings });
    return findings;
  }

  /** One finding for the observation naming every rule it matched, or null. */
  evaluate(obs: ExecObservation): Finding | null {
    const b = this.opts.baselines;
    const k = obs.kubernetes;
    obs.baseline = b && obs.inContainer && k.namespace ? b.observe(k.namespace, k.pod, k.container, obs.process.exe) : NO_BASELINE;
    const matched = this.matchRules(obs, true);
    if (matched.length === 0) return null;
    const top = matched[0]!;
    const where = obs.kubernetes.namespace
      ? `${obs.kubernetes.namespace}/${obs.kubernetes.pod}/${obs.kubernetes.container}`
      : obs.container.id ? `container/${obs.container.id.slice(0, 12)}` : obs.inContainer ? 'container/unknown' : 'host';
    const others = matched.slice(1);
    const out = top.output(obs);
    const message = others.length === 0 ? out : `${/[.!?…]$/.test(out) ? out : `${out}.`} Also: ${others.map((r) => r.title).join('; ')}.`;
    return {
      source: 'process',
      ruleId: top.id,
      ruleIds: matched.length > 1 ? matched.map((r) => r.id) : undefined,
      severity: top.severity as Severity,
      title: top.title,
      message,
      fingerprint: `process:${top.id}:${where}:${obs.process.exe}`,
      mitre: union(matched.map((r) => r.mitre)),
      evidence: evidenceOf(obs),
      remediation: top.remediation(obs),
      tags: union([['process', obs.process.capture], ...matched.map((r) => r.tags), obs.process.argvMissing ? ['argv-missing'] : []]),
      timeUnixNano: obs.timeUnixNano,
      process: {
        pid: obs.process.pid, ppid: obs.process.ppid, uid: obs.process.uid, euid: obs.process.euid, gid: obs.process.gid,
        egid: obs.process.egid, auid: obs.process.auid, exe: obs.process.exe, comm: obs.process.comm, argv: obs.process.argv,
        argvTruncated: obs.process.argvTruncated, cwd: obs.process.cwd, capture: obs.process.capture,
        ancestors: obs.ancestors.map((a) => ({ pid: a.pid, exe: a.exe, comm: a.comm, argv: a.argv })),
      },
      container: obs.container.id ? { id: obs.container.id, name: obs.container.name, image: obs.container.image, imageDigest: obs.container.imageDigest, privileged: obs.container.privileged } : undefined,
      kubernetes: obs.kubernetes.namespace ? { ...obs.kubernetes } : undefined,
    };
  }

  private state(collector: string, changes: StateChange[]): Promise<Finding[]> {
    let last = this.lastState.get(collector);
    if (!last) this.lastState.set(collector, (last = new Map()));
    for (const c of changes) last.set(c.scope, c);
    const run = this.stateQueue.then(() => this.judgeScopes(collector, changes));
    this.stateQueue = run.catch(() => undefined);
    return run;
  }

  private async judgeScopes(collector: string, changes: StateChange[]): Promise<Finding[]> {
    let lc = this.lifecycles.get(collector);
    if (!lc) {
      lc = new FindingLifecycle(this.opts.stateDir === null ? null : path.join(this.opts.stateDir, collector, 'findings.json'));
      this.lifecycles.set(collector, lc);
    }
    const rs = this.ruleset;
    const scoped = changes.map((c): ScopeChange => ({ scope: c.scope, current: c.observations.flatMap((o) => this.judgeState(o)), resolvedAs: resolvedNow(rs, c.observations) }));
    return lc.apply((fs) => this.opts.sink.emit(fs), scoped);
  }

  private emit(findings: Finding[]): void {
    this.opts.sink.emit(findings).catch((err) => this.opts.logger.error({ err: describeError(err), count: findings.length }, 'Findings could not be spooled.'));
  }

  private maxPerMinute(rule: string): number {
    return this.ruleset.byId.get(rule)?.maxPerMinute ?? Number.POSITIVE_INFINITY;
  }

  /** Rules that were rate-limited and are quiet again: one finding saying how many were held. */
  private summariseHeld(): void {
    const held = this.limiter.drainHeld((rule) => this.maxPerMinute(rule));
    if (held.length === 0) return;
    this.emit(held.map(({ rule, held: n }): Finding => ({
      source: 'agent', ruleId: 'agent.rule-rate-limited', severity: 'medium',
      title: 'A rule was rate-limited',
      message: `Rule ${rule} matched more often than its limit of ${this.maxPerMinute(rule)} per minute; ${n} of its findings were counted but not sent.`,
      fingerprint: `agent:rule-rate-limited:${rule}:${Date.now()}`,
      evidence: `${n} findings of ${rule} held back`,
      remediation: `Add an exception for the workload that triggers ${rule}, or raise its maxPerMinute.`,
      attributes: { rule, count: String(n) },
    })));
  }
}

function union(lists: string[][]): string[] {
  return [...new Set(lists.flat())];
}

function evidenceOf(o: ExecObservation): string {
  const p = o.process;
  return `exe ${p.exe}, argv ${JSON.stringify(p.argv.slice(0, 8))}, uid ${p.uid}, euid ${p.euid}, parent ${o.parent.exe || `pid ${p.ppid}`}${p.stdin ? `, stdin ${p.stdin}` : ''}${p.stdout ? `, stdout ${p.stdout}` : ''}`;
}
