// The JSON-lines sink delivers every stored event to its file exactly once, across crashes
// between writing and recording its cursor.
import t from 'tap';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Counter, Registry } from 'prom-client';
import Long from 'long';
import { EventLog } from '../../../central/event-log.js';
import { FileSink } from '../../../central/sinks/file/file-sink.js';
import { eventToJson } from '../../../core/event.js';
import { ReceivedEvent } from '../../../central/received-event.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { quietLogger, tempDir, waitFor } from '../../helpers/pipeline.js';

const pb = nodewarden.v1;

function store(log: EventLog, from: number, n: number): void {
  const events = Array.from({ length: n }, (_, i) => {
    const ev = pb.Event.create({ id: `a/${from + i}`, agentId: 'a', sequence: Long.fromNumber(from + i, true), ruleId: 'r', title: `e${from + i}` });
    return ReceivedEvent.fromEvent(ev);
  });
  log.store('a', 'n', events);
}

const ids = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);
const jsonlSink = (file: string, log: EventLog) => new FileSink({
  name: 'jsonl', cursor: 'jsonl:test', target: file, log, logger: quietLogger, delivered: delivered(), encode: (e) => JSON.stringify(eventToJson(e.event)),
});
const delivered = () => new Counter({ name: 'd', help: 'd', labelNames: ['sink'], registers: [new Registry()] });

t.test('lines written but not recorded before a crash are cut and written again once', async (t) => {
  const dir = tempDir('jsonl');
  const file = path.join(dir, 'out.jsonl');
  const log = new EventLog(path.join(dir, 'events.db'));
  t.teardown(() => log.close());
  store(log, 1, 3);
  let sink = jsonlSink(file, log);
  await sink.start();
  await waitFor('three lines', () => ids(file).length === 3);
  await sink.stop();
  // A crash after writing the next batch but before recording the cursor leaves extra lines.
  store(log, 4, 2);
  appendFileSync(file, '{"id":"a/4","title":"e4"}\n{"id":"a/5","ti');
  sink = jsonlSink(file, log);
  await sink.start();
  await waitFor('five lines', () => ids(file).length === 5);
  await sink.stop();
  t.same(ids(file), ['a/1', 'a/2', 'a/3', 'a/4', 'a/5'], 'each event once, no torn line');
});

t.test('a file that existed before the sink is kept and continued, not rewritten', async (t) => {
  const dir = tempDir('jsonl-pre');
  const file = path.join(dir, 'out.jsonl');
  writeFileSync(file, '{"id":"older/1"}\n');
  const log = new EventLog(path.join(dir, 'events.db'));
  t.teardown(() => log.close());
  store(log, 1, 2);
  const sink = jsonlSink(file, log);
  await sink.start();
  await waitFor('two more lines', () => ids(file).length === 3);
  await sink.stop();
  t.same(ids(file), ['older/1', 'a/1', 'a/2']);
});

t.test('a notification before start has opened the file waits for it: nothing goes elsewhere, nothing is skipped', async (t) => {
  const dir = tempDir('jsonl-early');
  const file = path.join(dir, 'out.jsonl');
  const log = new EventLog(path.join(dir, 'events.db'));
  t.teardown(() => log.close());
  store(log, 1, 3);
  const sink = jsonlSink(file, log);
  sink.notify();
  const starting = sink.start();
  sink.notify();
  await starting;
  await waitFor('three lines', () => ids(file).length === 3);
  await sink.stop();
  t.same(ids(file), ['a/1', 'a/2', 'a/3']);
  t.equal(log.getCursor('jsonl:test').position, readFileSync(file).length, 'the cursor is the file\'s size');
});
