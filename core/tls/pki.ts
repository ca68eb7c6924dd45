// The nodewarden CA: a self-signed ECDSA P-256 CA and the certificates it issues (central's server
// certificate, node and operator client certificates) as PEM and PKCS#8 that node:tls and grpc-js
// load as they are. A client certificate's role is its subject's O, so central can tell them apart.

import { createPrivateKey, randomBytes, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';
import { NwError, describeError } from '../errors.js';

export type CertRole = 'server' | 'node' | 'operator';
export interface Pem { certPem: string; keyPem: string }

export const NODE_ORGANIZATION = 'nodewarden:nodes';
export const OPERATOR_ORGANIZATION = 'nodewarden:operators';

export interface ValidityOptions {
  notBefore?: Date;
  /** Wins over validDays when both are given. */
  notAfter?: Date;
  validDays?: number;
}

export interface IssueOptions extends ValidityOptions {
  role: CertRole;
  commonName: string;
  /** Server certificates only: further names, besides commonName. */
  dnsNames?: string[];
  /** Server certificates only. */
  ipAddresses?: string[];
}

type CryptoKey = webcrypto.CryptoKey;
// Passed to each call rather than set as @peculiar/x509's global provider.
const crypto = webcrypto;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const CA_DAYS = 3650;
const LEAF_DAYS = 365;
const MAX_DAYS = 36500;
const DAY_MS = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
// Backdated so a machine whose clock is a little behind the issuer's accepts a fresh certificate.
const CLOCK_SKEW_MS = 5 * 60_000;

// Kubernetes node names are DNS subdomains (RFC 1123): lowercase labels joined by dots.
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;
// Operator names end up in a subject and, through `nodewarden certs client`, in file names:
// a conservative set (an email address fits) that needs no escaping in either.
const OPERATOR_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

export async function createCa(opts: { commonName?: string } & ValidityOptions = {}): Promise<Pem> {
  const x509 = await loadX509();
  const commonName = opts.commonName ?? 'nodewarden CA';
  // ub-common-name is 64 characters (RFC 5280); control characters would garble every subject print.
  if (commonName.length === 0 || commonName.length > 64 || /[\x00-\x1f\x7f]/.test(commonName)) {
    throw new NwError('NW_ERR_CONFIG', `the CA common name "${commonName}" must be 1 to 64 printable characters`);
  }
  const { notBefore, notAfter } = validity(opts, CA_DAYS);
  const keys = await newKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    ],
  }, crypto);
  return { certPem: certToPem(cert), keyPem: await keyToPem(keys.privateKey) };
}

export async function issueCertificate(ca: Pem, opts: IssueOptions): Promise<Pem> {
  const leaf = leafProfile(opts);
  const { notBefore, notAfter } = validity(opts, LEAF_DAYS);
  const x509 = await loadX509();
  const issuer = await loadCa(x509, ca);
  const keys = await newKeyPair();
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([leaf.eku], false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    await authorityKeyId(x509, issuer.cert),
  ];
  if (leaf.sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(leaf.sans, false));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: leaf.subject,
    // The CA's own encoded name, so the issuer matches its subject byte for byte.
    issuer: issuer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: SIGNING,
    extensions,
  }, crypto);
  return { certPem: certToPem(cert), keyPem: await keyToPem(keys.privateKey) };
}

interface LeafProfile { subject: X509.JsonName; sans: X509.JsonGeneralNames; eku: string }

