// Who is on the other end of a call to central. Two credentials name a node: a TLS client
// certificate signed by the client CA (the node in its CN or a DNS SAN), or a projected service
// account token of the agent's service account, checked by TokenReview (the node from the review).
// Operators read with a certificate whose subject O is nodewarden:operators, or a token of a
// listed reader. Each refusal carries a gRPC status and a reason; it is counted by reason and
// logged once per peer and reason.

import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { checkPeerCertificate } from '../../core/tls/peer-certificate.js';
import type { CertFiles } from '../../core/tls/cert-files.js';
import type { ReviewResult, TokenReviewer } from './token-review.js';

export type Principal =
  /** Plaintext (insecure) mode or the in-process `run`: nobody is checked. */
  | { kind: 'anonymous' }
  | { kind: 'node'; node: string; names: string[]; via: 'certificate' | 'token'; subject: string; expiresAt?: number }
  | { kind: 'operator'; name: string; via: 'certificate' | 'token' };

export type Verdict<P = Principal> = { ok: true; principal: P } | Refused;
export interface Refused {
  ok: false;
  status: grpc.status;
  reason: string;
  message: string;
}

export interface AuthenticatorOptions {
  insecure: boolean;
  /** The client CA (certificates of nodes and operators); null when no clientCa is configured. */
  clientCa: CertFiles | null;
  reviewer: TokenReviewer | null;
  serviceAccounts: string[];
  readers: string[];
  refused: Counter<'service' | 'reason'>;
  logger: Logger;
}

/** What every kind of server call offers (grpc-js does not export its AuthContext type). */
type AnyCall = { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } }; getPeer(): string; metadata?: grpc.Metadata };

const LOGGED_MAX = 10_000;
/**
 * TokenReviews in flight at once. Reviews of one token share a request and are cached, so only
 * distinct unknown tokens count: past this many, central answers UNAVAILABLE (agents back off
 * and retry) rather than queue without bound in front of a slow API server.
 */
const MAX_PENDING_REVIEWS = 1_000;

export class Authenticator {
  private readonly logged = new Set<string>();
  private pendingReviews = 0;

  constructor(private readonly opts: AuthenticatorOptions) {}

  get insecure(): boolean {
    return this.opts.insecure;
  }

  /**
   * An agent's Hello: its certificate, else its token, must name a node. Which node the Hello
   * claims is checked by the caller against `names` (a certificate may carry several DNS names).
   */
  async agent(call: AnyCall, token: string): Promise<Verdict> {
    if (this.opts.insecure) return { ok: true, principal: { kind: 'anonymous' } };
    const cert = this.certificate(call);
    if (cert && !cert.ok) return this.refuse('ingest', call, cert);
    if (cert?.ok) {
      if (cert.principal.kind === 'operator') {
        return this.refuse('ingest', call, deny('operator-certificate', `the certificate of operator ${cert.principal.name} may read but not send events`));
      }
      return cert;
    }
    if (!token) return this.refuse('ingest', call, unauth('no-credential', 'the agent presented neither a client certificate nor a service account token'));
    if (!this.opts.reviewer) return this.refuse('ingest', call, unauth('token-review-off', 'the agent sent a token but central has no TokenReview access (central.tokenReview)'));
    const r = await this.bounded(() => this.opts.reviewer!.reviewAgent(token, this.opts.serviceAccounts));
    if (!r) return this.refuse('ingest', call, busy());
    // The API server allows a minute of clock skew past exp; central does not keep a stream on it.
    if (r.ok && r.identity.expiresAt <= Date.now()) {
      return this.refuse('ingest', call, unauth('token-expired', `the service account token expired at ${new Date(r.identity.expiresAt).toISOString()}`));
    }
    return this.fromReview('ingest', call, r, (id) => ({
      kind: 'node', node: id.node!, names: [id.node!], via: 'token', subject: id.username, expiresAt: id.expiresAt,
    }));
  }

  /** A reader (Query, Feed): an operator certificate, or a bearer token of a listed reader. */
  async reader(call: AnyCall, service: string): Promise<Verdict> {
    if (this.opts.insecure) return { ok: true, principal: { kind: 'anonymous' } };
    const cert = this.certificate(call);
    if (cert && !cert.ok) return this.refuse(service, call, cert);
    if (cert?.ok) {
      if (cert.principal.kind === 'operator') return cert;
      const who = cert.principal.kind === 'node' ? `node ${cert.principal.node}` : 'this peer';
      return this.refuse(service, call, deny('node-credential', `the certificate of ${who} may send its own events but not read`));
    }
    const header = call.metadata?.get('authorization')[0];
    const token = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : '';
    if (!token) return this.refuse(service, call, unauth('no-credential', 'reading needs an operator certificate or a bearer token'));
    if (!this.opts.reviewer) return this.refuse(service, call, unauth('token-review-off', 'a token was sent but central has no TokenReview access (central.tokenReview)'));
    const r = await this.bounded(() => this.opts.reviewer!.reviewReader(token, this.opts.readers));
    if (!r) return this.refuse(service, call, busy());
    return this.fromReview(service, call, r, (id) => ({ kind: 'operator', name: id.username, via: 'token' }));
  }

