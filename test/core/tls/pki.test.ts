// The CA and what it issues, read back with node:crypto and used for real TLS and gRPC handshakes.
import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createCa, issueCertificate, NODE_ORGANIZATION, OPERATOR_ORGANIZATION, type Pem } from '../../../core/tls/pki.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY_MS = 86_400_000;

let caPromise: Promise<Pem> | undefined;
const sharedCa = () => (caPromise ??= createCa());
const read = (pem: Pem) => new X509Certificate(pem.certPem);

t.test('the CA is a self-signed P-256 CA valid for ten years, its key PKCS#8 PEM', async (t) => {
  const ca = await sharedCa();
  const cert = read(ca);
  t.equal(cert.subject, 'CN=nodewarden CA');
  t.ok(cert.ca, 'basicConstraints CA:true');
  t.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey), 'self-signed');
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const key = createPrivateKey(ca.keyPem);
  t.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(cert.validTo) - Date.now()) / (365 * DAY_MS);
  t.ok(years > 9.9 && years < 10.1, `about ten years (${years.toFixed(2)})`);
});

t.test('a node certificate names the node in CN and DNS SAN, O nodewarden:nodes, clientAuth, one year', async (t) => {
  const ca = await sharedCa();
  const cert = read(await issueCertificate(ca, { role: 'node', commonName: 'worker-1' }));
  t.equal(cert.subject, `CN=worker-1\nO=${NODE_ORGANIZATION}`);
  t.equal(cert.subjectAltName, 'DNS:worker-1');
  t.same(cert.keyUsage, [CLIENT_AUTH]);
  t.notOk(cert.ca, 'basicConstraints CA:false');
  t.ok(cert.checkIssued(read(ca)) && cert.verify(read(ca).publicKey), 'signed by the CA');
  const days = (Date.parse(cert.validTo) - Date.now()) / DAY_MS;
  t.ok(days > 364.9 && days < 365.1, `365 days (${days.toFixed(2)})`);
});

t.test('an operator certificate has O nodewarden:operators, clientAuth and no SAN', async (t) => {
  const cert = read(await issueCertificate(await sharedCa(), { role: 'operator', commonName: 'alice@example.com' }));
  t.equal(cert.subject, `CN=alice@example.com\nO=${OPERATOR_ORGANIZATION}`);
  t.equal(cert.subjectAltName, undefined);
  t.same(cert.keyUsage, [CLIENT_AUTH]);
});

t.test('server names that parse as IP addresses become IP SANs, the rest DNS SANs; CN is the first', async (t) => {
  const pem = await issueCertificate(await sharedCa(), { role: 'server', commonName: 'central.nodewarden.svc', dnsNames: ['10.0.0.5', 'localhost', '::1'] });
  const cert = read(pem);
  t.equal(cert.subject, 'CN=central.nodewarden.svc');
  t.same(cert.keyUsage, [SERVER_AUTH]);
  t.ok(cert.checkIP('10.0.0.5'), 'IPv4 SAN');
  t.ok(cert.checkIP('::1'), 'IPv6 SAN');
  t.equal(cert.checkHost('localhost'), 'localhost');
  t.equal(cert.checkHost('10.0.0.5'), undefined, 'an IP is not also a DNS name');
  t.match(cert.subjectAltName ?? '', /^DNS:central\.nodewarden\.svc, IP Address:10\.0\.0\.5, DNS:localhost, IP Address:/);
});

t.test('serial numbers are random and positive', async (t) => {
  const ca = await sharedCa();
  const a = read(await issueCertificate(ca, { role: 'node', commonName: 'n1' }));
  const b = read(await issueCertificate(ca, { role: 'node', commonName: 'n1' }));
  t.not(a.serialNumber, b.serialNumber);
  t.ok(parseInt(a.serialNumber.slice(0, 2), 16) < 0x80, 'top bit clear');
});

