// Certificates for tests of the trusted channel, written to a temporary folder: a CA, central's
// server certificate (localhost, 127.0.0.1), node and operator certificates, an expired one,
// and a second CA that central does not trust.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createCa, issueCertificate, type Pem } from '../../core/tls/pki.js';
import { tempDir } from './pipeline.js';

export interface PairFiles {
  cert: string;
  key: string;
}

export interface TlsFixture {
  dir: string;
  ca: string;
  ca2: string;
  caPem: Pem;
  server: PairFiles;
  node: (name: string, opts?: { expired?: boolean; otherCa?: boolean }) => Promise<PairFiles>;
  operator: (name: string) => Promise<PairFiles>;
  /** A fresh server pair written over server.crt/server.key (a rotation). */
  rotateServer: () => Promise<void>;
}

export async function tlsFixture(): Promise<TlsFixture> {
  const dir = tempDir('tls');
  const caPem = await createCa();
  const otherCa = await createCa({ commonName: 'someone else' });
  const write = (name: string, pem: Pem): PairFiles => {
    const cert = path.join(dir, `${name}.crt`);
    const key = path.join(dir, `${name}.key`);
    writeFileSync(key, pem.keyPem, { mode: 0o600 });
    writeFileSync(cert, pem.certPem);
    return { cert, key };
  };
  writeFileSync(path.join(dir, 'ca.crt'), caPem.certPem);
  writeFileSync(path.join(dir, 'ca2.crt'), otherCa.certPem);
  const serverPem = () => issueCertificate(caPem, { role: 'server', commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
  const server = write('server', await serverPem());
  let n = 0;
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    ca2: path.join(dir, 'ca2.crt'),
    caPem,
    server,
    node: async (name, opts = {}) => {
      const validity = opts.expired ? { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) } : {};
      return write(`node-${name}-${n++}`, await issueCertificate(opts.otherCa ? otherCa : caPem, { role: 'node', commonName: name, ...validity }));
    },
    operator: async (name) => write(`operator-${name}-${n++}`, await issueCertificate(caPem, { role: 'operator', commonName: name })),
    rotateServer: async () => {
      const pem = await serverPem();
      // As the kubelet and cert-manager do: the new files land whole (rename), key and cert together.
      writeFileSync(`${server.key}.new`, pem.keyPem, { mode: 0o600 });
      writeFileSync(`${server.cert}.new`, pem.certPem);
      const { renameSync } = await import('node:fs');
      renameSync(`${server.key}.new`, server.key);
      renameSync(`${server.cert}.new`, server.cert);
    },
  };
}
