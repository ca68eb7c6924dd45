import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import t from 'tap';
import { runtimeCollectorFactory } from '../../../collectors/runtime/factory.js';
import type { CollectorContext } from '../../../collectors/collector.js';
import type { Finding } from '../../../core/finding.js';
import { NodeFacts } from '../../../collectors/node-facts.js';
import { ruleSink } from '../../helpers/rule-sink.js';

t.test('the default config is valid and documented defaults hold', async (t) => {
  const d = runtimeCollectorFactory.defaults();
  t.equal(runtimeCollectorFactory.type, 'runtime');
  t.equal(d.pollIntervalMs, 10_000);
  t.equal(d.socket, undefined, 'discover by default');
  t.equal(d.containerdStateDir, '/run/containerd');
  t.equal(d.privilegedNamespaces, undefined, 'the lists are the runtime pack\'s unless set here');
  t.same(runtimeCollectorFactory.validate(d), { ok: true, config: d });
  t.same(runtimeCollectorFactory.validate(undefined), { ok: true, config: d });
});

t.test('every error is reported with its path; unknown fields are refused', async (t) => {
  const r = runtimeCollectorFactory.validate({ socket: 'relative.sock', pollIntervalMs: 5, privilegedNamespaces: ['kube-system/a/b/c'], bogus: 1 });
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.errors.length, 4, r.errors.join('\n'));
  t.ok(r.errors.some((e) => e.startsWith('socket:')));
  t.ok(r.errors.some((e) => e.startsWith('pollIntervalMs:')));
  t.ok(r.errors.some((e) => e.startsWith('privilegedNamespaces.0:')));
  t.ok(r.errors.some((e) => /bogus/.test(e)));
});

t.test('lifecycle: stop without start, stop twice; an absent runtime is a finding, not a crash', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-rt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { sink, emitted } = ruleSink({ collector: 'runtime' });
  const ctx: CollectorContext = {
    hostRoot: dir,
    stateDir: path.join(dir, 'state'),
    node: 'n1',
    sink,
    logger: pino({ level: 'silent' }),
    metrics: new Registry(),
    facts: new NodeFacts(),
  };
  const cfg = runtimeCollectorFactory.defaults();
  const idle = runtimeCollectorFactory.create(cfg, ctx);
  await idle.stop();
  await idle.stop();

  const c = runtimeCollectorFactory.create({ ...cfg, pollIntervalMs: 60_000 }, ctx);
  await c.start();
  t.equal(c.status().healthy, false);
  t.match(c.status().detail, /no CRI socket found under host root/);
  t.same(emitted.map((f) => [f.ruleId, f.state]), [['runtime.unavailable', 'open']]);
  await c.stop();
  await c.stop();
  t.equal(c.status().detail, 'stopped');
  const text = await ctx.metrics.metrics();
  t.match(text, /nodewarden_runtime_errors_total\{reason="no-socket"\} 1/);
  t.match(text, /nodewarden_runtime_up 0/);
});
