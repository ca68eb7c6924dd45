// A SinkContext for tests of one sink type: what central hands a factory, with an empty event
// log behind it unless the test gives one, and each part overridable.
import { Counter, Registry } from 'prom-client';
import type { SinkContext, SinkSource } from '../../central/sinks/sink.js';
import { VERSION } from '../../core/version.js';
import { quietLogger } from './pipeline.js';

/** A log with nothing in it and nowhere to keep cursors. */
export function emptySource(): SinkSource {
  return {
    read: () => [],
    getCursor: () => ({ rowid: 0, position: 0, known: false }),
    setCursor: () => undefined,
    head: () => ({ rowid: 0, storedAt: 0 }),
    storedAt: () => undefined,
    deadLetter: () => undefined,
  };
}

export function testSinkContext(over: Partial<SinkContext> = {}): SinkContext {
  const registry = over.registry ?? new Registry();
  return {
    name: 'test', logger: quietLogger, registry, version: VERSION, openFindings: () => [], secret: () => '',
    log: emptySource(),
    delivered: new Counter({ name: 'nodewarden_sink_events_delivered_total', help: 'd', labelNames: ['sink'], registers: [registry] }),
    host: () => undefined,
    ...over,
  };
}