  /** Run a review unless too many are in flight (then undefined). */
  private async bounded(review: () => Promise<ReviewResult>): Promise<ReviewResult | undefined> {
    if (this.pendingReviews >= MAX_PENDING_REVIEWS) return undefined;
    this.pendingReviews++;
    try {
      return await review();
    } finally {
      this.pendingReviews--;
    }
  }

  /** The verified client certificate, a refusal for a bad one, or null when none was sent. */
  private certificate(call: AnyCall): Verdict | null {
    const peer = call.getAuthContext().sslPeerCertificate ?? rejectedPeerCertificate(call);
    if (!peer?.raw) return null;
    const cas = this.opts.clientCa?.current.cas ?? [];
    if (cas.length === 0) return unauth('no-client-ca', 'a client certificate was sent but central has no client CA (central.tls.clientCa)');
    const check = checkPeerCertificate(peer.raw, cas);
    if (!check.ok) return unauth(`certificate-${check.reason}`, check.message);
    if (check.role === 'operator') return { ok: true, principal: { kind: 'operator', name: check.commonName, via: 'certificate' } };
    const names = [...new Set([check.commonName, ...check.dnsNames].filter(Boolean))];
    return {
      ok: true,
      principal: { kind: 'node', node: check.commonName || names[0] || '', names, via: 'certificate', subject: `CN=${check.commonName}`, expiresAt: check.notAfter.getTime() },
    };
  }

  private fromReview(service: string, call: AnyCall, r: ReviewResult, principal: (id: Extract<ReviewResult, { ok: true }>['identity']) => Principal): Verdict {
    if (r.ok) return { ok: true, principal: principal(r.identity) };
    const status = r.status === 'unavailable' ? grpc.status.UNAVAILABLE : r.status === 'permission-denied' ? grpc.status.PERMISSION_DENIED : grpc.status.UNAUTHENTICATED;
    return this.refuse(service, call, { ok: false, status, reason: `token-${r.reason}`, message: r.message });
  }

  /** Count every refusal; log it once per peer credential and reason. */
  refuse(service: string, call: AnyCall, r: Refused): Refused {
    this.opts.refused.inc({ service, reason: r.reason });
    const key = `${service}|${peerKey(call)}|${r.reason}`;
    if (!this.logged.has(key)) {
      if (this.logged.size >= LOGGED_MAX) this.logged.clear();
      this.logged.add(key);
      this.opts.logger.warn({ service, reason: r.reason, peer: call.getPeer() }, `Refused a ${service} call: ${r.message}`);
    }
    return r;
  }
}

function busy(): Refused {
  return { ok: false, status: grpc.status.UNAVAILABLE, reason: 'review-busy', message: `more than ${MAX_PENDING_REVIEWS} token reviews are in flight; try again shortly` };
}

export function unauth(reason: string, message: string): Refused {
  return { ok: false, status: grpc.status.UNAUTHENTICATED, reason, message };
}

export function deny(reason: string, message: string): Refused {
  return { ok: false, status: grpc.status.PERMISSION_DENIED, reason, message };
}

/**
 * grpc-js shows only certificates that TLS already verified; one from another CA or expired
 * looks like no certificate at all, and the refusal would say "no credential". To name the real
 * reason this reaches the call's TLS socket through grpc-js's internals (1.14: call → stream →
 * session → socket); should that path ever change, the refusal falls back to "no credential".
 */
function rejectedPeerCertificate(call: AnyCall): { raw?: Buffer } | undefined {
  const inner = (call as unknown as { call?: { stream?: unknown; nextCall?: { stream?: unknown } } }).call;
  const stream = (inner?.stream ?? inner?.nextCall?.stream) as { session?: { socket?: unknown } } | undefined;
  const socket = stream?.session?.socket;
  if (!(socket instanceof TLSSocket) || socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  return cert?.raw ? { raw: cert.raw } : undefined;
}

/** A peer's credential, not its port: a reconnecting agent is the same peer. */
function peerKey(call: AnyCall): string {
  const raw = call.getAuthContext().sslPeerCertificate?.raw ?? rejectedPeerCertificate(call)?.raw;
  if (raw) return createHash('sha256').update(raw).digest('hex').slice(0, 16);
  return call.getPeer().replace(/:\d+$/, '');
}
