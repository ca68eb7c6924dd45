// A faithful stand-in for the Kubernetes API server, for tests (no real one can run here): HTTPS
// with a CA-issued certificate, bearer-token client auth, TokenReview of the projected service
// account tokens it issues (as kube-apiserver's JWT authenticator and validator judge them:
// issuer, ES256 signature and kid, audiences, exp/nbf with 60 s leeway, service account, bound
// pod or node still there with the same uid) and GET of pods. Answers and errors use the real shapes.

import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHash, generateKeyPairSync, randomBytes, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { createCa, issueCertificate } from '../../core/tls/pki.js';

export interface FakeKubeApiOptions {
  /** Kubernetes ≥ 1.30 puts the node in tokens and reviews (default); false behaves like older ones. */
  nodeNameInExtra?: boolean;
  issuer?: string;
  /** The API server's own audiences: the default when a review names none. */
  apiAudiences?: string[];
}

export interface FakePod {
  namespace: string;
  name: string;
  uid: string;
  nodeName?: string;
}

export interface IssueTokenOptions {
  namespace: string;
  serviceAccount: string;
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
  /** Default: the API server's audiences. */
  audiences?: string[];
  /** Default 3600; negative for a token that has already expired. */
  expiresInSeconds?: number;
  notBefore?: Date;
}

/** How the API misbehaves while down: 503 Status answers, connections reset, or no answer at all. */
export type DownMode = 'unavailable' | 'reset' | 'hang';

interface Ref { name: string; uid: string }
interface ProjectedClaims {
  iss?: unknown;
  sub?: unknown;
  aud?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iat?: unknown;
  jti?: unknown;
  'kubernetes.io'?: { namespace?: string; serviceaccount?: Ref; pod?: Ref; node?: Ref };
}
type Review =
  | { ok: true; user: Record<string, unknown>; audiences: string[] }
  | { ok: false; error: string };

