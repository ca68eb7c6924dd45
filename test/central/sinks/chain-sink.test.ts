// The send chain and the sink runner, with a scripted transport over a real event log: delivery
// in order, retries honouring Retry-After, per-event outcomes, dead letters with reasons, the
// filter, the cursor kept across a stop mid-retry, and the timeout.
import t from 'tap';
import { Registry } from 'prom-client';
import { ChainSink, sinkMetrics } from '../../../central/sinks/chain/chain-sink.js';
import { backoff } from '../../../central/sinks/chain/send-chain.js';
import { validateSinks } from '../../../central/sinks/config.js';
import { sinkFactories } from '../../../central/sinks/index.js';
import type { CommonSinkConfig, SendResult, SinkEvent, Transport } from '../../../central/sinks/sink.js';
import type { EventLog } from '../../../central/event-log.js';
import { storeEvents, tempLog } from '../../helpers/event-log-fixtures.js';
import { quietLogger, waitFor } from '../../helpers/pipeline.js';

const config = (over: Partial<CommonSinkConfig> = {}): CommonSinkConfig => ({
  name: 'test', type: 'test', enabled: true, filter: {}, batch: { maxEvents: 10 }, retry: { initialMs: 10, maxMs: 50 }, timeoutMs: 1000, ...over,
});

/** A transport that answers from a script and records every batch it was handed. */
class Scripted implements Transport {
  readonly calls: string[][] = [];
  constructor(private readonly answer: (batch: SinkEvent[], call: number) => SendResult | Promise<SendResult>) {}
  async send(batch: SinkEvent[], signal: AbortSignal): Promise<SendResult> {
    this.calls.push(batch.map((e) => e.event.title));
    const r = await this.answer(batch, this.calls.length);
    if (signal.aborted) throw new Error('aborted');
    return r;
  }
}

function sink(t: { teardown: (f: () => unknown) => void }, log: EventLog, transport: Transport, over: Partial<CommonSinkConfig> = {}) {
  const registry = new Registry();
  const s: ChainSink = new ChainSink({
    config: config(over), driver: { transport }, source: log, logger: quietLogger, host: () => undefined,
    metrics: sinkMetrics(registry, log, () => new Map([[s.name, s.cursor]])),
  });
  t.teardown(() => s.stop());
  return { s, registry };
}

const titles = (n: number, prefix = 'e') => Array.from({ length: n }, (_, i) => ({ title: `${prefix}${i + 1}` }));

t.test('events are delivered in order, in batches, and the cursor follows', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(25));
  const tr = new Scripted(() => ({ kind: 'ok' }));
  const { s } = sink(t, log, tr);
  await s.start();
  await waitFor('all sent', () => tr.calls.flat().length === 25);
  t.same(tr.calls.map((c) => c.length), [10, 10, 5]);
  t.same(tr.calls.flat(), titles(25).map((x) => x.title));
  t.equal(log.getCursor('test').rowid, 25);
});

t.test('a retry waits at least the receiver\'s Retry-After and resends the same events', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(3));
  const times: number[] = [];
  const tr = new Scripted((_b, call) => {
    times.push(Date.now());
    return call === 1 ? { kind: 'retry', reason: '503 busy', afterMs: 300 } : { kind: 'ok' };
  });
  const { s, registry } = sink(t, log, tr);
  await s.start();
  await waitFor('sent twice', () => tr.calls.length === 2);
  t.ok(times[1]! - times[0]! >= 290, `waited ${times[1]! - times[0]!} ms`);
  t.same(tr.calls[1], ['e1', 'e2', 'e3']);
  t.match(await registry.getSingleMetricAsString('nodewarden_sink_retries_total'), /sink="test"\} 1/);
});

t.test('per-event outcomes: delivered ones are not resent, refused ones go to the dead letters with their reason', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(3));
  const tr = new Scripted((batch, call) => call === 1
    ? { kind: 'items', items: [{ kind: 'ok' }, { kind: 'permanent', reason: 'mapper_parsing_exception: bad field' }, { kind: 'retry', reason: '429' }] }
    : { kind: 'ok' });
  const { s, registry } = sink(t, log, tr);
  await s.start();
  await waitFor('cursor moved', () => log.getCursor('test').rowid === 3);
  t.same(tr.calls, [['e1', 'e2', 'e3'], ['e3']]);
  const dead = log.deadLetters({ sink: 'test' });
  t.equal(dead.length, 1);
  t.match(dead[0]!.reason, /mapper_parsing_exception/);
  t.match(await registry.getSingleMetricAsString('nodewarden_sink_dead_letters_total'), /sink="test"\} 1/);
  t.match(await registry.getSingleMetricAsString('nodewarden_sink_events_delivered_total'), /sink="test"\} 2/);
});

