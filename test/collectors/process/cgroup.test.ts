import t from 'tap';
import { parseCgroup, lastComponent } from '../../../collectors/process/cgroup.js';

const ID = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);
const UID = '3f2b8c1e-1d2a-4c5b-9e8f-0a1b2c3d4e5f';

t.test('cgroup v1, cgroupfs driver (containerd, as this machine shows it)', async (t) => {
  const info = parseCgroup(`12:pids:/kubepods/besteffort/pod${UID}/${ID}\n11:memory:/kubepods/besteffort/pod${UID}/${ID}\n1:name=systemd:/\n`);
  t.equal(info.containerId, ID);
  t.equal(info.podUid, UID);
  t.ok(info.kubepods);
});

t.test('cgroup v2, systemd driver, containerd', async (t) => {
  const u = UID.replace(/-/g, '_');
  const info = parseCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice/cri-containerd-${ID}.scope\n`);
  t.equal(info.containerId, ID);
  t.equal(info.podUid, UID, 'underscores turned back into dashes');
});

t.test('CRI-O and Docker formats', async (t) => {
  t.equal(parseCgroup(`0::/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope\n`).containerId, ID);
  t.equal(parseCgroup(`5:cpu,cpuacct:/docker/${ID}\n`).containerId, ID);
  t.equal(parseCgroup(`0::/system.slice/docker-${ID}.scope\n`).containerId, ID);
});

t.test('a host process has no container', async (t) => {
  const info = parseCgroup('0::/system.slice/kubelet.service\n');
  t.equal(info.containerId, null);
  t.equal(info.podUid, null);
  t.notOk(info.kubepods);
  t.equal(info.path, '/system.slice/kubelet.service');
});

t.test('a ctr-run container with a name, not a hex id, keeps its path for inventory matching', async (t) => {
  const info = parseCgroup('4:memory:/default/hidden-miner\n0::/default/hidden-miner\n');
  t.equal(info.containerId, null);
  t.equal(lastComponent(info.path), 'hidden-miner');
});

t.test('garbage does not throw', async (t) => {
  t.equal(parseCgroup('\u0000\u0001garbage\n::::\n').containerId, null);
  t.equal(parseCgroup('').path, '/');
});
