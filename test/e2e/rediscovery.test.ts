// A kubelet restarted with other flags is discovered again at once: the process collector sees
// its exec in the kernel's audit stream and the posture collector re-evaluates, well before its
// periodic scan. Real processes, the real /proc, host root '/'.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync, chmodSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Agent } from '../../daemon/agent.js';
import { Central } from '../../central/central.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { freePort, quietLogger, storedEvents, tempDir, pipelineConfig, waitFor } from '../helpers/pipeline.js';

const KEY = 'nw-e2e-rediscover';

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (the kernel audit stream)');
  process.exit(0);
}
const native = loadNative();
if ('error' in native) throw native.error;

function fakeKubelet(dir: string, config: string): ChildProcess {
  const script = path.join(dir, 'idle.cjs');
  writeFileSync(script, 'setInterval(() => {}, 1 << 30);\n');
  return spawn(process.execPath, [script, `--config=${config}`], { argv0: '/usr/bin/kubelet', stdio: 'ignore' });
}

t.test('a kubelet restarted with another --config is re-checked within a second', async (t) => {
  const dir = tempDir('rediscover');
  const good = path.join(dir, 'a', 'config.yaml');
  const bad = path.join(dir, 'b', 'config.yaml');
  for (const [file, mode] of [[good, 0o600], [bad, 0o644]] as const) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n');
    chmodSync(file, mode);
  }
  let kubelet = fakeKubelet(dir, good);
  t.teardown(() => kubelet.kill('SIGKILL'));
  await waitFor('the fake kubelet', () => {
    try {
      return readFileSync(`/proc/${kubelet.pid}/cmdline`, 'utf8').startsWith('/usr/bin/kubelet');
    } catch {
      return false;
    }
  });

  const port = await freePort();
  const cfg = pipelineConfig(dir, port, {
    hostRoot: '/',
    'agent.collectors': { posture: { intervalMs: 600_000 }, process: { source: 'audit', ruleKey: KEY } },
  });
  const central = new Central(cfg, quietLogger);
  await central.start();
  const agent = new Agent(cfg, quietLogger);
  t.teardown(async () => {
    await agent.stop();
    await central.stop();
    for (const r of native.addon.auditListRules()) if (r.key === KEY) native.addon.auditDelRule(r.raw);
  });
  await agent.start();
  const aboutConfig = (file: string) => storedEvents(central.log).filter((e) => e.cisId === '4.1.9' && e.file?.path === file);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(aboutConfig(good).length, 0, 'the running kubelet\'s 600 config raises nothing');

  kubelet.kill('SIGKILL');
  const restartedAt = Date.now();
  kubelet = fakeKubelet(dir, bad);
  const e = await waitFor('the finding about the new config', () => aboutConfig(bad)[0], 10_000, 20);
  // Far below the 10-minute periodic scan; 3 s leaves room for a loaded CI machine (1,037 ms was seen once).
  t.ok(Date.now() - restartedAt < 3000, `re-evaluated ${Date.now() - restartedAt} ms after the restart (the periodic scan is 10 minutes away)`);
  t.equal(e.file?.mode, 0o644);
});
