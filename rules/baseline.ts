// Process baselines: for each workload (namespace + owning workload, from the pod name, + container
// name) the executables seen while it learns; afterwards an exec outside the baseline is an
// anomaly (rule process.unexpected-process in rules/packs/exec.yaml reads `baseline`). A baseline
// learns for `learnMs` after its workload's first exec, then is active; `lock` makes it active at
// once, `reset` forgets it and starts learning again. Baselines survive restarts (a JSON file in
// the state dir, written atomically), and everything is bounded: workloads, executables each.

import { readFileSync } from 'node:fs';
import { writeFileDurably } from '../core/durable-file.js';

export interface BaselineView {
  /** '' (no baseline: not in a pod), 'learning' or 'active'. */
  state: string;
  /** The executable is in the workload's baseline. */
  known: boolean;
  /** The workload's key: namespace/workload/container. */
  workload: string;
}

export interface Baseline {
  workload: string;
  state: 'learning' | 'active';
  /** When learning ends (ms since the epoch); for an active baseline, when it ended. */
  learnUntil: number;
  /** Locked by hand: never learns again until reset. */
  locked: boolean;
  /** The baseline was full: executables beyond the cap were not learnt. */
  full: boolean;
  exes: string[];
}

export interface BaselineOptions {
  /** `<stateDir>/baselines.json`; null keeps them in memory. */
  file: string | null;
  learnMs: number;
  maxWorkloads?: number;
  maxExes?: number;
  now?: () => number;
}

interface Entry {
  learnUntil: number;
  locked: boolean;
  full: boolean;
  exes: Set<string>;
}

const NONE: BaselineView = Object.freeze({ state: '', known: false, workload: '' });

/** The alphabet of Kubernetes' generated name suffixes and template hashes (no vowels: no words). */
const K = '[bcdfghjklmnpqrstvwxz2456789]';
const DEPLOYMENT_POD = new RegExp(`^(.+)-${K}{6,10}-${K}{5}$`);
const GENERATED_POD = new RegExp(`^(.+)-${K}{5}$`);

/**
 * The workload a pod belongs to, from its name as controllers make them: a Deployment's pods are
 * `name-<replicaset hash>-<5 chars>`, a DaemonSet's or Job's `name-<5 chars>`, a StatefulSet's
 * `name-<ordinal>`; anything else (a static pod, a bare pod) is its own workload.
 */
export function workloadOf(pod: string): string {
  const m = DEPLOYMENT_POD.exec(pod) ?? GENERATED_POD.exec(pod) ?? /^(.+)-\d+$/.exec(pod);
  const name = m ? m[1]! : pod;
  // A CronJob's Jobs are `name-<scheduled minute>`: every run is the same workload.
  return name.replace(/-\d{8,}$/, '');
}

/** Whether a workload key is selected by a prefix given by a person: whole segments only. */
function selected(workload: string, prefix: string): boolean {
  const p = prefix.replace(/\/+$/, '');
  return p === '' || workload === p || workload.startsWith(`${p}/`);
}

export class Baselines {
  private readonly map = new Map<string, Entry>();
  private dirty = false;
  private readonly maxWorkloads: number;
  private readonly maxExes: number;
  private readonly now: () => number;
  /** Execs of workloads not tracked because the table was full. */
  dropped = 0;

  get size(): number {
    return this.map.size;
  }

  constructor(private readonly opts: BaselineOptions) {
    this.maxWorkloads = opts.maxWorkloads ?? 10_000;
    this.maxExes = opts.maxExes ?? 1_000;
    this.now = opts.now ?? Date.now;
    if (opts.file) this.load(opts.file);
  }

  /** Learn or judge one exec; what rules see as `baseline`. */
  observe(namespace: string, pod: string, container: string, exe: string): BaselineView {
    if (!namespace || !container) return NONE;
    const workload = `${namespace}/${workloadOf(pod)}/${container}`;
    const now = this.now();
    let e = this.map.get(workload);
    if (!e) {
      if (this.map.size >= this.maxWorkloads) {
        this.dropped++;
        return NONE;
      }
      e = { learnUntil: now + this.opts.learnMs, locked: false, full: false, exes: new Set() };
      this.map.set(workload, e);
      this.dirty = true;
    }
    const known = e.exes.has(exe);
    if (e.learnUntil > now && !e.locked) {
      if (!known) {
        if (e.exes.size < this.maxExes) e.exes.add(exe);
        else e.full = true;
        this.dirty = true;
      }
      return { state: 'learning', known: true, workload };
    }
    return { state: 'active', known, workload };
  }

  list(): Baseline[] {
    const now = this.now();
    return [...this.map].map(([workload, e]) => ({
      workload, state: e.learnUntil > now && !e.locked ? 'learning' : 'active', learnUntil: e.learnUntil,
      locked: e.locked, full: e.full, exes: [...e.exes].sort(),
    }));
  }

  /** Stop learning now (all, or the workloads under `prefix`: `ns`, `ns/workload`, or a whole key); returns how many. */
  lock(prefix = ''): number {
    let n = 0;
    for (const [k, e] of this.map) {
      if (!selected(k, prefix)) continue;
      e.locked = true;
      e.learnUntil = Math.min(e.learnUntil, this.now());
      n++;
    }
    if (n > 0) this.dirty = true;
    return n;
  }

  /** Forget baselines (all, or those under `prefix`, as for lock): they learn again from their next exec. */
  reset(prefix = ''): number {
    let n = 0;
    for (const k of [...this.map.keys()]) {
      if (!selected(k, prefix)) continue;
      this.map.delete(k);
      n++;
    }
    if (n > 0) this.dirty = true;
    return n;
  }

  /** Write the file when something changed (atomically: a crash leaves the old or the new). */
  save(): void {
    if (!this.opts.file || !this.dirty) return;
    const data = { version: 1, baselines: this.list() };
    writeFileDurably(this.opts.file, JSON.stringify(data), 0o600);
    this.dirty = false;
  }

  private load(file: string): void {
    let raw: string;
    try {
      raw = readFileSync(file, 'utf8');
    } catch {
      return; // first start
    }
    try {
      const data = JSON.parse(raw) as { version?: number; baselines?: unknown };
      if (data.version !== 1 || !Array.isArray(data.baselines)) throw new Error('unknown format');
      for (const b of data.baselines.slice(0, this.maxWorkloads) as Partial<Baseline>[]) {
        if (typeof b.workload !== 'string' || !Array.isArray(b.exes) || typeof b.learnUntil !== 'number') continue;
        this.map.set(b.workload, {
          learnUntil: b.learnUntil, locked: b.locked === true, full: b.full === true,
          exes: new Set(b.exes.filter((x): x is string => typeof x === 'string').slice(0, this.maxExes)),
        });
      }
    } catch {
      // A damaged file: start learning afresh rather than judge against half a baseline.
      this.map.clear();
    }
  }
}
