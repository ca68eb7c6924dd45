// A process in a pod that calls itself `kubelet` must not stand for the node's kubelet: its flags
// could make every 4.2.x check pass. Real processes, the real /proc, a real kubepods cgroup.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { discoverNode } from '../../../collectors/posture/index.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';
import { readFileSync } from 'node:fs';

const CGROUP = `/sys/fs/cgroup/pids/kubepods/nw-impostor-${process.pid}`;

if (process.getuid?.() !== 0 || !existsSync('/sys/fs/cgroup/pids')) {
  t.plan(0, 'needs root and the cgroup v1 pids hierarchy to place a process in a kubepods cgroup');
  process.exit(0);
}

function fake(flags: string[]) {
  const dir = tempDir('impostor');
  const script = path.join(dir, 'idle.cjs');
  writeFileSync(script, 'setInterval(() => {}, 1 << 30);\n');
  return spawn(process.execPath, [script, ...flags], { argv0: '/usr/bin/kubelet', stdio: 'ignore' });
}

t.test('a kubelet-named process in a pod cgroup is ignored; the host kubelet is found', async (t) => {
  mkdirSync(CGROUP, { recursive: true });
  // The impostor starts first, so it has the lower pid that discovery would otherwise prefer.
  const impostor = fake(['--anonymous-auth=false', '--read-only-port=0']);
  t.teardown(() => impostor.kill('SIGKILL'));
  writeFileSync(path.join(CGROUP, 'cgroup.procs'), String(impostor.pid));
  const real = fake(['--config=/var/lib/kubelet/config.yaml']);
  t.teardown(async () => {
    real.kill('SIGKILL');
    impostor.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    try {
      rmdirSync(CGROUP);
    } catch {
      // still busy: the kernel frees it once the process is reaped
    }
  });
  await waitFor('both running', () => [impostor.pid, real.pid].every((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('/usr/bin/kubelet');
    } catch {
      return false;
    }
  }));
  t.match(readFileSync(`/proc/${impostor.pid}/cgroup`, 'utf8'), /kubepods/, 'the impostor runs in a pod cgroup');
  const d = await discoverNode(new HostFs(tempDir('empty-host')), { procFs: new HostFs('/') });
  t.equal(d.kubelet.process?.pid, real.pid, 'the host process is the kubelet');
});
