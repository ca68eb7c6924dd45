// Who is calling central, by Kubernetes service account token (the SPIRE k8s_psat model): the
// token goes to the TokenReview API; review() authenticates, reviewAgent()/reviewReader() then
// decide. Answers are tagged results, never thrown; the token is never logged nor put in a message.
//
//   review(token) ─► shape check ─► cache (sha256) ─► in flight? ─► TokenReview ─► [GET pod] ─► result

import { createHash } from 'node:crypto';
import {
  ApiException,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  type ConfigurationOptions,
  type ObservableMiddleware,
  type V1UserInfo,
} from '@kubernetes/client-node';
import { NwError, describeError } from '../../core/errors.js';

export interface TokenReviewerOptions {
  kubeConfig: KubeConfig;
  /** The audience agents' projected tokens carry, e.g. 'nodewarden'. */
  audience: string;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** How long a refused token is remembered (default 10 s). */
  negativeCacheMs?: number;
  /** Cache size bound; the least recently used answer goes first (default 20,000). */
  maxEntries?: number;
  /** Per API request (default 5 s). */
  timeoutMs?: number;
}

export interface TokenIdentity {
  username: string;
  groups: string[];
  serviceAccount?: { namespace: string; name: string };
  node?: string;
  pod?: { namespace: string; name: string; uid: string };
  /** From the token's exp claim: decoded, never trusted for authentication, only to bound the cache. */
  expiresAt: number;
}

export type ReviewReason =
  | 'invalid-token'
  | 'expired'
  | 'wrong-audience'
  | 'wrong-service-account'
  | 'no-node'
  | 'not-a-reader'
  | 'api-unavailable'
  | 'malformed';

export type ReviewResult =
  | { ok: true; identity: TokenIdentity }
  | { ok: false; status: 'unauthenticated' | 'permission-denied' | 'unavailable'; reason: ReviewReason; message: string };

/** Longer than any projected token (they are ~1 KiB); bounds the work done on hostile input. */
const MAX_TOKEN_BYTES = 16 * 1024;
/** A positive answer is re-checked at least hourly, so a revoked token does not live on here. */
const MAX_POSITIVE_MS = 60 * 60 * 1000;
const SA_PREFIX = 'system:serviceaccount:';
const EXTRA_NODE = 'authentication.kubernetes.io/node-name';
const EXTRA_POD = 'authentication.kubernetes.io/pod-name';
const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid';

interface Claims {
  exp?: number;
  aud: string[];
}

interface CacheEntry {
  result: ReviewResult;
  until: number;
}

export class TokenReviewer {
  private readonly audience: string;
  private readonly now: () => number;
  private readonly negativeCacheMs: number;
  private readonly maxEntries: number;
  private readonly timeoutMs: number;
  private readonly auth: AuthenticationV1Api;
  private readonly core: CoreV1Api;
  private readonly requestOptions: ConfigurationOptions;
  /** Insertion order is recency order: a hit moves its entry to the end, eviction takes the front. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inFlight = new Map<string, Promise<ReviewResult>>();
  /** Why an identity has no node, for reviewAgent's message; kept off the public shape. */
  private readonly noNodeWhy = new WeakMap<TokenIdentity, string>();
  private counts = { reviews: 0, cacheHits: 0 };

