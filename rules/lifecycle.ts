// The finding lifecycle: posture-like findings open when a problem appears, resolve when it goes,
// and are not repeated while nothing changes. Callers hand in, per scope, the complete set of
// problems seen now; apply() emits only the transitions and records the new state only once the
// emit has succeeded, so a transition that could not be spooled is found again next time
// instead of being lost. The open set is kept in a small JSON file (written durably), so an agent
// restart neither re-opens nor forgets what is open.

import { readFileSync } from 'node:fs';
import { writeFileDurably } from '../core/durable-file.js';
import type { Finding } from '../core/finding.js';

/** What is remembered of an open finding: enough to emit its resolution after a restart. */
type OpenEntry = Omit<Finding, 'state' | 'timeUnixNano' | 'process'>;

export interface ScopeChange {
  scope: string;
  /** Every problem of the scope seen now. */
  current: Finding[];
  /** What is true now for a resolved fingerprint (e.g. the passing evidence). */
  resolvedAs?: (fingerprint: string) => Partial<Finding> | undefined;
}

export class FindingLifecycle {
  private readonly scopes = new Map<string, Map<string, OpenEntry>>();

  constructor(private readonly stateFile: string | null) {
    if (stateFile) this.load(stateFile);
  }

  /**
   * Work out the transitions of every scope, hand them to `emit`, and record the new open sets
   * only when emit resolves. If emit throws, nothing is recorded and the error propagates.
   */
  async apply(emit: (findings: Finding[]) => Promise<void>, changes: ScopeChange[]): Promise<Finding[]> {
    const out: Finding[] = [];
    const next = new Map<string, Map<string, OpenEntry>>();
    for (const c of changes) {
      const { findings, after } = this.transitions(c);
      out.push(...findings);
      next.set(c.scope, after);
    }
    if (out.length === 0) return out;
    await emit(out);
    for (const [scope, after] of next) {
      if (after.size === 0) this.scopes.delete(scope);
      else this.scopes.set(scope, after);
    }
    this.save();
    return out;
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

  private transitions(c: ScopeChange): { findings: Finding[]; after: Map<string, OpenEntry> } {
    const before = this.scopes.get(c.scope) ?? new Map<string, OpenEntry>();
    const after = new Map<string, OpenEntry>();
    const findings: Finding[] = [];
    for (const f of c.current) {
      if (after.has(f.fingerprint)) continue;
      after.set(f.fingerprint, before.get(f.fingerprint) ?? toEntry(f));
      if (!before.has(f.fingerprint)) findings.push({ ...f, state: 'open' });
    }
    for (const [fp, entry] of before) {
      if (!after.has(fp)) findings.push({ ...resolution(entry), ...c.resolvedAs?.(fp), state: 'resolved' });
    }
    return { findings, after };
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
      // A damaged or hand-edited state file: start afresh. Open problems are found again by the
      // next scan and reported once more, which is better than never.
      this.scopes.clear();
    }
  }

  private save(): void {
    if (!this.stateFile) return;
    const data: Record<string, Record<string, OpenEntry>> = {};
    for (const [scope, m] of this.scopes) data[scope] = Object.fromEntries(m);
    writeFileDurably(this.stateFile, JSON.stringify(data));
  }
}

function toEntry(f: Finding): OpenEntry {
  const { state: _s, timeUnixNano: _t, process: _p, ...rest } = f;
  return rest;
}

function resolution(entry: OpenEntry): Finding {
  return { ...entry, state: 'resolved', message: `Resolved: ${entry.title}.` };
}
