// Finding the runtime socket under the host root: the usual containerd path first, then k3s and
// RKE2's (/run/k3s/containerd), microk8s's, then CRI-O's; a configured path wins.
import t, { type Test } from 'tap';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { findRuntimeSocket } from '../../../collectors/runtime/socket.js';
import { tempDir } from '../../helpers/pipeline.js';

async function listen(t: Test, file: string): Promise<void> {
  mkdirSync(path.dirname(file), { recursive: true });
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(file, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
}

for (const [what, p] of [['k3s and RKE2', '/run/k3s/containerd/containerd.sock'], ['microk8s', '/var/snap/microk8s/common/run/containerd.sock']] as const) {
  t.test(`${what}: ${p} is found`, async (t) => {
    const root = tempDir('sock-host');
    await listen(t, path.join(root, p));
    const found = await findRuntimeSocket(new HostFs(root));
    t.ok(found.ok && found.socket.hostPath === p, JSON.stringify(found.ok ? found.socket.hostPath : found.error));
  });
}

t.test('the usual containerd socket wins over k3s\'s, and CRI-O comes after both', async (t) => {
  const root = tempDir('sock-host');
  await listen(t, path.join(root, 'run/k3s/containerd/containerd.sock'));
  await listen(t, path.join(root, 'run/crio/crio.sock'));
  let found = await findRuntimeSocket(new HostFs(root));
  t.ok(found.ok && found.socket.hostPath === '/run/k3s/containerd/containerd.sock');
  await listen(t, path.join(root, 'run/containerd/containerd.sock'));
  found = await findRuntimeSocket(new HostFs(root));
  t.ok(found.ok && found.socket.hostPath === '/run/containerd/containerd.sock');
});
