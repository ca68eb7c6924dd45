// The agent's FindingSink: numbers each finding, converts it to the wire event and writes it to
// the spool (durably) before telling the shipper. Concurrent emits are grouped into one spool
// append (one fdatasync) so a burst of exec events costs one sync, not one per event.
// Bounded: past maxPending findings waiting for the disk, new ones are refused, counted in
// nodewarden_events_dropped_total{component="emitter"} and reported once the pressure is over.

import type { Counter } from 'prom-client';
import type { Finding, FindingSink } from '../core/finding.js';
import type { Spool } from './spool.js';
import { encodeEvent, toWireEvent, type Envelope } from './wire-event.js';
import { NwError } from '../core/errors.js';

interface Waiting {
  findings: Finding[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Emitter implements FindingSink {
  private pending: Waiting[] = [];
  private pendingCount = 0;
  private flushing: Promise<void> | null = null;
  private droppedSinceReport = 0;
  private closed = false;

  constructor(
    private readonly spool: Spool,
    private readonly envelope: Envelope,
    private readonly emitted: Counter<'source'>,
    private readonly dropped: Counter<'component' | 'reason'>,
    private readonly onWritten: () => void,
    private readonly maxPending = 100_000,
  ) {}

  emit(findings: Finding[]): Promise<void> {
    if (findings.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new NwError('NW_ERR_STOPPED', 'the agent is stopping'));
    if (this.pendingCount + findings.length > this.maxPending) {
      this.droppedSinceReport += findings.length;
      this.dropped.inc({ component: 'emitter', reason: 'spool_backlog' }, findings.length);
      return Promise.reject(new NwError('NW_ERR_SPOOL_FULL', `${this.maxPending} findings already wait for the disk; ${findings.length} dropped`));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ findings, resolve, reject });
      this.pendingCount += findings.length;
      this.flushing ??= this.flush();
    });
  }

  /** Wait until everything emitted so far is on disk, then refuse new findings. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.closed = true;
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      const all = group.flatMap((g) => g.findings);
      if (this.droppedSinceReport > 0 && this.pendingCount < this.maxPending / 2) {
        all.push(this.dropReport());
      }
      try {
        await this.spool.append(all, (f, seq) => encodeEvent(toWireEvent(f, this.envelope, seq)));
        for (const f of all) this.emitted.inc({ source: f.source });
        for (const g of group) g.resolve();
        this.onWritten();
      } catch (err) {
        for (const g of group) g.reject(err);
      } finally {
        for (const g of group) this.pendingCount -= g.findings.length;
      }
    }
    this.flushing = null;
  }

  private dropReport(): Finding {
    const n = this.droppedSinceReport;
    this.droppedSinceReport = 0;
    return {
      source: 'agent', ruleId: 'agent.events-dropped', severity: 'high',
      title: 'Events were dropped because the disk could not keep up',
      message: `The agent dropped ${n} findings because more than ${this.maxPending} were waiting to be written to its spool.`,
      fingerprint: `agent:events-dropped:emitter:${Date.now()}`,
      evidence: `${n} findings dropped before numbering`,
      remediation: 'Check the state directory\'s disk (latency, space); reduce noisy rules.',
      attributes: { count: String(n) },
    };
  }
}
