// Hot reload: the rule folders are watched (inotify through fs.watch, plus a look at every file's
// size and time every few seconds for what inotify misses, such as a ConfigMap's symlink swap on
// some kernels). A change is loaded in full; a valid ruleset replaces the one in use between two
// observations, without restarting a collector or dropping an event. A broken one is refused:
// the old rules stay, the problems are logged, and an agent event says so.

import { type FSWatcher, statSync, watch } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Finding } from '../core/finding.js';
import { formatProblem } from './pack.js';
import { type LoadOptions, type Ruleset, loadRuleset, packFiles } from './ruleset.js';

export interface ReloaderOptions {
  load: LoadOptions;
  logger: Logger;
  registry: Registry;
  /** A valid ruleset was loaded. */
  onRuleset: (rs: Ruleset) => void;
  /** Agent findings (a refused reload). */
  report: (findings: Finding[]) => Promise<void>;
  debounceMs?: number;
  pollMs?: number;
}

export class RuleReloader {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private signature = '';
  private readonly reloads: Counter<'result'>;
  private stopped = false;

  constructor(private readonly opts: ReloaderOptions) {
    this.reloads = new Counter({ name: 'nodewarden_rules_reloads_total', help: 'Rule reloads after a change in a rule folder, by result (ok, error).', labelNames: ['result'], registers: [opts.registry] });
  }

  private get dirs(): string[] {
    return [this.opts.load.builtinDir, ...this.opts.load.dirs].filter((d): d is string => d !== undefined);
  }

  start(): void {
    this.signature = this.currentSignature();
    for (const dir of this.dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.schedule());
        w.on('error', (err) => this.opts.logger.warn({ dir, err: err.message }, 'A rule folder can no longer be watched; changes are found by polling.'));
        this.watchers.push(w);
      } catch (err) {
        this.opts.logger.warn({ dir, err: (err as Error).message }, 'A rule folder cannot be watched; changes are found by polling.');
      }
    }
    this.poll = setInterval(() => {
      if (this.currentSignature() !== this.signature) this.schedule();
    }, this.opts.pollMs ?? 5_000);
    this.poll.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), this.opts.debounceMs ?? 250);
    this.timer.unref();
  }

  /** Load now; returns whether the new rules are in use. */
  reload(): boolean {
    this.timer = null;
    const sig = this.currentSignature();
    if (sig === this.signature) return false;
    this.signature = sig;
    let r: ReturnType<typeof loadRuleset>;
    try {
      r = loadRuleset(this.opts.load);
    } catch (err) {
      // A bug or an input no check foresaw: the rules in use stay, and it is said.
      r = { ok: false, problems: [{ file: this.dirs.join(', '), line: 0, message: `the rules could not be loaded: ${(err as Error).message}` }] };
    }
    if (r.ok) {
      this.reloads.inc({ result: 'ok' });
      this.opts.onRuleset(r.ruleset);
      this.opts.logger.info({ rules: r.ruleset.rules.length, disabled: r.ruleset.disabled.length }, 'Rules reloaded.');
      return true;
    }
    this.reloads.inc({ result: 'error' });
    const lines = r.problems.slice(0, 50).map(formatProblem);
    this.opts.logger.error({ problems: lines }, 'The changed rules have errors; the rules in use stay.');
    const first = r.problems[0]!;
    void this.opts.report([{
      source: 'agent', ruleId: 'agent.rules-reload-failed', severity: 'medium',
      title: 'Changed rules were refused: they have errors',
      message: `A change in the rule folders has ${r.problems.length} error${r.problems.length === 1 ? '' : 's'}; the rules in use stay until it is fixed. First: ${formatProblem(first)}`,
      fingerprint: `agent:rules-reload-failed:${sig.length}:${Date.now()}`,
      evidence: lines.join('\n').slice(0, 4000),
      remediation: 'Run nodewarden rules validate on the folder and fix what it reports.',
      attributes: { errors: String(r.problems.length), file: first.file, line: String(first.line) },
    }]).catch((err) => this.opts.logger.error({ err: String(err) }, 'The refused reload could not be reported.'));
    return false;
  }

  /** Every pack file's path, size and time: what a change alters. */
  private currentSignature(): string {
    const parts: string[] = [];
    for (const dir of this.dirs) {
      for (const file of packFiles(dir, [])) {
        try {
          const st = statSync(file);
          parts.push(`${path.resolve(file)}:${st.size}:${st.mtimeMs}:${st.ino}`);
        } catch {
          parts.push(`${file}:gone`);
        }
      }
    }
    return parts.join('\n');
  }
}
