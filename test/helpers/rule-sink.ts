// A collector's sink in tests: the real rule engine with the built-in packs (lifecycle state in
// memory, or in a folder), recording every finding it emits. `refuse` makes the emitter fail
// (a full spool) while it returns true.

import pino from 'pino';
import { Registry } from 'prom-client';
import type { Finding } from '../../core/finding.js';
import type { ObservationSink } from '../../core/observation.js';
import { RuleEngine } from '../../rules/engine.js';
import { type LoadOptions, loadRuleset } from '../../rules/ruleset.js';
import { formatProblem } from '../../rules/pack.js';

export interface RuleSink {
  sink: ObservationSink;
  emitted: Finding[];
  engine: RuleEngine;
  registry: Registry;
}

export function ruleSink(opts: { collector?: string; stateDir?: string | null; refuse?: () => boolean; load?: Partial<LoadOptions>; repeatWindowMs?: number; onEmit?: (fs: Finding[]) => void } = {}): RuleSink {
  const loaded = loadRuleset({ dirs: [], ...opts.load });
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  const emitted: Finding[] = [];
  const registry = new Registry();
  const engine = new RuleEngine(loaded.ruleset, {
    sink: {
      emit: async (fs) => {
        if (opts.refuse?.()) throw new Error('spool full');
        emitted.push(...fs);
        opts.onEmit?.(fs);
      },
    },
    logger: pino({ level: 'silent' }), registry, stateDir: opts.stateDir ?? null, repeatWindowMs: opts.repeatWindowMs ?? 60_000,
  });
  return { sink: engine.sinkFor(opts.collector ?? 'test'), emitted, engine, registry };
}
