import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MAX_INFO_BYTES, parseOciConfig, parseVerboseInfo, securityFromSpec } from '../../../collectors/runtime/oci-spec.js';
import { fixturesDir } from '../../helpers/paths.js';

const fixture = (name: string): string => readFileSync(path.join(fixturesDir, 'cri', name), 'utf8');
const verbose = (name: string) => {
  const r = parseVerboseInfo({ info: fixture(`verbose-${name}.json`) });
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

t.test('a privileged host-network pod (captured from containerd 1.6)', async (t) => {
  const v = verbose('kube-proxy-privileged');
  t.ok(v.pid > 0, 'pid of the container process');
  t.match(v.sandboxId, /^[0-9a-f]{64}$/);
  t.match(v.cgroupPath, /^\/kubepods\/besteffort\/pod[0-9a-f-]{36}\/[0-9a-f]{64}$/);
  const s = v.security;
  t.equal(s.privileged, true);
  t.equal(s.privilegedFrom, 'cri-config');
  t.equal(s.hostNetwork, true, 'from the CRI config: the spec only shows a netns path');
  t.equal(s.hostPid, false);
  t.ok(s.capabilities.includes('SYS_ADMIN'), 'capabilities without the CAP_ prefix');
  t.equal(s.seccomp, 'unconfined');
  t.same(s.mounts, [
    { source: '/run/xtables.lock', destination: '/run/xtables.lock', readonly: false },
    { source: '/lib/modules', destination: '/lib/modules', readonly: true },
  ], 'the mounts the creator asked for, not the hosts/resolv.conf files the runtime adds');
});

t.test('a hardened pod', async (t) => {
  const s = verbose('hardened').security;
  t.equal(s.privileged, false);
  t.same(s.capabilities, []);
  t.equal(s.uid, 65534);
  t.equal(s.readonlyRootfs, true);
  t.equal(s.noNewPrivileges, true);
  t.equal(s.seccomp, 'confined');
  t.equal(s.seccompDefaultAction, 'SCMP_ACT_ERRNO');
  t.equal(s.hostNetwork || s.hostPid || s.hostIpc, false);
  t.same(s.mounts, []);
});

t.test('a plain pod keeps the runtime default capabilities and runs as root', async (t) => {
  const s = verbose('plain').security;
  t.equal(s.uid, 0);
  t.ok(s.capabilities.includes('NET_RAW'));
  t.notOk(s.capabilities.includes('SYS_ADMIN'));
  t.equal(s.apparmor, 'unset');
  t.equal(s.readonlyRootfs, false);
});

t.test('host PID and IPC, added capabilities and a host /etc mount', async (t) => {
  const s = verbose('host-pid-ipc-caps').security;
  t.equal(s.hostPid, true);
  t.equal(s.hostIpc, true);
  t.equal(s.hostNetwork, false);
  t.ok(s.capabilities.includes('SYS_PTRACE') && s.capabilities.includes('NET_ADMIN'));
  t.same(s.mounts, [{ source: '/etc', destination: '/host-etc', readonly: true }]);
});

t.test('an OCI bundle from ctr run --privileged: privilege inferred from the spec alone', async (t) => {
  const r = parseOciConfig(fixture('bundle-ctr-run-privileged.json'));
  if (!r.ok) throw new Error(r.error);
  const s = r.value.security;
  t.equal(s.privileged, true);
  t.equal(s.privilegedFrom, 'oci-spec');
  t.equal(s.hostNetwork, false, 'ctr gives it its own netns');
  t.same(s.mounts, [{ source: '/', destination: '/host', readonly: false }]);
  t.match(r.value.cgroupPath, /hidden-miner$/);
});

t.test('namespaces absent from the spec are the host namespaces', async (t) => {
  const s = securityFromSpec({ linux: { namespaces: [{ type: 'mount' }] } }, undefined);
  t.equal(s.hostPid && s.hostIpc && s.hostNetwork, true);
});

t.test('a seccomp profile that allows everything is no filter', async (t) => {
  const s = securityFromSpec({ linux: { namespaces: [], seccomp: { defaultAction: 'SCMP_ACT_ALLOW' } } }, undefined);
  t.equal(s.seccomp, 'unconfined');
});

t.test('hostile or malformed verbose info is an error value, never a throw', async (t) => {
  const cases: Array<[string, Record<string, string> | null | undefined]> = [
    ['no info map', null],
    ['no info key', {}],
    ['empty', { info: '' }],
    ['not JSON', { info: '{"runtimeSpec": ' }],
    ['an array', { info: '[1,2,3]' }],
    ['a string', { info: '"hello"' }],
    ['no runtimeSpec', { info: '{"pid": 12}' }],
    ['runtimeSpec is a string', { info: '{"runtimeSpec": "x"}' }],
    ['too large', { info: ' '.repeat(MAX_INFO_BYTES + 1) }],
  ];
  for (const [what, info] of cases) {
    const r = parseVerboseInfo(info);
    t.equal(r.ok, false, what);
  }
});

t.test('wrong types inside a spec are ignored field by field', async (t) => {
  const doc = {
    pid: 'twelve',
    sandboxID: 42,
    __proto__: { polluted: true },
    runtimeSpec: {
      process: { user: { uid: '0' }, capabilities: { effective: ['CAP_SYS_ADMIN', 7, null, { a: 1 }] }, apparmorProfile: ['x'] },
      root: { readonly: 'true' },
      linux: { namespaces: 'pid', seccomp: [], cgroupsPath: { x: 1 }, maskedPaths: 'nope' },
      mounts: [null, 1, 'x', { type: 'bind', source: 5, destination: '/x', options: 'ro' }, { type: 'bind', source: '/etc', destination: '/e', options: ['ro'] }],
    },
    config: { linux: { security_context: { privileged: 'yes', namespace_options: { pid: '2' } } }, mounts: 'all' },
  };
  const r = parseVerboseInfo({ info: JSON.stringify(doc) });
  if (!r.ok) throw new Error(r.error);
  t.equal(r.value.pid, 0);
  t.equal(r.value.sandboxId, '');
  t.equal(r.value.cgroupPath, '');
  const s = r.value.security;
  t.same(s.capabilities, ['SYS_ADMIN']);
  t.equal(s.uid, null, 'a string uid is not a uid');
  t.equal(s.readonlyRootfs, false);
  t.equal(s.seccomp, 'unconfined');
  t.equal(s.hostPid, true, 'a namespaces field that is not a list means no namespaces');
  t.same(s.mounts, [{ source: '', destination: '/x', readonly: false }, { source: '/etc', destination: '/e', readonly: true }]);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
});

t.test('huge lists are capped', async (t) => {
  const mounts = Array.from({ length: 100_000 }, (_, i) => ({ type: 'bind', source: `/m${i}`, destination: `/d${i}`, options: ['rbind'] }));
  const s = securityFromSpec({ mounts, linux: {} }, undefined);
  t.equal(s.mounts.length, 1024);
  const longName = 'A'.repeat(100_000);
  const s2 = securityFromSpec({ process: { capabilities: { effective: [longName] } } }, undefined);
  t.ok(s2.capabilities[0]!.length <= 4096);
});
