// The projected token file: read at start, re-read when the kubelet swaps it, never used when
// it is empty, huge or not one token.
import t from 'tap';
import path from 'node:path';
import { rmSync, writeFileSync, renameSync } from 'node:fs';
import { TokenFile } from '../../../core/identity/token-file.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';

t.test('a rotated token is read and announced', async (t) => {
  const dir = tempDir('token-file');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  writeFileSync(file, 'aaa.bbb.ccc\n');
  const rotated: string[] = [];
  const tf = new TokenFile({ file, onRotate: (x) => rotated.push(x) });
  await tf.start();
  t.teardown(() => tf.stop());
  t.equal(tf.current, 'aaa.bbb.ccc');
  writeFileSync(`${file}.new`, 'ddd.eee.fff');
  renameSync(`${file}.new`, file);
  await waitFor('rotation', () => rotated.length === 1, 5_000);
  t.equal(tf.current, 'ddd.eee.fff');
});

t.test('a bad token file is a problem named with its path, and the last good token stays', async (t) => {
  const dir = tempDir('token-file');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'token');
  writeFileSync(file, 'good.token.here');
  const tf = new TokenFile({ file });
  await tf.start();
  t.teardown(() => tf.stop());
  writeFileSync(file, 'two tokens');
  t.equal(await tf.refresh(), 'good.token.here');
  t.match(tf.problem(), /token.*cannot be used: it holds whitespace/);
  writeFileSync(file, Buffer.alloc(20_000, 97));
  await tf.refresh();
  t.match(tf.problem(), /larger than 16384 bytes/);
  writeFileSync(file, '');
  await tf.refresh();
  t.match(tf.problem(), /it is empty/);
  const missing = new TokenFile({ file: path.join(dir, 'absent') });
  await missing.start();
  missing.stop();
  t.match(missing.problem(), /absent cannot be used/);
});
