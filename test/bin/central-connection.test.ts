// How the reading commands reach central: a token is read bounded and checked, never sent in
// plaintext, and cert and key go together.
import t from 'tap';
import path from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from '../../bin/central-connection.js';
import { tempDir } from '../helpers/pipeline.js';

t.test('a token file is read and checked; a bad one is refused naming the file', async (t) => {
  const dir = tempDir('conn');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = path.join(dir, 'good');
  writeFileSync(good, 'aaa.bbb.ccc\n');
  t.ok(connect({ central: '127.0.0.1:1', token: good }).credentials._isSecure());
  const two = path.join(dir, 'two');
  writeFileSync(two, 'one two');
  t.throws(() => connect({ token: two }), /--token .*two cannot be used: it holds whitespace/);
  const big = path.join(dir, 'big');
  writeFileSync(big, Buffer.alloc(20_000, 97));
  t.throws(() => connect({ token: big }), /larger than 16384 bytes/);
  t.throws(() => connect({ token: path.join(dir, 'absent') }), /absent cannot be used/);
});

t.test('a token is never sent in plaintext, and cert and key go together', async (t) => {
  t.throws(() => connect({ token: '/x', insecure: true }), /never sent in plaintext/);
  t.throws(() => connect({ tlsCert: '/x' }), /--tls-cert and --tls-key go together/);
  t.notOk(connect({ insecure: true }).credentials._isSecure());
});
