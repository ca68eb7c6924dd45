// The agent's host facts: the OS from the host root's os-release, the rest from node:os, and
// systeminformation asked only when os-release cannot name the OS.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { gatherHostFacts, type OsInfo } from '../../daemon/host-facts.js';
import { HostFs } from '../../collectors/host/host-fs.js';
import { tempDir } from '../helpers/pipeline.js';

function hostRoot(osRelease: string | null): HostFs {
  const root = tempDir('host-facts');
  if (osRelease !== null) {
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc', 'os-release'), osRelease);
  }
  return new HostFs(root);
}

const SI: OsInfo = { distro: 'Debian GNU/Linux', release: '11', platform: 'linux', kernel: '5.10.0-si', arch: 'x64' };

t.test("a host root's os-release names the OS; systeminformation is not asked", async (t) => {
  let asked = 0;
  const warnings: string[] = [];
  const facts = await gatherHostFacts(hostRoot('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n'), () => 'containerd 1.7.24', (m) => warnings.push(m), async () => {
    asked++;
    return SI;
  });
  t.equal(asked, 0);
  t.same(facts.os, { name: 'Ubuntu', version: '24.04', family: 'ubuntu', platform: process.platform });
  t.equal(facts.kernel, os.release());
  t.equal(facts.architecture, os.machine());
  t.equal(facts.containerRuntime, 'containerd 1.7.24');
  t.ok(Math.abs(facts.bootTime - (Date.now() - os.uptime() * 1000)) < 5000, 'boot time from the uptime');
  t.same(warnings, []);
});

t.test('without a complete os-release, systeminformation fills in what it lacks', async (t) => {
  const partial = await gatherHostFacts(hostRoot('NAME="Debian GNU/Linux"\nID=debian\n'), () => '', () => undefined, async () => SI);
  t.same(partial.os, { name: 'Debian GNU/Linux', version: '11', family: 'debian', platform: 'linux' }, 'sid has no VERSION_ID');
  t.equal(partial.kernel, '5.10.0-si');
  t.equal(partial.architecture, 'x86_64');
  const none = await gatherHostFacts(hostRoot(null), () => '', () => undefined, async () => SI);
  t.same(none.os, { name: 'Debian GNU/Linux', version: '11', family: 'debian', platform: 'linux' });
});

t.test('when systeminformation fails too, the kernel and architecture still go out, with a warning', async (t) => {
  const warnings: string[] = [];
  const facts = await gatherHostFacts(hostRoot(null), () => '', (m) => warnings.push(m), async () => {
    throw new Error('no shell');
  });
  t.equal(facts.kernel, os.release());
  t.equal(facts.os.name, '');
  t.match(warnings, [/could not be read \(no shell\)/]);
});

t.test('the real systeminformation answers on this machine', async (t) => {
  const facts = await gatherHostFacts(hostRoot(null), () => '', (m) => t.fail(m));
  t.ok(facts.os.name.length > 0, `named ${facts.os.name}`);
});
