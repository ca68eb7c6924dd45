// The finding lifecycle: posture-like findings open when a problem appears, resolve when it goes,
// and are not repeated while nothing changes. Callers hand in, per scope, the complete set of
// problems seen now; reconcile() returns only the transitions. The open set is kept in a small
// JSON file so an agent restart neither re-opens nor forgets what is open.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Finding } from '../collectors/finding.js';

/** What is remembered of an open finding: enough to emit its resolution after a restart. */
type OpenEntry = Omit<Finding, 'state' | 'timeUnixNano' | 'process'>;

export class FindingLifecycle {
  private readonly scopes = new Map<string, Map<string, OpenEntry>>();

  constructor(private readonly stateFile: string | null) {
    if (stateFile) this.load(stateFile);
  }

  /**
   * Replace the open problems of `scope` with `current`. Returns findings to emit: state 'open'
   * for fingerprints not open before, state 'resolved' for open fingerprints now absent.
   * `resolvedAs` may give what is true now for a resolved fingerprint (e.g. the passing evidence).
   */
  reconcile(scope: string, current: Finding[], resolvedAs?: (fingerprint: string) => Partial<Finding> | undefined): Finding[] {
    const before = this.scopes.get(scope) ?? new Map<string, OpenEntry>();
    const after = new Map<string, OpenEntry>();
    const out: Finding[] = [];
    for (const f of current) {
      if (after.has(f.fingerprint)) continue;
      after.set(f.fingerprint, before.get(f.fingerprint) ?? toEntry(f));
      if (!before.has(f.fingerprint)) out.push({ ...f, state: 'open' });
    }
    for (const [fp, entry] of before) {
      if (!after.has(fp)) out.push({ ...resolution(entry), ...resolvedAs?.(fp), state: 'resolved' });
    }
    if (after.size === 0) this.scopes.delete(scope);
    else this.scopes.set(scope, after);
    if (out.length > 0) this.save();
    return out;
  }

  /** Resolve every open finding of a scope (its object went away). */
  resolveScope(scope: string): Finding[] {
    return this.reconcile(scope, []);
  }

  /** Scopes that currently hold open findings, for callers that must resolve vanished objects. */
  openScopes(prefix = ''): string[] {
    return [...this.scopes.keys()].filter((s) => s.startsWith(prefix));
  }

  openCount(): number {
    let n = 0;
    for (const m of this.scopes.values()) n += m.size;
    return n;
  }

  isOpen(scope: string, fingerprint: string): boolean {
    return this.scopes.get(scope)?.has(fingerprint) ?? false;
  }

  private load(file: string): void {
    let raw: string;
    try {
      raw = readFileSync(file, 'utf8');
    } catch {
      return; // first start
    }
    try {
      const data = JSON.parse(raw) as Record<string, Record<string, OpenEntry>>;
      for (const [scope, entries] of Object.entries(data)) {
        this.scopes.set(scope, new Map(Object.entries(entries)));
      }
    } catch {
      // A torn or hand-edited state file: start afresh. Open problems are found again by the
      // next scan and reported once more, which is better than never.
      this.scopes.clear();
    }
  }

  private save(): void {
    if (!this.stateFile) return;
    const data: Record<string, Record<string, OpenEntry>> = {};
    for (const [scope, m] of this.scopes) data[scope] = Object.fromEntries(m);
    mkdirSync(path.dirname(this.stateFile), { recursive: true });
    const tmp = `${this.stateFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(data));
    renameSync(tmp, this.stateFile);
  }
}

function toEntry(f: Finding): OpenEntry {
  const { state: _s, timeUnixNano: _t, process: _p, ...rest } = f;
  return rest;
}

function resolution(entry: OpenEntry): Finding {
  return {
    ...entry,
    state: 'resolved',
    severity: entry.severity,
    message: `Resolved: ${entry.title}.`,
  };
}
