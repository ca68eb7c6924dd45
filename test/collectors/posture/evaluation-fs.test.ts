// EvaluationFs must resolve exactly as HostFs does (it only memoises lstat/readlink), read
// within the same bounds, and a new evaluation must see files that changed since the last one.

import t, { type Test } from 'tap';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { EvaluationFs } from '../../../collectors/posture/evaluation-fs.js';
import { evaluateNode } from '../../../collectors/posture/index.js';
import { isNwError } from '../../../core/errors.js';
import { prepareHost } from './fixture-host.js';

async function tree(t: Test): Promise<string> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'nw-evalfs-'));
  t.teardown(() => fsp.rm(root, { recursive: true, force: true }));
  await fsp.mkdir(path.join(root, 'etc/kubernetes/pki'), { recursive: true });
  await fsp.mkdir(path.join(root, 'var/lib'), { recursive: true });
  await fsp.writeFile(path.join(root, 'etc/shadow'), 'x');
  await fsp.writeFile(path.join(root, 'etc/kubernetes/pki/ca.crt'), 'ca');
  await fsp.symlink('/etc/shadow', path.join(root, 'etc/kubernetes/abs'));
  await fsp.symlink('../../../../../../etc/shadow', path.join(root, 'etc/kubernetes/rel'));
  await fsp.symlink('/etc/kubernetes', path.join(root, 'var/lib/k'));
  await fsp.symlink('loop2', path.join(root, 'etc/loop1'));
  await fsp.symlink('loop1', path.join(root, 'etc/loop2'));
  await fsp.symlink('/', path.join(root, 'var/lib/rootlink'));
  return root;
}

const PATHS = [
  '/etc/kubernetes/abs',
  '/etc/kubernetes/rel',
  '/var/lib/k/pki/ca.crt',
  '/var/lib/k/../shadow',
  '/var/lib/rootlink/etc/shadow',
  '/var/lib/rootlink/../../..',
  '/missing/../etc/./shadow',
  '/etc/kubernetes/nope/deeper',
  '/',
];

t.test('EvaluationFs resolves every path exactly as HostFs does', async (t) => {
  const root = await tree(t);
  const plain = new HostFs(root);
  const cached = new EvaluationFs(root);
  for (const p of PATHS) {
    t.equal(await cached.resolve(p), await plain.resolve(p), p);
    t.equal(await cached.resolve(p, false), await plain.resolve(p, false), `${p} (last component unresolved)`);
    t.equal(await cached.resolve(p), await plain.resolve(p), `${p} again, from the cache`);
  }
  for (const fs of [plain, cached]) {
    await t.rejects(fs.resolve('/etc/loop1'), { code: 'NW_ERR_HOST_PATH_ESCAPE' });
  }
});

t.test('EvaluationFs stat and readFile keep HostFs\'s answers and limits', async (t) => {
  const root = await tree(t);
  const plain = new HostFs(root);
  const cached = new EvaluationFs(root);
  t.equal((await cached.stat('/etc/kubernetes/abs'))?.size, (await plain.stat('/etc/kubernetes/abs'))?.size);
  t.equal(await cached.stat('/etc/nothing'), null);
  t.equal((await cached.readFile('/var/lib/k/pki/ca.crt')).toString(), 'ca');
  await fsp.writeFile(path.join(root, 'big'), Buffer.alloc(100, 1));
  t.equal((await cached.readFile('/big', 100)).length, 100, 'exactly at the limit is fine');
  const err = await cached.readFile('/big', 99).catch((e: unknown) => e);
  t.ok(isNwError(err, 'NW_ERR_HOST_FILE_TOO_LARGE'));
  const dir = await cached.readFile('/etc').catch((e: unknown) => e);
  t.ok(isNwError(dir, 'NW_ERR_HOST_FILE_NOT_REGULAR'));
  t.equal((await cached.readFile('/proc-like', 10).catch(() => Buffer.from('missing'))).toString(), 'missing');
});

t.test('EvaluationFs reads procfs files, whose stat size is 0, to the end', async (t) => {
  const fs = new EvaluationFs('/');
  const text = (await fs.readFile(`/proc/${process.pid}/cmdline`)).toString();
  t.equal(text.split('\0')[0], process.argv0, 'argv[0] of this very process');
  t.ok(text.endsWith('\0'), 'read to the end');
});

t.test('a new evaluation sees a changed config file and a replaced certificate', async (t) => {
  const host = await prepareHost('hardened-worker');
  t.teardown(() => host.cleanup());
  const first = await evaluateNode(host.fs, { now: host.now });
  t.equal(first.results.find((r) => r.id === '4.2.4')!.status, 'pass');
  const config = await fsp.readFile(host.real('/var/lib/kubelet/config.yaml'), 'utf8');
  await host.write('/var/lib/kubelet/config.yaml', config.replace('readOnlyPort: 0', 'readOnlyPort: 10255'));
  const expired = await prepareHost('misconfigured-worker', { processes: false });
  t.teardown(() => expired.cleanup());
  await host.write('/etc/kubernetes/pki/ca.crt', await fsp.readFile(expired.real('/var/lib/kubelet/pki/kubelet.crt'), 'utf8'));
  const second = await evaluateNode(host.fs, { now: host.now });
  t.equal(second.results.find((r) => r.id === '4.2.4')!.status, 'warn', 'Manual in the benchmark: a warning');
  const ca = second.results.find((r) => r.id === 'nw-cert-expiry' && r.subject === '/etc/kubernetes/pki/ca.crt')!;
  t.equal(ca.status, 'fail');
  t.match(ca.evidence, 'CN=node-2@1764000000 expired');
});
