// The explicit registry of collector factories. Adding a collector means adding it here; a
// duplicate type throws at load, and nothing registers itself by being imported.
// `enabled` is the registry's concern, not the factory's: every collector has it (default true)
// and the rest of its config block goes to the factory's validate().
import type { CollectorFactory } from './collector.js';
import { postureFactory } from './posture/factory.js';
import { runtimeCollectorFactory } from './runtime/factory.js';
import { processFactory } from './process/factory.js';
import { kubeFactory } from './kube/factory.js';

// Each factory checks its own config type; the registry only routes the raw blocks.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFactory = CollectorFactory<any>;
const factories = new Map<string, AnyFactory>();

function register(f: AnyFactory): void {
  if (factories.has(f.type)) throw new Error(`collector type ${f.type} registered twice`);
  factories.set(f.type, f);
}

register(postureFactory);
register(runtimeCollectorFactory);
register(processFactory);
register(kubeFactory);

export function collectorFactories(): ReadonlyMap<string, AnyFactory> {
  return factories;
}

/** Split a collector's config block into `enabled` and what its factory validates. */
export function splitEnabled(raw: Record<string, unknown> | undefined): { enabled: unknown; rest: Record<string, unknown> } {
  const { enabled = true, ...rest } = raw ?? {};
  return { enabled, rest };
}
