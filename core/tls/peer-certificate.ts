// Central's own check of a TLS client certificate. Central asks for a certificate but cannot let
// TLS reject a missing one (token-authenticated agents have none), so it verifies what it gets here:
// issued and signed directly by a CA in the bundle (intermediates are not followed), both within
// their validity, a leaf with clientAuth. The role comes from the subject's O (see pki.ts).

import { X509Certificate } from 'node:crypto';
import { NwError, describeError } from '../errors.js';
import { NODE_ORGANIZATION, OPERATOR_ORGANIZATION } from './pki.js';

export type PeerCheck =
  | { ok: true; commonName: string; dnsNames: string[]; organizations: string[]; role: 'node' | 'operator' | 'other'; notAfter: Date; fingerprint256: string }
  | { ok: false; reason: 'unknown-ca' | 'expired' | 'not-yet-valid' | 'not-client-auth' | 'malformed'; message: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle; each must be a CA, and there must be at least one. */
export function parseCaBundle(pem: string | Buffer): X509Certificate[] {
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new NwError('NW_ERR_CONFIG', 'the CA bundle holds no certificate: expected one or more PEM blocks starting "-----BEGIN CERTIFICATE-----"');
  }
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `certificate ${i + 1} of the CA bundle could not be parsed: ${describeError(err)}`, { cause: err });
    }
    // A leaf here (say server.crt given for ca.crt) would silently trust nothing; say so at start.
    if (!cert.ca) throw new NwError('NW_ERR_CONFIG', `certificate ${i + 1} of the CA bundle (${describeName(cert.subject)}) is not a CA certificate`);
    return cert;
  });
}

/** Check a peer's DER certificate (tls PeerCertificate.raw) against the CA bundle at `now`. */
export function checkPeerCertificate(raw: Buffer, cas: X509Certificate[], now: Date = new Date()): PeerCheck {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch (err) {
    return { ok: false, reason: 'malformed', message: `the client certificate could not be parsed: ${describeError(err)}` };
  }
  const subject = parseName(cert.subject);
  const name = describeName(cert.subject);

  // checkIssued matches the issuer name and key ids; verify proves the CA really signed it.
  const ca = cas.find((c) => c.ca && cert.checkIssued(c) && cert.verify(c.publicKey));
  if (!ca) {
    return { ok: false, reason: 'unknown-ca', message: `the certificate ${name} was issued by ${describeName(cert.issuer)}, which is not a trusted CA` };
  }
  const caName = describeName(ca.subject);
  const caFrom = new Date(ca.validFrom);
  const caTo = new Date(ca.validTo);
  if (now < caFrom) return { ok: false, reason: 'not-yet-valid', message: `the CA ${caName} that issued the certificate ${name} is not valid until ${caFrom.toISOString()}` };
  if (now > caTo) return { ok: false, reason: 'expired', message: `the CA ${caName} that issued the certificate ${name} expired at ${caTo.toISOString()}` };

  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) {
    return { ok: false, reason: 'malformed', message: `the certificate ${name} has an unreadable validity period` };
  }
  if (now < from) return { ok: false, reason: 'not-yet-valid', message: `the certificate ${name} is not valid until ${from.toISOString()}` };
  if (now > to) return { ok: false, reason: 'expired', message: `the certificate ${name} expired at ${to.toISOString()}` };

  // A CA certificate is never a client identity, even one this CA signed.
  if (cert.ca) return { ok: false, reason: 'not-client-auth', message: `the certificate ${name} is a CA certificate, not a client certificate` };
  // Stricter than RFC 5280 (absent EKU means any use): every certificate nodewarden issues names its use.
  const eku = cert.keyUsage as string[] | undefined;
  if (!eku?.includes(CLIENT_AUTH)) {
    return { ok: false, reason: 'not-client-auth', message: `the certificate ${name} is not for client authentication (its extended key usage lacks clientAuth)` };
  }

  const commonName = subject.get('CN')?.[0];
  if (commonName === undefined || commonName === '') {
    return { ok: false, reason: 'malformed', message: `the certificate ${name} has no common name (CN)` };
  }
  const organizations = subject.get('O') ?? [];
  return {
    ok: true,
    commonName,
    dnsNames: parseSubjectAltName(cert.subjectAltName).filter((n) => n.type === 'DNS').map((n) => n.value),
    organizations,
    role: roleOf(organizations),
    notAfter: to,
    fingerprint256: cert.fingerprint256,
  };
}

/** A certificate claiming both roles gets neither: least privilege over guessing. */
function roleOf(organizations: string[]): 'node' | 'operator' | 'other' {
  const node = organizations.includes(NODE_ORGANIZATION);
  const operator = organizations.includes(OPERATOR_ORGANIZATION);
  if (node && !operator) return 'node';
  if (operator && !node) return 'operator';
  return 'other';
}

/**
 * Node prints a name one attribute per line ("CN=worker-1\nO=nodewarden:nodes"), with RFC 2253
 * escapes (\, or \0A for a control byte) and " + " between the parts of a multi-valued RDN.
 */
function parseName(printed: string | undefined): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of (printed ?? '').split('\n')) {
    for (const part of line.split(/ \+ (?=[A-Za-z0-9.]+=)/)) {
      const eq = part.indexOf('=');
      if (eq <= 0) continue;
      const key = part.slice(0, eq);
      const values = fields.get(key) ?? [];
      values.push(unescapeRfc2253(part.slice(eq + 1)));
      fields.set(key, values);
    }
  }
  return fields;
}

function unescapeRfc2253(value: string): string {
  const bytes: number[] = [];
  const out: string[] = [];
  const flush = () => {
    if (bytes.length > 0) out.push(Buffer.from(bytes).toString('utf8'));
    bytes.length = 0;
  };
  for (let i = 0; i < value.length; i++) {
    const hex = value[i] === '\\' ? /^[0-9A-Fa-f]{2}/.exec(value.slice(i + 1)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
      continue;
    }
    flush();
    if (value[i] === '\\' && i + 1 < value.length) i++;
    out.push(value[i]!);
  }
  flush();
  return out.join('');
}

/**
 * Node prints SANs as "DNS:a, IP Address:10.0.0.1"; a value that holds a comma or quote is a
 * JSON string ("DNS:\"a, b\""), so splitting on ", " alone would be wrong.
 */
function parseSubjectAltName(printed: string | undefined): { type: string; value: string }[] {
  const names: { type: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  let m: RegExpExecArray | null;
  while (printed && entry.lastIndex < printed.length && (m = entry.exec(printed)) !== null) {
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    names.push({ type: m[1]!, value });
  }
  return names;
}

/** "CN=worker-1, O=nodewarden:nodes" for messages. */
function describeName(printed: string | undefined): string {
  const s = (printed ?? '').split('\n').filter(Boolean).join(', ');
  return s === '' ? '(empty subject)' : s;
}
