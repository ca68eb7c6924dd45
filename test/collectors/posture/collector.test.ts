// The long-running posture collector on hostile hosts: a symlink loop where a watched file should
// be, and a sink that refuses, neither crash it nor lose a finding.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { PostureCollector } from '../../../collectors/posture/collector.js';
import { postureFactory } from '../../../collectors/posture/factory.js';
import { NodeFacts } from '../../../collectors/node-facts.js';
import type { Finding } from '../../../core/finding.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';
import { ruleSink } from '../../helpers/rule-sink.js';

function host(): string {
  const root = tempDir('posture-host');
  mkdirSync(path.join(root, 'etc/kubernetes'), { recursive: true });
  mkdirSync(path.join(root, 'var/lib/kubelet'), { recursive: true });
  writeFileSync(path.join(root, 'etc/kubernetes/kubelet.conf'), 'apiVersion: v1\nkind: Config\n', { mode: 0o644 });
  return root;
}

t.test('a symlink loop at the kubelet config is a finding, not a crash', async (t) => {
  const root = host();
  symlinkSync('config.yaml', path.join(root, 'var/lib/kubelet/config.yaml'));
  const { sink, emitted: got } = ruleSink({ collector: 'posture' });
  const c = new PostureCollector({ ...postureFactory.defaults(), debounceMs: 10 }, {
    hostRoot: root, stateDir: tempDir('posture-state'), node: 'n', facts: new NodeFacts(),
    sink, logger: pino({ level: 'silent' }), metrics: new Registry(),
  });
  t.teardown(() => c.stop());
  await c.start();
  c.schedule('test');
  await new Promise((r) => setTimeout(r, 100));
  t.ok(got.some((f) => f.cisId === '4.1.5'), 'the other checks still run (kubelet.conf at 644)');
  t.ok(got.some((f) => /: error: /.test(f.message) && /config\.yaml/.test(f.evidence ?? '')), 'the loop is reported, naming the file');
  t.ok(c.status().healthy);
});

t.test('findings a sink refused are sent again on the next evaluation', async (t) => {
  const root = host();
  let refuse = true;
  const { sink, emitted: got } = ruleSink({ collector: 'posture', refuse: () => refuse });
  const c = new PostureCollector({ ...postureFactory.defaults(), debounceMs: 10 }, {
    hostRoot: root, stateDir: tempDir('posture-state'), node: 'n', facts: new NodeFacts(),
    sink,
    logger: pino({ level: 'silent' }), metrics: new Registry(),
  });
  t.teardown(() => c.stop());
  await c.start();
  t.notOk(c.status().healthy, 'unhealthy while findings cannot be spooled');
  refuse = false;
  c.schedule('retry');
  await waitFor('the open finding', () => got.find((f) => f.cisId === '4.1.5' && f.state === 'open'));
  t.ok(c.status().healthy);
});