  constructor(opts: TokenReviewerOptions) {
    if (!opts.audience) throw new NwError('NW_ERR_CONFIG', 'The token reviewer needs an audience to require of tokens.');
    this.audience = opts.audience;
    this.now = opts.now ?? Date.now;
    this.negativeCacheMs = opts.negativeCacheMs ?? 10_000;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 20_000);
    try {
      this.auth = opts.kubeConfig.makeApiClient(AuthenticationV1Api);
      this.core = opts.kubeConfig.makeApiClient(CoreV1Api);
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `The kubeconfig has no usable cluster: ${describeError(err)}.`, { cause: err });
    }
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.requestOptions = { middleware: [timeoutMiddleware(this.timeoutMs)], middlewareMergeStrategy: 'append' };
  }

  get stats(): { reviews: number; cacheHits: number; cached: number } {
    return { ...this.counts, cached: this.cache.size };
  }

  /** Authentication only: is this a valid token for our audience, and whose. */
  async review(token: string): Promise<ReviewResult> {
    const claims = decodeClaims(token);
    if (typeof claims === 'string') return refuse('unauthenticated', 'malformed', claims);

    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cached(key);
    if (hit) {
      this.counts.cacheHits++;
      return hit;
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      // Counted as a hit: it costs the API nothing.
      this.counts.cacheHits++;
      return pending;
    }
    const fresh = this.ask(token, claims).then((entry) => {
      if (entry.until > this.now()) this.remember(key, entry);
      return entry.result;
    });
    this.inFlight.set(key, fresh);
    try {
      return await fresh;
    } finally {
      this.inFlight.delete(key);
    }
  }

  /** An agent: authenticated, one of the allowed service accounts ('ns:name'), and on a node. */
  async reviewAgent(token: string, serviceAccounts: string[]): Promise<ReviewResult> {
    const result = await this.review(token);
    if (!result.ok) return result;
    const { identity } = result;
    const sa = identity.serviceAccount;
    if (!sa || !serviceAccounts.includes(`${sa.namespace}:${sa.name}`)) {
      const allowed = serviceAccounts.length > 0 ? serviceAccounts.join(', ') : 'none configured';
      return refuse('permission-denied', 'wrong-service-account', `The token belongs to ${identity.username}, which is not an agent service account (allowed: ${allowed}).`);
    }
    if (!identity.node) {
      const why = this.noNodeWhy.get(identity) ?? 'the token is not bound to a pod or a node';
      return refuse('permission-denied', 'no-node', `The token of ${identity.username} names no node: ${why}.`);
    }
    return result;
  }

  /** A reader: its username is listed, or 'ns:name' names its service account, or 'group:NAME' one of its groups. */
  async reviewReader(token: string, readers: string[]): Promise<ReviewResult> {
    const result = await this.review(token);
    if (!result.ok) return result;
    const { identity } = result;
    const sa = identity.serviceAccount;
    const allowed = readers.some(
      (entry) =>
        entry === identity.username ||
        (entry.startsWith('group:') && identity.groups.includes(entry.slice('group:'.length))) ||
        (sa !== undefined && entry === `${sa.namespace}:${sa.name}`),
    );
    if (allowed) return result;
    return refuse('permission-denied', 'not-a-reader', `${identity.username} is not among the readers allowed to use this API.`);
  }

  private cached(key: string): ReviewResult | undefined {
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    this.cache.delete(key);
    if (entry.until <= this.now()) return undefined;
    this.cache.set(key, entry);
    return entry.result;
  }

  private remember(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  /** One TokenReview (and, before Kubernetes 1.30, one pod read); `until` 0 means do not cache. */
  private async ask(token: string, claims: Claims): Promise<CacheEntry> {
    this.counts.reviews++;
    let status;
    try {
      const answer = await this.auth.createTokenReview(
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } } },
        this.requestOptions,
      );
      status = answer.status ?? {};
    } catch (err) {
      return { result: unavailable('the TokenReview', err, token, this.timeoutMs), until: 0 };
    }

    // An API server that echoes no audiences confirmed none: the token's own aud must name ours.
    const audienceOk = status.audiences === undefined ? claims.aud.includes(this.audience) : status.audiences.includes(this.audience);
    if (!status.authenticated || !audienceOk || !status.user?.username) {
      const apiSaid = status.error ? ` (the API said: ${redact(status.error, token)})` : '';
      return { result: this.whyRefused(claims, status.authenticated === true && !audienceOk, apiSaid), until: this.now() + this.negativeCacheMs };
    }

    const identity = identityOf(status.user, claims, this.now());
    const resolved = await this.resolveNode(identity, token);
    if (resolved) return { result: resolved, until: 0 };
    Object.freeze(identity.groups);
    const until = Math.min(identity.expiresAt, this.now() + MAX_POSITIVE_MS);
    return { result: { ok: true, identity: Object.freeze(identity) }, until };
  }

  private whyRefused(claims: Claims, audienceUnconfirmed: boolean, apiSaid: string): ReviewResult {
    if (audienceUnconfirmed) {
      return refuse('unauthenticated', 'wrong-audience', `The API authenticated the token but did not confirm the audience ${this.audience}.`);
    }
    if (claims.exp !== undefined && claims.exp * 1000 <= this.now()) {
      return refuse('unauthenticated', 'expired', `The token expired at ${new Date(claims.exp * 1000).toISOString()}${apiSaid}.`);
    }
    if (!claims.aud.includes(this.audience)) {
      const has = claims.aud.length > 0 ? claims.aud.join(', ') : 'none';
      return refuse('unauthenticated', 'wrong-audience', `The token is not for the audience ${this.audience} (it carries: ${has})${apiSaid}.`);
    }
    return refuse('unauthenticated', 'invalid-token', `The Kubernetes API did not authenticate the token${apiSaid}.`);
  }

  /**
   * Before Kubernetes 1.30 the review names the pod but not its node: read the pod, and take its
   * node only if its uid is the token's, so a replacement pod of the same name lends nothing.
   * Returns a refusal only when the API could not answer; otherwise fills identity.node or says why not.
   */
  private async resolveNode(identity: TokenIdentity, token: string): Promise<ReviewResult | undefined> {
    if (identity.node) return undefined;
    const pod = identity.pod;
    if (!pod) return undefined;
    try {
      const found = await this.core.readNamespacedPod({ name: pod.name, namespace: pod.namespace }, this.requestOptions);
      if (found.metadata?.uid !== pod.uid) {
        this.noNodeWhy.set(identity, `its pod ${pod.namespace}/${pod.name} has been replaced (uid ${found.metadata?.uid ?? 'none'}, token bound to ${pod.uid})`);
      } else if (!found.spec?.nodeName) {
        this.noNodeWhy.set(identity, `its pod ${pod.namespace}/${pod.name} is not scheduled on a node`);
      } else {
        identity.node = found.spec.nodeName;
      }
      return undefined;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) {
        this.noNodeWhy.set(identity, `its pod ${pod.namespace}/${pod.name} no longer exists`);
        return undefined;
      }
      return unavailable(`the read of pod ${pod.namespace}/${pod.name}`, err, token, this.timeoutMs);
    }
  }
}

