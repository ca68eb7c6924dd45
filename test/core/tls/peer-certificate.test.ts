// Central's check of a client certificate: trusted issuer, validity, clientAuth, role from O.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createCa, issueCertificate, type Pem } from '../../../core/tls/pki.js';
import { checkPeerCertificate, parseCaBundle } from '../../../core/tls/peer-certificate.js';

let caPromise: Promise<Pem> | undefined;
const sharedCa = () => (caPromise ??= createCa());
const der = (pem: Pem) => new X509Certificate(pem.certPem).raw;

t.test('a node certificate from the CA is accepted with role node, its names and expiry', async (t) => {
  const ca = await sharedCa();
  const pem = await issueCertificate(ca, { role: 'node', commonName: 'worker-1' });
  const r = checkPeerCertificate(der(pem), parseCaBundle(ca.certPem));
  t.match(r, { ok: true, commonName: 'worker-1', dnsNames: ['worker-1'], organizations: ['nodewarden:nodes'], role: 'node' });
  if (!r.ok) return;
  t.equal(r.notAfter.toISOString(), new Date(new X509Certificate(pem.certPem).validTo).toISOString());
  t.equal(r.fingerprint256, new X509Certificate(pem.certPem).fingerprint256);
});

t.test('an operator certificate is accepted with role operator', async (t) => {
  const ca = await sharedCa();
  const r = checkPeerCertificate(der(await issueCertificate(ca, { role: 'operator', commonName: 'alice' })), parseCaBundle(ca.certPem));
  t.match(r, { ok: true, commonName: 'alice', dnsNames: [], organizations: ['nodewarden:operators'], role: 'operator' });
});

t.test('a certificate from another CA is unknown-ca', async (t) => {
  const ca = await sharedCa();
  const other = await createCa({ commonName: 'someone else' });
  const r = checkPeerCertificate(der(await issueCertificate(other, { role: 'node', commonName: 'worker-1' })), parseCaBundle(ca.certPem));
  t.match(r, { ok: false, reason: 'unknown-ca', message: /^the certificate CN=worker-1, O=nodewarden:nodes was issued by CN=someone else, which is not a trusted CA$/ });
});

t.test('a certificate from a CA with the same name but another key is unknown-ca', async (t) => {
  const ca = await sharedCa();
  const impostor = await createCa();
  const r = checkPeerCertificate(der(await issueCertificate(impostor, { role: 'node', commonName: 'worker-1' })), parseCaBundle(ca.certPem));
  t.match(r, { ok: false, reason: 'unknown-ca' });
});

t.test('any CA in the bundle may have issued the certificate', async (t) => {
  const ca = await sharedCa();
  const next = await createCa({ commonName: 'nodewarden CA 2' });
  const r = checkPeerCertificate(der(await issueCertificate(next, { role: 'node', commonName: 'worker-2' })), parseCaBundle(ca.certPem + next.certPem));
  t.match(r, { ok: true, role: 'node' });
});

t.test('an expired certificate is expired, with the time in the message', async (t) => {
  const ca = await sharedCa();
  const pem = await issueCertificate(ca, { role: 'node', commonName: 'worker-1', notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
  const r = checkPeerCertificate(der(pem), parseCaBundle(ca.certPem));
  t.match(r, { ok: false, reason: 'expired', message: 'the certificate CN=worker-1, O=nodewarden:nodes expired at 2021-01-01T00:00:00.000Z' });
});

t.test('a certificate whose validity starts later is not-yet-valid', async (t) => {
  const ca = await sharedCa();
  const start = new Date(Date.now() + 10 * 86_400_000);
  const pem = await issueCertificate(ca, { role: 'node', commonName: 'worker-1', notBefore: start });
  const r = checkPeerCertificate(der(pem), parseCaBundle(ca.certPem));
  t.match(r, { ok: false, reason: 'not-yet-valid', message: /^the certificate CN=worker-1, O=nodewarden:nodes is not valid until / });
});

t.test('the check uses the time it is given', async (t) => {
  const ca = await sharedCa();
  const pem = await issueCertificate(ca, { role: 'node', commonName: 'worker-1', validDays: 1 });
  t.match(checkPeerCertificate(der(pem), parseCaBundle(ca.certPem), new Date(Date.now() + 2 * 86_400_000)), { ok: false, reason: 'expired' });
});

t.test('a certificate issued by an expired CA is expired, naming the CA', async (t) => {
  const oldCa = await createCa({ commonName: 'old CA', notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') });
  const pem = await issueCertificate(oldCa, { role: 'node', commonName: 'worker-1', notBefore: new Date('2020-06-01T00:00:00Z') });
  const r = checkPeerCertificate(der(pem), parseCaBundle(oldCa.certPem));
  t.match(r, { ok: false, reason: 'expired', message: /^the CA CN=old CA that issued the certificate CN=worker-1, O=nodewarden:nodes expired at 2021-01-01/ });
});

t.test('a server certificate is not-client-auth', async (t) => {
  const ca = await sharedCa();
  const r = checkPeerCertificate(der(await issueCertificate(ca, { role: 'server', commonName: 'central' })), parseCaBundle(ca.certPem));
  t.match(r, { ok: false, reason: 'not-client-auth', message: /CN=central is not for client authentication/ });
});

t.test('the CA certificate itself is not-client-auth', async (t) => {
  const ca = await sharedCa();
  t.match(checkPeerCertificate(der(ca), parseCaBundle(ca.certPem)), { ok: false, reason: 'not-client-auth', message: /is a CA certificate/ });
});

t.test('a garbage buffer is malformed', async (t) => {
  const ca = await sharedCa();
  t.match(checkPeerCertificate(Buffer.from('not a certificate'), parseCaBundle(ca.certPem)), { ok: false, reason: 'malformed', message: /could not be parsed/ });
});

t.test('parseCaBundle returns every certificate of a bundle', async (t) => {
  const a = await sharedCa();
  const b = await createCa({ commonName: 'second' });
  const cas = parseCaBundle(Buffer.from(`# comment\n${a.certPem}\n${b.certPem}`));
  t.same(cas.map((c) => c.subject), ['CN=nodewarden CA', 'CN=second']);
});

t.test('parseCaBundle refuses text without a certificate', async (t) => {
  t.throws(() => parseCaBundle('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), { code: 'NW_ERR_CONFIG', message: /holds no certificate/ });
});

t.test('parseCaBundle refuses a leaf certificate, naming it', async (t) => {
  const leaf = await issueCertificate(await sharedCa(), { role: 'server', commonName: 'central' });
  t.throws(() => parseCaBundle(leaf.certPem), { code: 'NW_ERR_CONFIG', message: 'certificate 1 of the CA bundle (CN=central) is not a CA certificate' });
});

t.test('parseCaBundle refuses a corrupt certificate block, naming its position', async (t) => {
  const ca = await sharedCa();
  t.throws(() => parseCaBundle(`${ca.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`), { code: 'NW_ERR_CONFIG', message: /^certificate 2 of the CA bundle could not be parsed/ });
});
