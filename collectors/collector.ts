// The one shape every collector has. A collector gathers facts about the node and hands them to
// the sink it is given as observations (core/observation.ts); it knows nothing of the rules, the
// spool or the wire. Lifecycle: start() once; stop() idempotent, safe without start(), honours
// its deadline.

import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { ObservationSink } from '../core/observation.js';
import type { NodeFacts } from './node-facts.js';
import type { KubeApiClient } from './kube/api-client.js';

export interface CollectorContext {
  /** Every host path is resolved under this root (see collectors/host/host-fs.ts). */
  hostRoot: string;
  /** Where a collector may keep state across restarts (a folder of its own under it). */
  stateDir: string;
  node: string;
  sink: ObservationSink;
  logger: Logger;
  metrics: Registry;
  /** Facts collectors share: the container inventory, host component execs. */
  facts: NodeFacts;
  /** The Kubernetes API server when the agent has access to it, or why it has none (unset: none, not said why). */
  kubeApi?: { client: KubeApiClient; source: string } | { client: null; why: string };
}

export interface CollectorStatus {
  name: string;
  healthy: boolean;
  /** A sentence on what it is doing or why it is unhealthy. */
  detail: string;
}

export interface Collector {
  readonly name: string;
  start(): Promise<void>;
  stop(deadlineMs?: number): Promise<void>;
  status(): CollectorStatus;
}

export interface CollectorFactory<Config> {
  readonly type: string;
  /** Pure: parse and validate a config object, returning every error with its path. */
  validate(raw: unknown): { ok: true; config: Config } | { ok: false; errors: string[] };
  defaults(): Config;
  create(config: Config, ctx: CollectorContext): Collector;
}
