// Chooses the exec source for this node: eBPF (everything read in the kernel at the exec), then
// audit (full command lines from the kernel, the rest from /proc), then the process connector,
// then the /proc poller, skipping each that cannot work here and saying why. The chosen source is probed but not started: the caller starts it with its callbacks.

import { NwError } from '../../../core/errors.js';
import { AuditSource, type AuditSourceDeps } from './audit-source.js';
import { BpfSource, type BpfSourceDeps } from './bpf-source.js';
import { ConnectorSource } from './connector-source.js';
import type { ExecSource, ExecSourceName, ExecSourceOptions } from './exec-source.js';
import { PollerSource } from './poller-source.js';

export const SOURCE_ORDER: readonly ExecSourceName[] = ['bpf', 'audit', 'connector', 'poller'];

export interface SelectDeps {
  /** Passed to the audit source, e.g. an injected status reader in tests. */
  audit?: AuditSourceDeps;
  /** Passed to the eBPF source (its own watch-rule audit source gets `audit` too). */
  bpf?: BpfSourceDeps;
}

type Probed = ExecSource & { probe(): Promise<string | null> };

function create(name: ExecSourceName, opts: ExecSourceOptions, deps: SelectDeps): Probed {
  switch (name) {
    case 'bpf':
      return new BpfSource(opts, { audit: deps.audit, ...deps.bpf });
    case 'audit':
      return new AuditSource(opts, deps.audit);
    case 'connector':
      return new ConnectorSource(opts);
    case 'poller':
      return new PollerSource(opts);
  }
}

/**
 * The first source that can work here, trying `preferred` first and then the rest in order
 * bpf → audit → connector → poller. `skipped` lists each source passed over with its reason.
 */
export async function openExecSource(
  opts: ExecSourceOptions,
  preferred?: ExecSourceName,
  deps: SelectDeps = {},
): Promise<{ source: ExecSource; skipped: { name: string; reason: string }[] }> {
  const order = preferred ? [preferred, ...SOURCE_ORDER.filter((n) => n !== preferred)] : [...SOURCE_ORDER];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of order) {
    const source = create(name, opts, deps);
    const reason = await source.probe();
    if (reason === null) return { source, skipped };
    skipped.push({ name, reason });
  }
  throw new NwError('NW_ERR_EXEC_SOURCE', `no exec source can run here: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