/** A KubeConfig from a file when given, else in-cluster when running in a pod, else the default places. */
export function kubeConfigFor(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else if (process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    const from = kubeconfigPath ? `from ${kubeconfigPath}` : 'from the cluster or the default locations';
    throw new NwError('NW_ERR_CONFIG', `Could not load a Kubernetes config ${from}: ${describeError(err)}.`, { cause: err });
  }
  return kc;
}

/** The claims we read from an unverified JWT, or why it is not one worth sending to the API. */
function decodeClaims(token: string): Claims | string {
  if (typeof token !== 'string' || token.length === 0) return 'The token is empty.';
  if (token.length > MAX_TOKEN_BYTES) return `The token is longer than ${MAX_TOKEN_BYTES} bytes.`;
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    return 'The token is not a JWT (three base64url parts separated by dots).';
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return 'The token payload is not JSON.';
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'The token payload is not a JSON object.';
  const { exp, aud } = payload as { exp?: unknown; aud?: unknown };
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return 'The token exp claim is not a number.';
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
  return { exp, aud: audiences };
}

function identityOf(user: V1UserInfo, claims: Claims, now: number): TokenIdentity {
  const username = user.username ?? '';
  const identity: TokenIdentity = {
    username,
    groups: [...(user.groups ?? [])],
    // A token without exp (a legacy secret token) is bounded by the hourly re-check instead.
    expiresAt: claims.exp !== undefined ? claims.exp * 1000 : now + MAX_POSITIVE_MS,
  };
  if (username.startsWith(SA_PREFIX)) {
    const [namespace, name, ...rest] = username.slice(SA_PREFIX.length).split(':');
    if (namespace && name && rest.length === 0) identity.serviceAccount = { namespace, name };
  }
  const extra = user.extra ?? {};
  const node = extra[EXTRA_NODE]?.[0];
  if (node) identity.node = node;
  const podName = extra[EXTRA_POD]?.[0];
  const podUid = extra[EXTRA_POD_UID]?.[0];
  if (podName && podUid && identity.serviceAccount) {
    // A bound token's pod is always in its service account's namespace.
    identity.pod = { namespace: identity.serviceAccount.namespace, name: podName, uid: podUid };
  }
  return identity;
}

function refuse(status: 'unauthenticated' | 'permission-denied' | 'unavailable', reason: ReviewReason, message: string): ReviewResult {
  return { ok: false, status, reason, message };
}

/** Network errors, timeouts, 5xx, and central's own credentials refused: none of them the caller's fault. */
function unavailable(what: string, err: unknown, token: string, timeoutMs: number): ReviewResult {
  let message: string;
  if (err instanceof ApiException) {
    const code = err.code;
    const said = statusMessage(err.body);
    const hint = code === 401 || code === 403 ? "; check central's Kubernetes credentials and RBAC" : '';
    message = `The Kubernetes API answered HTTP ${code} to ${what}${said ? ` (${said})` : ''}${hint}.`;
  } else if (err instanceof Error && (err.name === 'AbortError' || (err as { type?: string }).type === 'aborted')) {
    message = `The Kubernetes API did not answer ${what} within ${timeoutMs} ms.`;
  } else {
    message = `The Kubernetes API could not be reached for ${what}: ${describeError(err)}.`;
  }
  return refuse('unavailable', 'api-unavailable', redact(message, token));
}

function statusMessage(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return statusMessage(JSON.parse(body));
    } catch {
      return undefined;
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' ? message.slice(0, 200) : undefined;
}

/** Belt and braces: whatever text an API sends back, the token itself never leaves in a message. */
function redact(text: string, token: string): string {
  return token.length > 0 ? text.split(token).join('<token>') : text;
}

/** Aborts each request after `ms`, so a hung API server costs a bounded wait, not a stuck Hello. */
function timeoutMiddleware(ms: number): ObservableMiddleware {
  return {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: (ctx) => new Observable(Promise.resolve(ctx)),
  };
}