function leafProfile(opts: IssueOptions): LeafProfile {
  const { role, commonName } = opts;
  if (role !== 'server' && (opts.dnsNames?.length || opts.ipAddresses?.length)) {
    throw new NwError('NW_ERR_CONFIG', `extra DNS names and IP addresses apply to server certificates only, not to a ${role} certificate`);
  }
  switch (role) {
    case 'node':
      if (commonName.length > 253 || !NODE_NAME.test(commonName)) {
        throw new NwError('NW_ERR_CONFIG', `"${commonName}" is not a valid Kubernetes node name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`);
      }
      return {
        subject: [{ CN: [commonName] }, { O: [NODE_ORGANIZATION] }],
        sans: [{ type: 'dns', value: commonName }],
        eku: CLIENT_AUTH,
      };
    case 'operator':
      if (!OPERATOR_NAME.test(commonName)) {
        throw new NwError('NW_ERR_CONFIG', `"${commonName}" is not a valid operator name: use letters, digits, '.', '_', '@', '+' and '-', starting with a letter or digit, at most 64 characters`);
      }
      return { subject: [{ CN: [commonName] }, { O: [OPERATOR_ORGANIZATION] }], sans: [], eku: CLIENT_AUTH };
    case 'server': {
      const names = [...new Set([commonName, ...(opts.dnsNames ?? []), ...(opts.ipAddresses ?? [])])];
      const sans: X509.JsonGeneralNames = names.map((name) => {
        if (isIP(name) !== 0) return { type: 'ip', value: name };
        if (opts.ipAddresses?.includes(name)) throw new NwError('NW_ERR_CONFIG', `"${name}" is not an IP address`);
        if (name.length > 253 || !DNS_NAME.test(name)) throw new NwError('NW_ERR_CONFIG', `"${name}" is neither an IP address nor a DNS name`);
        return { type: 'dns', value: name };
      });
      return { subject: [{ CN: [commonName] }], sans, eku: SERVER_AUTH };
    }
    default:
      throw new NwError('NW_ERR_CONFIG', `unknown certificate role "${String(role)}": expected server, node or operator`);
  }
}

function validity(opts: ValidityOptions, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const days = opts.validDays ?? defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new NwError('NW_ERR_CONFIG', `the validity must be a whole number of days from 1 to ${MAX_DAYS}, not ${days}`);
  }
  const start = opts.notBefore ?? new Date();
  const notBefore = opts.notBefore ?? new Date(start.getTime() - CLOCK_SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(start.getTime() + days * DAY_MS);
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw new NwError('NW_ERR_CONFIG', `a certificate must end (${notAfter.toISOString()}) after it starts (${notBefore.toISOString()})`);
  }
  return { notBefore, notAfter };
}

/** The CA as the generator needs it, after checking the pair is usable: a CA, P-256, key matching. */
async function loadCa(x509: typeof X509, ca: Pem): Promise<{ cert: X509.X509Certificate; key: CryptoKey }> {
  let nodeCert: X509Certificate;
  let keyObject: KeyObject;
  try {
    nodeCert = new X509Certificate(ca.certPem);
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `the CA certificate could not be read as a PEM certificate: ${describeError(err)}`, { cause: err });
  }
  const subject = nodeCert.subject.replace(/\n/g, ', ');
  if (!nodeCert.ca) throw new NwError('NW_ERR_CONFIG', `the CA certificate ${subject} is not a CA certificate (basicConstraints CA:false)`);
  try {
    keyObject = createPrivateKey(ca.keyPem);
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `the CA private key could not be read as a PEM private key: ${describeError(err)}`, { cause: err });
  }
  if (keyObject.asymmetricKeyType !== 'ec' || keyObject.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new NwError('NW_ERR_CONFIG', `the CA private key is not an ECDSA P-256 key (it is ${keyObject.asymmetricKeyType ?? 'unknown'})`);
  }
  if (!nodeCert.checkPrivateKey(keyObject)) {
    throw new NwError('NW_ERR_CONFIG', `the CA private key does not belong to the CA certificate ${subject}`);
  }
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = await crypto.subtle.importKey('pkcs8', der, EC_KEY, false, ['sign']);
  return { cert: new x509.X509Certificate(nodeCert.raw), key };
}

/** The authority key id is the CA's own subject key id when it has one, so OpenSSL pairs them. */
async function authorityKeyId(x509: typeof X509, caCert: X509.X509Certificate): Promise<X509.AuthorityKeyIdentifierExtension> {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto);
}

function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  // Extractable only so the private key can be written out as PKCS#8.
  return crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

/** 128 random bits with the top bit clear: positive and non-zero without DER padding. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function certToPem(cert: X509.X509Certificate): string {
  return cert.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }) as string;
}

let x509Module: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509 is loaded on first use: it takes ~200 ms, and only `certs` and tests issue.
 * It resolves its algorithms through tsyringe, which needs the Reflect metadata API: the
 * reflect-metadata polyfill (as @peculiar/x509's README asks) is loaded just before it.
 */
function loadX509(): Promise<typeof X509> {
  return (x509Module ??= import('reflect-metadata').then(() => import('@peculiar/x509')));
}
