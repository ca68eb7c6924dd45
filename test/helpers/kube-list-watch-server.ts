// A local stand-in for the Kubernetes API server's list/watch protocol (no kube-apiserver can run
// here), faithful to what a client sees:
// - one resourceVersion counter for every object (etcd's revision), stamped on each write;
// - LIST: a JSON list with metadata.resourceVersion, paged with limit/continue, fieldSelector
//   honoured (`a=b`, `a==b`, `a!=b`, comma-separated; metadata.name, metadata.namespace,
//   spec.nodeName);
// - WATCH (?watch=1): newline-delimited WatchEvents {type, object} of every change after the
//   given resourceVersion, in order; an object that stops matching the selector arrives as
//   DELETED, one that starts matching as ADDED (as the API server's filtered watch does);
//   BOOKMARK events (an object of the kind with only metadata.resourceVersion) when the client
//   sent allowWatchBookmarks=true; the stream ends after timeoutSeconds;
// - a resourceVersion older than the compacted history: 200 then an ERROR event carrying a
//   Status (code 410, reason Expired), as kube-apiserver answers a watch; or an HTTP 410 Status
//   (`goneAs: 'http'`), as it answers an expired continue token;
// - bearer-token authentication (401 Status otherwise); server-side apply (PATCH
//   application/apply-patch+yaml) and GET of cluster-scoped custom objects;
// - restart(): every connection cut and the port closed, then open again (an API server restart
//   mid-watch); compact(): history dropped, so older resourceVersions are gone.

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Change {
  rv: number;
  resource: string;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Obj;
  /** The object before (for MODIFIED/DELETED), to tell selector transitions. */
  before?: Obj;
}

interface Watcher {
  resource: string;
  selector: Selector;
  bookmarks: boolean;
  res: http.ServerResponse;
  kind: string;
}

type Selector = { field: string; op: '=' | '!='; value: string }[];

const KINDS: Record<string, string> = { pods: 'Pod', nodes: 'Node', clusterpolicyreports: 'ClusterPolicyReport' };

export interface KubeListWatchServerOptions {
  /** How a too-old resourceVersion is refused on a watch: an ERROR event (the API server's way) or an HTTP 410. */
  goneAs?: 'event' | 'http';
  /** Checks each applied custom object; a string is a 422 Invalid answer. */
  validate?: (resource: string, obj: Obj) => string | null;
}