t.test('the filter decides what is sent; skipped events still move the cursor', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, [{ title: 'low', severity: 2 }, { title: 'high', severity: 4 }, { title: 'other-rule', severity: 5, ruleId: 'exec-x' }]);
  const tr = new Scripted(() => ({ kind: 'ok' }));
  const { s } = sink(t, log, tr, { filter: { minSeverity: 'high', rules: ['cis-*'] } });
  await s.start();
  await waitFor('cursor at the end', () => log.getCursor('test').rowid === 3);
  t.same(tr.calls.flat(), ['high']);
});

t.test('a stop during retries keeps the cursor behind the undelivered batch; the next start resends it', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(2));
  const down = new Scripted(() => ({ kind: 'retry', reason: 'connection refused' }));
  const first = sink(t, log, down).s;
  await first.start();
  await waitFor('tried', () => down.calls.length >= 2);
  await first.stop();
  t.equal(log.getCursor('test').rowid, 0);
  const up = new Scripted(() => ({ kind: 'ok' }));
  const second = sink(t, log, up).s;
  await second.start();
  await waitFor('delivered after restart', () => log.getCursor('test').rowid === 2);
  t.same(up.calls.flat(), ['e1', 'e2']);
});

t.test('a transport that hangs is cut by the timeout and retried', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(1));
  const tr = new Scripted((_b, call) => (call === 1 ? new Promise<SendResult>(() => undefined) : { kind: 'ok' }));
  const { s } = sink(t, log, tr, { timeoutMs: 200 });
  await s.start();
  await waitFor('delivered on the second try', () => log.getCursor('test').rowid === 1, 5_000);
  t.equal(tr.calls.length, 2);
});

t.test('backoff doubles, is capped, jitters, and never undercuts Retry-After', async (t) => {
  const p = { initialMs: 100, maxMs: 1000 };
  for (let i = 0; i < 50; i++) {
    const d1 = backoff(p, 1);
    t.ok(d1 >= 50 && d1 <= 100);
    const d5 = backoff(p, 5);
    t.ok(d5 >= 500 && d5 <= 1000);
  }
  t.equal(backoff(p, 1, 5000), 5000);
});

t.test('sink configuration errors name their paths, all at once', async (t) => {
  const r = validateSinks([
    { name: 'a', type: 'jsonl', path: '/x' },
    { name: 'a', type: 'jsonl', path: '/y' },
    { name: 'c', type: 'jsonl', path: '/x', bogus: 1 },
    { name: 'b', type: 'nope' },
    { name: 'bad name!', type: 'jsonl', path: '/z', filter: { minSeverity: 'loud' } },
  ], sinkFactories());
  t.notOk(r.ok);
  const errors = r.ok ? [] : r.errors.join('\n');
  t.match(errors, /central\.sinks\.1\.name: a is used by another sink/);
  t.match(errors, /central\.sinks\.2: .*bogus/);
  t.match(errors, /central\.sinks\.3\.type: expected one of/);
  t.match(errors, /central\.sinks\.4\.name: expected letters/);
  t.match(errors, /central\.sinks\.4\.filter\.minSeverity/);
});

t.test('a batch refused whole without naming the event is sent one at a time: only the bad one is dead-lettered', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, [{ title: 'good1' }, { title: 'bad' }, { title: 'good2' }]);
  const tr = new Scripted((batch) => {
    if (batch.length > 1) return { kind: 'retry', reason: '400 somewhere in here', split: true };
    return batch[0]!.event.title === 'bad' ? { kind: 'permanent', reason: '400 this one' } : { kind: 'ok' };
  });
  const { s } = sink(t, log, tr);
  await s.start();
  await waitFor('cursor moved', () => log.getCursor('test').rowid === 3);
  t.same(tr.calls, [['good1', 'bad', 'good2'], ['good1'], ['bad'], ['good2']]);
  t.same(log.deadLetters({ sink: 'test' }).map((d) => d.reason), ['400 this one']);
});

t.test('a new sink whose type starts at the newest event skips what was stored before it', async (t) => {
  const { log } = tempLog(t, 'chain');
  storeEvents(log, titles(3, 'old'));
  const tr = new Scripted(() => ({ kind: 'ok' }));
  const registry = new Registry();
  const s: ChainSink = new ChainSink({
    config: config(), driver: { transport: tr, startAt: 'newest' }, source: log, logger: quietLogger, host: () => undefined,
    metrics: sinkMetrics(registry, log, () => new Map([[s.name, s.cursor]])),
  });
  t.teardown(() => s.stop());
  await s.start();
  storeEvents(log, titles(1, 'new'));
  s.notify();
  await waitFor('new one sent', () => tr.calls.flat().length === 1);
  t.same(tr.calls.flat(), ['new1']);
});
