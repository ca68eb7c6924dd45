// The agent's V8 flags are given by every way of starting it: the command's shebang, `npm start`,
// and (where node has process.execve) v8-settings' restart, which reads them from one list. A
// flag this node does not know would end every command at start.
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AGENT_FLAGS } from '../../bin/v8-settings.js';

const execFileP = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const cli = path.join(root, 'dist', 'bin', 'nodewarden.js');

t.test('the shebang and npm start give every agent flag', async (t) => {
  const shebang = readFileSync(cli, 'utf8').split('\n')[0]!;
  t.match(shebang, /^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=2 node /);
  const start = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start']!;
  for (const flag of AGENT_FLAGS) {
    t.ok(shebang.split(' ').includes(flag), `the shebang gives ${flag}`);
    t.ok(start.split(' ').includes(flag), `npm start gives ${flag}`);
  }
});

t.test('this node accepts the flags: the command starts through its shebang', async (t) => {
  const { stdout } = await execFileP(cli, ['--version']);
  t.match(stdout.trim(), /^\d+\.\d+\.\d+/);
});
