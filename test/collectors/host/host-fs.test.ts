// Reading the host through its root: symlinks never lead out of it, reads are bounded.
import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync, openSync, ftruncateSync, closeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import { tempDir } from '../../helpers/pipeline.js';

function tree(): { root: string; fs: HostFs } {
  const root = tempDir('hostfs');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  writeFileSync(path.join(root, 'etc/hostname'), 'inside\n');
  return { root, fs: new HostFs(root) };
}

t.test('absolute and relative symlinks resolve inside the root', async (t) => {
  const { root, fs } = tree();
  symlinkSync('/etc/hostname', path.join(root, 'abs'));
  symlinkSync('../../../../../../etc/hostname', path.join(root, 'etc/rel'));
  t.equal(await fs.readText('/abs'), 'inside\n');
  t.equal(await fs.readText('/etc/rel'), 'inside\n');
});

t.test('a missing directory followed by .. cannot smuggle a symlink out of the root', async (t) => {
  const { root, fs } = tree();
  symlinkSync('/etc', path.join(root, 'evil'));
  t.equal(await fs.readText('/nonexistent/../evil/hostname'), 'inside\n', 'the link is followed inside the root');
  t.equal(await fs.resolve('/nonexistent/../evil/hostname'), path.join(root, 'etc/hostname'));
});

t.test('a symlink loop is an error, not a hang', async (t) => {
  const { root, fs } = tree();
  symlinkSync('b', path.join(root, 'a'));
  symlinkSync('a', path.join(root, 'b'));
  await t.rejects(fs.readText('/a'), { code: 'NW_ERR_HOST_PATH_ESCAPE' });
});

t.test('reads are bounded: a huge file and a FIFO are refused with clear errors', async (t) => {
  const { root, fs } = tree();
  const fd = openSync(path.join(root, 'big'), 'w');
  ftruncateSync(fd, 1024 * 1024 * 1024);
  closeSync(fd);
  await t.rejects(fs.readText('/big'), { code: 'NW_ERR_HOST_FILE_TOO_LARGE', message: /\/big is 1073741824 bytes/ });
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
  await t.rejects(fs.readText('/fifo'), { code: 'NW_ERR_HOST_FILE_NOT_REGULAR' });
});
