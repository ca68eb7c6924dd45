// The agent's FindingSink: numbers each finding, converts it to the wire event and writes it to
// the spool (durably) before telling the shipper. Concurrent emits are grouped into one spool
// append (one fdatasync) so a burst of exec events costs one sync, not one per event.

import type { Counter } from 'prom-client';
import type { FindingSink } from '../collectors/collector.js';
import type { Finding } from '../collectors/finding.js';
import type { Spool } from './spool.js';
import { encodeEvent, toWireEvent, type Envelope } from './wire-event.js';

export class Emitter implements FindingSink {
  private pending: { findings: Finding[]; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly spool: Spool,
    private readonly envelope: Envelope,
    private readonly emitted: Counter<'source'>,
    private readonly onWritten: () => void,
  ) {}

  emit(findings: Finding[]): Promise<void> {
    if (findings.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ findings, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      const all = group.flatMap((g) => g.findings);
      try {
        await this.spool.append(all, (f, seq) => encodeEvent(toWireEvent(f, this.envelope, seq)));
        for (const f of all) this.emitted.inc({ source: f.source });
        for (const g of group) g.resolve();
        this.onWritten();
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.flushing = false;
  }
}