export class KubeListWatchServer {
  readonly token = randomBytes(16).toString('hex');
  port = 0;
  goneAs: 'event' | 'http';
  /** Requests seen, as "METHOD path?query" (for assertions on what the client asked). */
  readonly requests: string[] = [];
  private server: http.Server | null = null;
  private readonly sockets = new Set<Socket>();
  private rv = 100;
  /** The oldest resourceVersion still in the history (older ones are "too old"). */
  private compactedAt = 100;
  private readonly objects = new Map<string, Map<string, Obj>>();
  private history: Change[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly validate?: (resource: string, obj: Obj) => string | null;

  constructor(o: KubeListWatchServerOptions = {}) {
    this.goneAs = o.goneAs ?? 'event';
    this.validate = o.validate;
    for (const r of Object.keys(KINDS)) this.objects.set(r, new Map());
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig naming this server and its token (client-node refuses plain http unless TLS verification is off by name). */
  kubeconfig(): string {
    return [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      'clusters:', `- name: test`, `  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }`,
      'users:', `- name: test`, `  user: { token: "${this.token}" }`,
      'contexts:', `- name: test`, `  context: { cluster: test, user: test }`, '',
    ].join('\n');
  }

  async start(port = 0): Promise<void> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Cut every connection and close the port (the API server is away). */
  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** An API server restart mid-watch: connections cut, the same port open again. */
  async restart(o: { compact?: boolean } = {}): Promise<void> {
    await this.down();
    if (o.compact) this.compact();
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.down();
  }

  /** Forget the history: every resourceVersion before now is too old to watch from. */
  compact(): void {
    this.compactedAt = this.rv;
    this.history = [];
  }

  /** Send a bookmark at the current resourceVersion to every watch that asked for them. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (w.bookmarks) this.write(w, { type: 'BOOKMARK', object: { kind: w.kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Write raw bytes to every open watch (hostile-input tests). */
  rawToWatches(text: string): void {
    for (const w of this.watchers) w.res.write(text);
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  get resourceVersion(): number {
    return this.rv;
  }

  // ---- objects ----

  /** Create or replace an object (pods are namespaced: key namespace/name). */
  put(resource: string, obj: Obj): Obj {
    const store = this.objects.get(resource)!;
    const key = keyOf(obj);
    const before = store.get(key);
    const o = structuredClone(obj);
    o.kind ??= KINDS[resource];
    o.apiVersion ??= resource === 'clusterpolicyreports' ? 'wgpolicyk8s.io/v1alpha2' : 'v1';
    o.metadata.uid = before?.metadata.uid ?? o.metadata.uid ?? randomUUID();
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.creationTimestamp ??= before?.metadata.creationTimestamp ?? new Date().toISOString();
    store.set(key, o);
    this.record({ rv: this.rv, resource, type: before ? 'MODIFIED' : 'ADDED', object: o, before });
    return o;
  }

  remove(resource: string, namespace: string | undefined, name: string): void {
    const store = this.objects.get(resource)!;
    const key = namespace ? `${namespace}/${name}` : name;
    const before = store.get(key);
    if (!before) return;
    store.delete(key);
    const o = structuredClone(before);
    o.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource, type: 'DELETED', object: o, before });
  }

  get(resource: string, key: string): Obj | undefined {
    return this.objects.get(resource)!.get(key);
  }

  private record(c: Change): void {
    this.history.push(c);
    for (const w of this.watchers) if (w.resource === c.resource) this.deliver(w, c);
  }

  /** The event a filtered watch gets for a change, if any. */
  private deliver(w: Watcher, c: Change): void {
    const now = matches(c.object, w.selector);
    const was = c.before ? matches(c.before, w.selector) : false;
    if (c.type === 'DELETED') {
      if (was) this.write(w, { type: 'DELETED', object: c.object });
    } else if (now && !was) this.write(w, { type: 'ADDED', object: c.object });
    else if (now && was) this.write(w, { type: 'MODIFIED', object: c.object });
    else if (!now && was) this.write(w, { type: 'DELETED', object: c.object });
  }

  private write(w: Watcher, ev: Obj): void {
    w.res.write(`${JSON.stringify(ev)}\n`);
  }

  // ---- HTTP ----

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const core = /^\/api\/v1\/(pods|nodes)$/.exec(url.pathname);
    const custom = /^\/apis\/wgpolicyk8s\.io\/v1alpha2\/(clusterpolicyreports)(?:\/([^/]+))?$/.exec(url.pathname);
    if (req.method === 'GET' && core) {
      const selector = parseSelector(url.searchParams.get('fieldSelector') ?? '');
      if (!selector) return status(res, 400, 'BadRequest', `unable to parse requirement: ${url.searchParams.get('fieldSelector')}`);
      if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') return this.watch(core[1]!, selector, url, res);
      return this.list(core[1]!, selector, url, res);
    }
    if (custom && custom[2] && req.method === 'GET') {
      const o = this.get(custom[1]!, custom[2]);
      if (!o) return status(res, 404, 'NotFound', `${custom[1]} "${custom[2]}" not found`);
      return json(res, 200, o);
    }
    if (custom && custom[2] && req.method === 'PATCH') {
      if (req.headers['content-type'] !== 'application/apply-patch+yaml') return status(res, 415, 'UnsupportedMediaType', 'the body of the request was in an unknown format');
      if (!url.searchParams.get('fieldManager')) return status(res, 422, 'Invalid', 'fieldManager is required for apply requests');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let body: Obj;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj;
        } catch {
          return status(res, 400, 'BadRequest', 'the body is not JSON (YAML is not parsed by this stand-in)');
        }
        if (body.metadata?.name !== custom[2]) return status(res, 400, 'BadRequest', 'the name of the object does not match the name on the URL');
        const invalid = this.validate?.(custom[1]!, body);
        if (invalid) return status(res, 422, 'Invalid', invalid);
        return json(res, 200, this.put(custom[1]!, body));
      });
      return;
    }
    return status(res, 404, 'NotFound', 'the server could not find the requested resource');
  }

  private list(resource: string, selector: Selector, url: URL, res: http.ServerResponse): void {
    const all = [...this.objects.get(resource)!.values()].filter((o) => matches(o, selector)).sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
    const limit = Number(url.searchParams.get('limit') ?? 0);
    let start = 0;
    const cont = url.searchParams.get('continue');
    let rv = this.rv;
    if (cont) {
      const c = JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { rv: number; start: number };
      if (c.rv < this.compactedAt) return status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
      start = c.start;
      rv = c.rv;
    }
    const page = limit > 0 ? all.slice(start, start + limit) : all.slice(start);
    const more = limit > 0 && start + limit < all.length;
    json(res, 200, {
      kind: `${KINDS[resource]}List`, apiVersion: 'v1',
      metadata: { resourceVersion: String(rv), ...(more ? { continue: Buffer.from(JSON.stringify({ rv, start: start + limit })).toString('base64url') } : {}) },
      items: page,
    });
  }

  private watch(resource: string, selector: Selector, url: URL, res: http.ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    const tooOld = from !== 0 && from < this.compactedAt;
    if (tooOld && this.goneAs === 'http') return status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedAt})`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders(); // kube-apiserver flushes the 200 at once, before any event
    const w: Watcher = { resource, selector, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', res, kind: KINDS[resource]! };
    if (tooOld) {
      this.write(w, { type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedAt})`, reason: 'Expired', code: 410 } });
      res.end();
      return;
    }
    this.watchers.add(w);
    for (const c of this.history) if (c.rv > from && c.resource === resource) this.deliver(w, c);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : null;
    res.on('close', () => {
      if (timer) clearTimeout(timer);
      this.watchers.delete(w);
    });
  }
}

function keyOf(o: Obj): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

function parseSelector(text: string): Selector | null {
  if (!text) return [];
  const out: Selector = [];
  for (const part of text.split(',')) {
    const m = /^([a-zA-Z.]+)(==|=|!=)(.*)$/.exec(part);
    if (!m || !['metadata.name', 'metadata.namespace', 'spec.nodeName'].includes(m[1]!)) return null;
    out.push({ field: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]! });
  }
  return out;
}

function matches(o: Obj, sel: Selector): boolean {
  return sel.every((s) => {
    const [a, b] = s.field.split('.') as [string, string];
    const v = String(o[a]?.[b] ?? '');
    return s.op === '=' ? v === s.value : v !== s.value;
  });
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}