/** go-jose's default leeway, which kube-apiserver uses for exp and nbf. */
const LEEWAY_S = 60;
const MAX_BODY = 3 * 1024 * 1024;
const DEFAULT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export class FakeKubeApi {
  readonly url: string;
  readonly caPem: string;
  readonly clientToken = randomBytes(24).toString('hex');
  readonly issuer: string;
  private readonly apiAudiences: string[];
  private readonly nodeNameInExtra: boolean;
  private readonly key: KeyObject;
  private readonly kid: string;
  private readonly serviceAccounts = new Map<string, string>();
  private readonly pods = new Map<string, FakePod>();
  private readonly nodes = new Map<string, string>();
  /** What the token validator sees: kube-apiserver reads pods through an informer, which can lag. */
  private informerPods: Map<string, FakePod> | undefined;
  private readonly sockets = new Set<Socket>();
  private mode: DownMode | undefined;
  private closed = false;
  private counts = { reviews: 0, podReads: 0 };

  private constructor(
    private readonly server: https.Server,
    caPem: string,
    opts: FakeKubeApiOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `https://127.0.0.1:${port}`;
    this.caPem = caPem;
    this.issuer = opts.issuer ?? DEFAULT_ISSUER;
    this.apiAudiences = opts.apiAudiences ?? [this.issuer];
    this.nodeNameInExtra = opts.nodeNameInExtra ?? true;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = privateKey;
    // kube-apiserver's key id: the SHA-256 of the DER public key, unpadded base64url.
    this.kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(opts: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
    const ca = await createCa({ commonName: 'fake-kube-api-ca' });
    const leaf = await issueCertificate(ca, { role: 'server', commonName: 'kubernetes', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const server = https.createServer({ key: leaf.keyPem, cert: leaf.certPem });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new FakeKubeApi(server, ca.certPem, opts);
  }

  /** TokenReviews answered (not those refused for client auth or while down). */
  get reviews(): number {
    return this.counts.reviews;
  }

  get podReads(): number {
    return this.counts.podReads;
  }

  /** A projected service account token, signed and shaped as kube-apiserver's TokenRequest makes them. */
  issueToken(opts: IssueTokenOptions): string {
    const saUid = this.ensureServiceAccount(opts.namespace, opts.serviceAccount);
    const now = Math.floor(Date.now() / 1000);
    const k8s: ProjectedClaims['kubernetes.io'] = { namespace: opts.namespace, serviceaccount: { name: opts.serviceAccount, uid: saUid } };
    let node = opts.node;
    if (opts.pod) {
      k8s.pod = { ...opts.pod };
      const known = this.pods.get(podKey(opts.namespace, opts.pod.name));
      if (!known) this.addPod({ namespace: opts.namespace, ...opts.pod, nodeName: node?.name });
      else if (!node && known.nodeName) node = { name: known.nodeName, uid: this.ensureNode(known.nodeName) };
    }
    if (node) this.ensureNode(node.name, node.uid);
    // Before 1.30 (ServiceAccountTokenPodNodeInfo) tokens carried no node.
    if (node && this.nodeNameInExtra) k8s.node = { ...node };
    const claims = {
      aud: opts.audiences ?? this.apiAudiences,
      exp: now + (opts.expiresInSeconds ?? 3600),
      iat: now,
      iss: this.issuer,
      jti: randomUUID(),
      'kubernetes.io': k8s,
      nbf: opts.notBefore ? Math.floor(opts.notBefore.getTime() / 1000) : now,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
    };
    return signJwt({ alg: 'ES256', kid: this.kid }, claims, this.key);
  }

  addPod(pod: { namespace: string; name: string; uid?: string; nodeName?: string }): FakePod {
    const stored: FakePod = { namespace: pod.namespace, name: pod.name, uid: pod.uid ?? randomUUID(), nodeName: pod.nodeName };
    if (stored.nodeName) this.ensureNode(stored.nodeName);
    this.pods.set(podKey(pod.namespace, pod.name), stored);
    return stored;
  }

  /** Deleting a pod revokes the tokens bound to it (once the informer sees it). */
  deletePod(namespace: string, name: string): boolean {
    return this.pods.delete(podKey(namespace, name));
  }

  deleteServiceAccount(namespace: string, name: string): boolean {
    return this.serviceAccounts.delete(`${namespace}/${name}`);
  }

  /** Freeze what the token validator sees of pods, as a lagging informer would, until resumeInformer(). */
  pauseInformer(): void {
    this.informerPods ??= new Map(this.pods);
  }

  resumeInformer(): void {
    this.informerPods = undefined;
  }

  down(mode: DownMode = 'unavailable'): void {
    this.mode = mode;
  }

  up(): void {
    this.mode = undefined;
  }

  /** A kubeconfig for this server (CA data, URL, client token) in `dir`; returns its path. */
  writeKubeconfig(dir: string): string {
    const file = path.join(dir, 'kubeconfig');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'fake', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.caPem).toString('base64') } }],
      users: [{ name: 'central', user: { token: this.clientToken } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'central' } }],
      'current-context': 'fake',
    };
    writeFileSync(file, YAML.stringify(config), { mode: 0o600 });
    return file;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await done;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (this.mode === 'hang') return; // the socket is destroyed by close()
    if (this.mode === 'unavailable') {
      sendStatus(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      return;
    }
    if (req.headers.authorization !== `Bearer ${this.clientToken}`) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const url = new URL(req.url ?? '/', this.url);
    const podPath = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      readBody(req).then(
        (body) => this.tokenReview(body, res),
        () => sendStatus(res, 413, 'RequestEntityTooLarge', 'the request body is too large'),
      );
    } else if (req.method === 'GET' && podPath) {
      this.getPod(decodeURIComponent(podPath[1]!), decodeURIComponent(podPath[2]!), res);
    } else {
      sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource');
    }
  }

  private tokenReview(body: string, res: ServerResponse): void {
    let review: { spec?: { token?: unknown; audiences?: unknown } };
    try {
      review = JSON.parse(body) as typeof review;
    } catch (err) {
      sendStatus(res, 400, 'BadRequest', `the body of the request was in an unknown format: ${(err as Error).message}`);
      return;
    }
    const spec = review.spec ?? {};
    if (typeof spec.token !== 'string' || spec.token.length === 0) {
      sendStatus(res, 400, 'BadRequest', 'token is required for TokenReview in authentication');
      return;
    }
    this.counts.reviews++;
    const requested = Array.isArray(spec.audiences) && spec.audiences.length > 0 ? (spec.audiences as string[]) : this.apiAudiences;
    const outcome = this.authenticate(spec.token, requested);
    const status = outcome.ok
      ? { authenticated: true, user: outcome.user, audiences: outcome.audiences }
      : { user: {}, error: outcome.error };
    sendJson(res, 201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status });
  }

  /** kube-apiserver's service account JWT authenticator, then its validator, in their order. */
  private authenticate(token: string, requested: string[]): Review {
    const invalid = (why?: string): Review => ({ ok: false, error: why ? `[invalid bearer token, ${why}]` : 'invalid bearer token' });
    const parts = token.split('.');
    if (parts.length !== 3) return invalid();
    const header = parseSegment(parts[0]!) as { alg?: unknown; kid?: unknown } | undefined;
    const claims = parseSegment(parts[1]!) as ProjectedClaims | undefined;
    // Another issuer's tokens are not this authenticator's business: no error, just not authenticated.
    if (!header || !claims || claims.iss !== this.issuer) return invalid();
    if (typeof header.kid === 'string' && header.kid !== '' && header.kid !== this.kid) return invalid('invalid signature, no keys found');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2]!, 'base64url');
    if (header.alg !== 'ES256' || !verify('sha256', signed, { key: this.key, dsaEncoding: 'ieee-p1363' }, signature)) {
      return invalid('go-jose/go-jose: error in cryptographic primitive');
    }

    const tokenAuds = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? (claims.aud as string[]) : [];
    const effective = tokenAuds.length > 0 ? tokenAuds : this.apiAudiences;
    const audiences = effective.filter((a) => requested.includes(a));
    if (audiences.length === 0) return invalid(`token audiences ${goQuote(effective)} is invalid for the target audiences ${goQuote(requested)}`);

    const now = Date.now() / 1000;
    if (typeof claims.exp === 'number' && now - LEEWAY_S > claims.exp) return invalid('service account token has expired');
    if (typeof claims.nbf === 'number' && now + LEEWAY_S < claims.nbf) return invalid('service account token is not valid yet');
    if (typeof claims.iat === 'number' && now + LEEWAY_S < claims.iat) return invalid('service account token claims could not be validated: go-jose/go-jose/jwt: validation field, token issued in the future (iat)');

    const k8s = claims['kubernetes.io'] ?? {};
    const namespace = k8s.namespace ?? '';
    const sa = k8s.serviceaccount ?? { name: '', uid: '' };
    const saUid = this.serviceAccounts.get(`${namespace}/${sa.name}`);
    if (saUid === undefined) return invalid(`serviceaccounts "${sa.name}" not found`);
    if (saUid !== sa.uid) return invalid(`service account UID (${saUid}) does not match claim (${sa.uid})`);
    if (k8s.pod) {
      const pod = (this.informerPods ?? this.pods).get(podKey(namespace, k8s.pod.name));
      if (!pod) return invalid('service account token has been invalidated');
      if (pod.uid !== k8s.pod.uid) return invalid(`pod UID (${pod.uid}) does not match service account pod ref claim (${k8s.pod.uid})`);
    } else if (k8s.node) {
      const nodeUid = this.nodes.get(k8s.node.name);
      if (nodeUid === undefined) return invalid('service account token has been invalidated');
      if (nodeUid !== k8s.node.uid) return invalid(`node UID (${nodeUid}) does not match service account node ref claim (${k8s.node.uid})`);
    }

    const extra: Record<string, string[]> = {};
    if (typeof claims.jti === 'string') extra['authentication.kubernetes.io/credential-id'] = [`JTI=${claims.jti}`];
    if (k8s.node && this.nodeNameInExtra) {
      extra['authentication.kubernetes.io/node-name'] = [k8s.node.name];
      extra['authentication.kubernetes.io/node-uid'] = [k8s.node.uid];
    }
    if (k8s.pod) {
      extra['authentication.kubernetes.io/pod-name'] = [k8s.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k8s.pod.uid];
    }
    const user = {
      username: `system:serviceaccount:${namespace}:${sa.name}`,
      uid: sa.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
      extra,
    };
    return { ok: true, user, audiences };
  }

  private getPod(namespace: string, name: string, res: ServerResponse): void {
    this.counts.podReads++;
    const pod = this.pods.get(podKey(namespace, name));
    if (!pod) {
      sendStatus(res, 404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
      return;
    }
    sendJson(res, 200, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, resourceVersion: '1' },
      spec: { ...(pod.nodeName ? { nodeName: pod.nodeName } : {}), containers: [{ name: 'main', image: 'nodewarden:test' }] },
      status: { phase: pod.nodeName ? 'Running' : 'Pending' },
    });
  }

  private ensureServiceAccount(namespace: string, name: string): string {
    const key = `${namespace}/${name}`;
    let uid = this.serviceAccounts.get(key);
    if (uid === undefined) {
      uid = randomUUID();
      this.serviceAccounts.set(key, uid);
    }
    return uid;
  }

  private ensureNode(name: string, uid?: string): string {
    const known = this.nodes.get(name);
    if (known !== undefined) return known;
    const fresh = uid ?? randomUUID();
    this.nodes.set(name, fresh);
    return fresh;
  }
}

function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function signJwt(header: object, claims: object, key: KeyObject): string {
  const head = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${signature.toString('base64url')}`;
}

function parseSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Go's %q of a []string, as the API server's messages print audiences. */
function goQuote(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A metav1.Status, as the API server reports every failure. */
function sendStatus(res: ServerResponse, code: number, reason: string, message: string, details?: object): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
}
