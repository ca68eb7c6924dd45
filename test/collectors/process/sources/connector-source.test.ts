// The process-connector exec source against the real kernel: real processes, some long-lived
// (their command line must be there), some gone in a millisecond (argvMissing is allowed).
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';

import { ConnectorSource } from '../../../../collectors/process/sources/connector-source.js';
import { loadNative } from '../../../../collectors/process/sources/native.js';
import { repoRoot } from '../../../helpers/paths.js';
import { collector, copyTrue, isRoot, runShell, tempDir } from './exec-fixtures.js';

const loaded = loadNative();
// Not a reason to skip: `npm ci` builds the addon, so its absence is a failure.
if ('error' in loaded) throw new Error(`the native addon is not built (run npx node-gyp rebuild): ${loaded.error.message}`);
// Linux 6.6+ lets anyone listen, but reading other users' /proc entries needs root.
const skip = !isRoot ? 'needs root to read /proc of every process' : false;

t.test('connector source on the real kernel', { skip }, async (t) => {
  const dir = tempDir();
  const nwTrue = copyTrue(dir);

  t.test('captures a long-lived process with argv, ids, cwd, exe, cgroup and start time', async (t) => {
    const src = new ConnectorSource();
    const c = collector();
    t.teardown(() => src.stop());
    await src.start(c.onBatch, c.onNotice);
    const marker = `conn-${Date.now()}`;
    const sh = runShell(`exec /bin/sh -c 'sleep 1; :' ${marker}`, { cwd: dir });
    const e = await c.waitForEvent((e) => e.argv.includes(marker));
    t.equal(e.source, 'connector');
    t.equal(e.pid, sh.pid);
    t.equal(e.ppid, process.pid);
    t.same(e.argv, ['/bin/sh', '-c', 'sleep 1; :', marker]);
    t.equal(e.exe, '/usr/bin/dash');
    t.equal(e.comm, 'sh');
    t.equal(e.cwd, dir);
    t.equal(e.uid, 0);
    t.equal(e.euid, 0);
    t.equal(e.argvMissing, false);
    t.type(e.cgroup, 'string');
    t.type(e.startTime, 'bigint');
    t.equal(e.stdio?.stdin, '/dev/null');
    await sh.done;
  });

  t.test('reports processes gone before /proc was read with argvMissing, never with a wrong argv', async (t) => {
    const src = new ConnectorSource();
    const c = collector();
    t.teardown(() => src.stop());
    await src.start(c.onBatch, c.onNotice);
    const run = `r${Date.now()}`;
    const n = 500;
    const sh = runShell(`for i in $(seq 1 ${n}); do ${nwTrue} ${run}-$i; done`);
    await sh.done;
    // The loop's children are the execs whose parent is the loop shell.
    await c.waitUntil(() => c.events.filter((e) => e.ppid === sh.pid && e.pid !== sh.pid).length >= n, 5000);
    const mine = c.events.filter((e) => e.ppid === sh.pid && e.pid !== sh.pid);
    const withArgv = mine.filter((e) => !e.argvMissing);
    const missing = mine.filter((e) => e.argvMissing);
    t.comment(`${mine.length}/${n} execs seen, ${withArgv.length} with argv, ${missing.length} argvMissing`);
    t.ok(mine.length >= n * 0.95, 'nearly every exec is reported');
    for (const e of withArgv) {
      // Read a moment late, a process may show its parent's argv if caught between fork and
      // exec; anything read after the exec must be ours exactly.
      if (e.argv[0] === nwTrue) t.match(e.argv[1], new RegExp(`^${run}-\\d+$`));
    }
    for (const e of missing) {
      t.same(e.argv, []);
      t.equal(e.cgroup, null, 'no cgroup claimed for a process that was gone');
    }
    t.ok(withArgv.some((e) => e.argv[0] === nwTrue), 'some short execs still had their argv');
  });

  t.test('stop is idempotent and safe without start', async (t) => {
    const idle = new ConnectorSource();
    await idle.stop();
    const src = new ConnectorSource();
    await src.start(() => {}, () => {});
    await Promise.all([src.stop(), src.stop()]);
    await src.stop();
    t.pass();
  });

  t.test('a running or stopped reader does not keep the process alive', async (t) => {
    const native = path.join(repoRoot, 'dist', 'collectors', 'process', 'sources', 'connector-source.js');
    // One child forgets to stop; the other stops. Both must exit on their own.
    for (const stop of [false, true]) {
      const script = `import { ConnectorSource } from ${JSON.stringify(native)};
        const s = new ConnectorSource(); await s.start(() => {}, () => {});
        ${stop ? 'await s.stop();' : ''} console.log('done');`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(-1);
        }, 10_000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      t.equal(code, 0, `exits by itself (${stop ? 'after stop' : 'without stop'})`);
      t.match(out, /done/);
    }
  });
});