t.test('explicit notBefore and notAfter are kept, even in the past', async (t) => {
  const notBefore = new Date('2020-01-01T00:00:00Z');
  const notAfter = new Date('2021-01-01T00:00:00Z');
  const cert = read(await issueCertificate(await sharedCa(), { role: 'node', commonName: 'old', notBefore, notAfter }));
  t.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
  t.equal(new Date(cert.validTo).toISOString(), notAfter.toISOString());
});

t.test('an invalid Kubernetes node name is refused with NW_ERR_CONFIG', async (t) => {
  const ca = await sharedCa();
  for (const name of ['Worker_1', '-worker', 'worker.', '', 'a'.repeat(254), '../x']) {
    await t.rejects(issueCertificate(ca, { role: 'node', commonName: name }), { code: 'NW_ERR_CONFIG', message: /not a valid Kubernetes node name/ }, JSON.stringify(name));
  }
});

t.test('a CA key that does not match the CA certificate is refused', async (t) => {
  const ca = await sharedCa();
  const other = await createCa();
  await t.rejects(issueCertificate({ certPem: ca.certPem, keyPem: other.keyPem }, { role: 'node', commonName: 'n1' }), {
    code: 'NW_ERR_CONFIG',
    message: /does not belong to the CA certificate/,
  });
});

t.test('a leaf certificate cannot act as the CA', async (t) => {
  const leaf = await issueCertificate(await sharedCa(), { role: 'node', commonName: 'n1' });
  await t.rejects(issueCertificate(leaf, { role: 'node', commonName: 'n2' }), { code: 'NW_ERR_CONFIG', message: /is not a CA certificate/ });
});

t.test('a node certificate authenticates to a node:tls server using the server certificate', async (t) => {
  const ca = await sharedCa();
  const server = await issueCertificate(ca, { role: 'server', commonName: 'localhost', ipAddresses: ['127.0.0.1'] });
  const node = await issueCertificate(ca, { role: 'node', commonName: 'worker-1' });
  const seen = new Promise<{ authorized: boolean; cn: unknown }>((resolve) => {
    const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (socket) => {
      resolve({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject.CN });
      socket.end('ok');
    });
    t.teardown(() => srv.close());
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      const client = tls.connect({ host: '127.0.0.1', port, key: node.keyPem, cert: node.certPem, ca: ca.certPem }, () => {
        t.ok(client.authorized, `the client trusts the server (${String(client.authorizationError)})`);
      });
      client.on('data', () => client.end());
      client.on('error', (err) => t.fail(err.message));
    });
  });
  const r = await seen;
  t.ok(r.authorized, 'the server trusts the node certificate');
  t.equal(r.cn, 'worker-1');
});

t.test('grpc-js serves and calls over mutual TLS with these files', async (t) => {
  const ca = await sharedCa();
  const server = await issueCertificate(ca, { role: 'server', commonName: 'localhost' });
  const operator = await issueCertificate(ca, { role: 'operator', commonName: 'alice' });
  const echo: grpc.ServiceDefinition = {
    Echo: {
      path: '/test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
    },
  };
  const srv = new grpc.Server();
  srv.addService(echo, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const creds = grpc.ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ private_key: Buffer.from(server.keyPem), cert_chain: Buffer.from(server.certPem) }], true);
  const port = await new Promise<number>((resolve, reject) => srv.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => srv.forceShutdown());
  const Client = grpc.makeGenericClientConstructor(echo, 'Echo');
  const client = new Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(operator.keyPem), Buffer.from(operator.certPem)));
  t.teardown(() => client.close());
  const reply = await new Promise<Buffer>((resolve, reject) => {
    (client as unknown as { Echo: (req: Buffer, cb: (err: Error | null, res: Buffer) => void) => void }).Echo(Buffer.from('hello'), (err, res) => (err ? reject(err) : resolve(res)));
  });
  t.equal(reply.toString(), 'hello');
});
