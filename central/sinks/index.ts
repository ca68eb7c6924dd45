// The registry of sink types: an explicit list (no import side effects), one factory each.
// Central builds each configured sink from here; a duplicate type name is a programming error.

import type { SinkFactory } from './sink.js';
import { jsonlSinkFactory } from './jsonl/factory.js';
import { ocsfSinkFactory } from './ocsf/factory.js';
import { webhookSinkFactory } from './webhook/factory.js';
import { elasticsearchSinkFactory } from './elasticsearch/factory.js';
import { splunkHecSinkFactory } from './splunk-hec/factory.js';
import { syslogSinkFactory } from './syslog/factory.js';
import { alertmanagerSinkFactory } from './alertmanager/factory.js';

const FACTORIES = [
  jsonlSinkFactory, ocsfSinkFactory, webhookSinkFactory, elasticsearchSinkFactory, splunkHecSinkFactory, syslogSinkFactory, alertmanagerSinkFactory,
] as unknown as SinkFactory[];

let registry: Map<string, SinkFactory> | null = null;

export function sinkFactories(): ReadonlyMap<string, SinkFactory> {
  if (registry) return registry;
  const map = new Map<string, SinkFactory>();
  for (const f of FACTORIES) {
    if (map.has(f.type)) throw new Error(`two sink factories claim the type ${f.type}`);
    map.set(f.type, f);
  }
  registry = map;
  return map;
}
