// The explicit registry of collector factories. Adding a collector means adding it here; a
// duplicate type throws at load, and nothing registers itself by being imported.
import type { CollectorFactory } from './collector.js';
import { postureFactory } from './posture/factory.js';

const factories = new Map<string, CollectorFactory<{ enabled: boolean }>>();

function register(f: CollectorFactory<{ enabled: boolean }>): void {
  if (factories.has(f.type)) throw new Error(`collector type ${f.type} registered twice`);
  factories.set(f.type, f);
}

register(postureFactory);

export function collectorFactories(): ReadonlyMap<string, CollectorFactory<{ enabled: boolean }>> {
  return factories;
}
