// TLS files are watched and re-read; only a whole, matching pair is taken, and what is wrong is
// said (for /readyz) while the previous material stays in use.
import t from 'tap';
import path from 'node:path';
import { rmSync, writeFileSync, renameSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { CertFiles } from '../../../core/tls/cert-files.js';
import { createCa, issueCertificate } from '../../../core/tls/pki.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';

async function setup(t: { teardown: (f: () => unknown) => void }) {
  const dir = tempDir('certfiles');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await createCa();
  const pair = await issueCertificate(ca, { role: 'server', commonName: 'localhost' });
  const files = { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
  writeFileSync(files.ca, ca.certPem);
  writeFileSync(files.cert, pair.certPem);
  writeFileSync(files.key, pair.keyPem);
  return { dir, ca, files };
}

t.test('a rotated pair is taken and announced to listeners', async (t) => {
  const { ca, files } = await setup(t);
  const changes: string[] = [];
  const cf = new CertFiles({ ...files, onChange: (c) => changes.push(c.message) });
  await cf.start();
  t.teardown(() => cf.stop());
  t.equal(cf.problem(), null);
  const seen: Buffer[] = [];
  cf.addIdentityCertificateListener((u) => u && seen.push(u.certificate));
  await waitFor('first material', () => seen.length === 1);
  const next = await issueCertificate(ca, { role: 'server', commonName: 'localhost' });
  writeFileSync(`${files.key}.new`, next.keyPem);
  writeFileSync(`${files.cert}.new`, next.certPem);
  renameSync(`${files.key}.new`, files.key);
  renameSync(`${files.cert}.new`, files.cert);
  await waitFor('rotation heard', () => seen.length === 2, 5_000);
  t.equal(new X509Certificate(seen[1]!).serialNumber, new X509Certificate(next.certPem).serialNumber);
  t.match(changes.join('\n'), /TLS material loaded/);
});

t.test('a key that does not match the certificate is not taken; the problem is said', async (t) => {
  const { ca, files } = await setup(t);
  const cf = new CertFiles(files);
  await cf.start();
  t.teardown(() => cf.stop());
  const before = cf.current.cert;
  const other = await issueCertificate(ca, { role: 'server', commonName: 'localhost' });
  writeFileSync(files.key, other.keyPem);
  await cf.reload();
  t.match(cf.problem(), /does not belong to the certificate/);
  t.same(cf.current.cert, before, 'the previous pair stays in use');
});

t.test('missing, empty, oversized and non-PEM files are named', async (t) => {
  const { dir, files } = await setup(t);
  const check = async (opts: ConstructorParameters<typeof CertFiles>[0], re: RegExp) => {
    const cf = new CertFiles(opts);
    await cf.start();
    cf.stop();
    t.match(cf.problem(), re);
  };
  await check({ ...files, cert: path.join(dir, 'nope.crt') }, /nope\.crt cannot be read/);
  writeFileSync(path.join(dir, 'empty.crt'), '');
  await check({ ca: path.join(dir, 'empty.crt') }, /empty\.crt is empty/);
  writeFileSync(path.join(dir, 'big.crt'), Buffer.alloc(2 * 1024 * 1024, 65));
  await check({ ca: path.join(dir, 'big.crt') }, /larger than any certificate file/);
  writeFileSync(path.join(dir, 'junk.crt'), 'hello');
  await check({ ca: path.join(dir, 'junk.crt') }, /holds no PEM certificate/);
});

t.test('stop is safe twice and without start', async (t) => {
  const cf = new CertFiles({});
  cf.stop();
  cf.stop();
  t.pass();
});
