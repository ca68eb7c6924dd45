// Event logs in temporary directories and events built from a few fields, for the tests of the
// event log, retention and the Query service.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Long from 'long';
import { EventLog, type IncomingEvent, type StoredRow } from '../../central/event-log.js';
import { ReceivedEvent } from '../../central/received-event.js';
import { nodewarden } from '../../gen/nodewarden.js';

const pb = nodewarden.v1;

export interface EventSpec {
  node?: string;
  /** Event time in Unix milliseconds (default: now). */
  timeMs?: number;
  source?: number;
  ruleId?: string;
  severity?: number;
  fingerprint?: string;
  state?: number;
  namespace?: string;
  title?: string;
  /** Extra bytes of evidence, to make events large. */
  padding?: number;
}

type Teardown = { teardown: (fn: () => unknown) => void };

/** A temporary directory removed when the test ends. */
export function tempDirFor(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nw-${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A new event log file in a temporary directory, closed and removed when the test ends. */
export function tempLog(t: Teardown, prefix = 'log'): { log: EventLog; file: string; dir: string } {
  const dir = tempDirFor(t, prefix);
  const file = path.join(dir, 'events.db');
  const log = new EventLog(file);
  t.teardown(() => log.close());
  return { log, file, dir };
}

export function makeEvent(agentId: string, seq: number, s: EventSpec = {}): IncomingEvent {
  const event = pb.Event.create({
    id: `${agentId}/${seq}`,
    agentId,
    sequence: Long.fromNumber(seq, true),
    node: s.node ?? 'node-a',
    timeUnixNano: Long.fromNumber(s.timeMs ?? Date.now()).multiply(1_000_000),
    source: s.source ?? pb.Source.SOURCE_POSTURE,
    ruleId: s.ruleId ?? 'cis-4.1.1',
    severity: s.severity ?? pb.Severity.SEVERITY_MEDIUM,
    title: s.title ?? `event ${seq}`,
    message: 'm',
    fingerprint: s.fingerprint ?? `fp-${seq}`,
    state: s.state ?? 0,
    evidence: s.padding ? 'x'.repeat(s.padding) : '',
    count: 1,
    kubernetes: s.namespace ? { namespace: s.namespace, pod: 'p' } : undefined,
  });
  return ReceivedEvent.fromEvent(event);
}

/** Store events for one agent with the next sequences; returns the new events' rowids in order. */
export function storeEvents(log: EventLog, specs: EventSpec[], agentId = 'agent-a'): number[] {
  const from = log.storedThrough(agentId) + 1;
  const result = log.store(agentId, specs[0]?.node ?? 'node-a', specs.map((s, i) => makeEvent(agentId, from + i, s)));
  const titles = new Set(result.accepted.map((a) => a.event.id));
  return log.query({ agentId, limit: 1_000_000 }).filter((r) => titles.has(pb.Event.decode(r.body).id)).map((r) => r.rowid);
}

export const titles = (rows: StoredRow[]): string[] => rows.map((r) => pb.Event.decode(r.body).title);
export const decode = (rows: StoredRow[]): nodewarden.v1.Event[] => rows.map((r) => pb.Event.decode(r.body));
