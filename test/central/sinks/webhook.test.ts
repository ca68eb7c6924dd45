// The webhook sink against a real HTTP receiver that keeps the exact bytes and headers of every
// request: signatures verify with the secret (and fail for a forged or replayed delivery), each
// format's body is what its formatter gives, and every kind of answer (ok, retry after, permanent,
// none) becomes the outcome the send chain needs.
import { testSinkContext } from '../../helpers/sink-context.js';
import t, { type Test } from 'tap';
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Long from 'long';
import { nodewarden } from '../../../gen/nodewarden.js';
import { eventToJson } from '../../../core/event.js';
import { toOcsf } from '../../../central/formats/ocsf.js';
import { toEcs } from '../../../central/formats/ecs.js';
import { readSecret } from '../../../central/sinks/secret.js';
import { webhookConfigSchema, webhookSinkFactory } from '../../../central/sinks/webhook/factory.js';
import type { CommonSinkConfig, Outcome, SendResult, SinkContext, SinkEvent, Transport } from '../../../central/sinks/sink.js';
import { freePort } from '../../helpers/pipeline.js';
import { tempDirFor } from '../../helpers/event-log-fixtures.js';
import { loadOcsfSchema, validateOcsf } from '../../helpers/ocsf-validate.js';

const pb = nodewarden.v1;
const VERSION = '0.1.0-test';
const SECRET = 'whsec-4f9c2a7e81d3b6c0a5e2f7d9c1b8a3e6';

let seq = 0;
function sinkEvent(props: nodewarden.v1.Event.$Properties = {}): SinkEvent {
  seq++;
  const event = pb.Event.create({
    id: `worker-1-ab12cd34/${seq}`,
    agentId: 'worker-1-ab12cd34',
    sequence: Long.fromNumber(seq, true),
    node: 'worker-1',
    timeUnixNano: Long.fromNumber(Date.now(), false).mul(1_000_000),
    source: pb.Source.SOURCE_PROCESS,
    ruleId: 'exec-shell-in-container',
    severity: pb.Severity.SEVERITY_HIGH,
    title: `Shell started in a container (${seq})`,
    message: 'A shell ran in kube-system/coredns.',
    fingerprint: `process:exec-shell-in-container:kube-system/coredns:${seq}`,
    count: 1,
    mitreTechniques: ['T1059.004'],
    process: { pid: 4242, ppid: 1, exe: '/bin/sh', comm: 'sh', argv: ['sh', '-c', 'id'], ancestors: [{ pid: 1, exe: '/usr/bin/runc', comm: 'runc', argv: ['runc'] }] },
    container: { id: 'c0ffee', name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.11.1' },
    kubernetes: { namespace: 'kube-system', pod: 'coredns-abc', podUid: '3f0e2b1c-9a4d-4e5f-8a6b-7c8d9e0f1a2b', container: 'coredns' },
    ...props,
  });
  return { rowid: seq, event, bytes: Buffer.from(pb.Event.encode(event).finish()) };
}

const batchOf = (n: number): SinkEvent[] => Array.from({ length: n }, () => sinkEvent());

interface Received {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A receiver on loopback that records each request's exact bytes and answers with `respond`. */
async function receiver(t: Test, respond: (r: Received, res: http.ServerResponse) => void = (_r, res) => res.writeHead(204).end()): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks) };
      got.push(r);
      respond(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const { port } = server.address() as import('node:net').AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook`, got };
}

function context(secrets: NodeJS.ProcessEnv = {}): SinkContext {
  return testSinkContext({ name: 'hook', version: VERSION, secret: (ref) => readSecret(ref, secrets) });
}

function common(): CommonSinkConfig {
  return { name: 'hook', type: 'webhook', enabled: true, filter: {}, batch: { maxEvents: 100 }, retry: { initialMs: 100, maxMs: 1000 }, timeoutMs: 5000 } as CommonSinkConfig;
}

/** The sink's transport, built by its factory from raw config, closed when the test ends. */
function transportFor(t: Test, raw: Record<string, unknown>, secrets: NodeJS.ProcessEnv = { NW_HOOK_SECRET: SECRET }): Transport {
  const config = webhookConfigSchema.parse(raw);
  const driver = webhookSinkFactory.create({ ...config, ...common() }, context(secrets));
  if (!('transport' in driver)) throw new Error('the webhook factory must build a network driver');
  t.teardown(() => driver.transport.close?.());
  return driver.transport;
}

const send = (tr: Transport, batch: SinkEvent[], timeoutMs = 5000): Promise<SendResult> => tr.send(batch, AbortSignal.timeout(timeoutMs));

/** The receiver's side of the recipe in transport.ts, written from the recipe alone. */
function verifies(secret: string, r: Received, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const ts = r.headers['x-nodewarden-timestamp'];
  const signature = r.headers['x-nodewarden-signature'];
  if (typeof ts !== 'string' || typeof signature !== 'string' || !/^\d+$/.test(ts)) return false;
  if (Math.abs(nowSeconds - Number(ts)) > 300) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${ts}.`), r.body])).digest('hex')}`);
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

const parsed = (r: Received): Record<string, unknown>[] => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>[];

t.test('a signed batch verifies with the secret and carries its idempotency key and timestamp', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, secret: { env: 'NW_HOOK_SECRET' } });
  const batch = batchOf(3);
  const before = Math.floor(Date.now() / 1000);
  t.same(await send(tr, batch), { kind: 'ok' });
  const r = rx.got[0]!;
  t.equal(r.headers['content-type'], 'application/json');
  t.equal(r.headers['idempotency-key'], `${batch[0]!.event.id}+3`);
  t.ok(Math.abs(Number(r.headers['x-nodewarden-timestamp']) - before) <= 2, 'the timestamp is now, in Unix seconds');
  t.match(r.headers['x-nodewarden-signature'], /^sha256=[0-9a-f]{64}$/);
  t.ok(verifies(SECRET, r), 'the signature verifies with the secret');
  t.notOk(verifies('another-secret', r), 'and not with another');
  t.notOk(r.body.includes(SECRET) || JSON.stringify(r.headers).includes(SECRET), 'the secret itself is never sent');
});

t.test('a forged body, a signature moved to another body and a replay after the window all fail verification', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, secret: { env: 'NW_HOOK_SECRET' } });
  t.same(await send(tr, batchOf(1)), { kind: 'ok' });
  t.same(await send(tr, batchOf(1)), { kind: 'ok' });
  const [a, b] = rx.got as [Received, Received];
  t.ok(verifies(SECRET, a) && verifies(SECRET, b));
  const forged = Buffer.from(a.body.toString('utf8').replace('SEVERITY_HIGH', 'SEVERITY_INFO'));
  t.not(forged.toString(), a.body.toString());
  t.notOk(verifies(SECRET, { headers: a.headers, body: forged }), 'an edited body fails');
  t.notOk(verifies(SECRET, { headers: a.headers, body: b.body }), "one delivery's signature does not cover another's body");
  t.notOk(verifies(SECRET, { headers: { ...a.headers, 'x-nodewarden-timestamp': String(Number(a.headers['x-nodewarden-timestamp']) + 1) }, body: a.body }), 'a changed timestamp fails');
  t.notOk(verifies(SECRET, a, Math.floor(Date.now() / 1000) + 3600), 'a delivery replayed an hour later is refused');
});

t.test('without a secret nothing is signed', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url });
  const batch = batchOf(2);
  t.same(await send(tr, batch), { kind: 'ok' });
  const r = rx.got[0]!;
  t.notOk('x-nodewarden-signature' in r.headers);
  t.notOk('x-nodewarden-timestamp' in r.headers);
  t.equal(r.headers['idempotency-key'], `${batch[0]!.event.id}+2`);
});

t.test('a rotated secret file signs the next batch, without a restart', async (t) => {
  const dir = tempDirFor(t, 'webhook-secret');
  const file = path.join(dir, 'key');
  writeFileSync(file, 'first-secret-0123456789\n');
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, secret: { file } });
  t.same(await send(tr, batchOf(1)), { kind: 'ok' });
  writeFileSync(file, 'second-secret-9876543210\n');
  t.same(await send(tr, batchOf(1)), { kind: 'ok' });
  t.ok(verifies('first-secret-0123456789', rx.got[0]!));
  t.ok(verifies('second-secret-9876543210', rx.got[1]!));
});

t.test('the json format is the protobuf JSON mapping of each event, in batch order', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url });
  const batch = batchOf(3);
  t.same(await send(tr, batch), { kind: 'ok' });
  const docs = parsed(rx.got[0]!);
  t.same(docs, batch.map((e) => eventToJson(e.event)));
  t.match(docs[0], { id: batch[0]!.event.id, severity: 'SEVERITY_HIGH', source: 'SOURCE_PROCESS' });
  t.equal(typeof docs[0]!.timeUnixNano, 'string', '64-bit integers as strings');
});

t.test('the ocsf format sends OCSF documents the schema snapshot accepts', async (t) => {
  const schema = loadOcsfSchema();
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, format: 'ocsf' });
  const batch = [sinkEvent(), sinkEvent({ source: pb.Source.SOURCE_POSTURE, cisId: '4.1.1', state: pb.FindingState.FINDING_STATE_OPEN, process: null, expected: '600' })];
  t.same(await send(tr, batch), { kind: 'ok' });
  const docs = parsed(rx.got[0]!);
  t.same(docs, batch.map((e) => JSON.parse(JSON.stringify(toOcsf(e, { version: VERSION })))));
  t.match(docs, [{ class_uid: 2004 }, { class_uid: 2003 }]);
  for (const d of docs) t.same(validateOcsf(d, schema), [], `${String(d.class_uid)} is valid OCSF`);
});

t.test('the ecs format sends the ECS documents of the events', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, format: 'ecs' });
  const batch = batchOf(2);
  t.same(await send(tr, batch), { kind: 'ok' });
  t.same(parsed(rx.got[0]!), batch.map((e) => JSON.parse(JSON.stringify(toEcs(e, { version: VERSION })))));
});

t.test('503 with Retry-After in seconds is a retry after that long', async (t) => {
  const rx = await receiver(t, (_r, res) => res.writeHead(503, { 'retry-after': '7' }).end('maintenance'));
  const tr = transportFor(t, { url: rx.url });
  const r = await send(tr, batchOf(2));
  t.match(r, { kind: 'retry', afterMs: 7000, reason: /answered 503: maintenance/ });
});

t.test('429 with Retry-After as an HTTP date is a retry until that date', async (t) => {
  const at = new Date(Date.now() + 30_000);
  const rx = await receiver(t, (_r, res) => res.writeHead(429, { 'retry-after': at.toUTCString() }).end());
  const tr = transportFor(t, { url: rx.url });
  const r = (await send(tr, batchOf(1))) as Extract<Outcome, { kind: 'retry' }>;
  t.equal(r.kind, 'retry');
  t.ok(r.afterMs! > 25_000 && r.afterMs! <= 30_000, `${r.afterMs} ms`);
});

t.test('408, 425 and 5xx without Retry-After are retries that leave the delay to the chain', async (t) => {
  for (const status of [408, 425, 500, 502, 504]) {
    const rx = await receiver(t, (_r, res) => res.writeHead(status).end());
    const tr = transportFor(t, { url: rx.url });
    t.match(await send(tr, batchOf(1)), { kind: 'retry', afterMs: undefined }, String(status));
  }
});

t.test('400 is permanent, with the status and at most 512 bytes of the answer, never the secret', async (t) => {
  const answer = `{"error":"bad event","echo":"${SECRET}","detail":"${'ü'.repeat(2000)}"}`;
  const rx = await receiver(t, (_r, res) => res.writeHead(400, { 'content-type': 'application/json' }).end(answer));
  const tr = transportFor(t, { url: rx.url, secret: { env: 'NW_HOOK_SECRET' } });
  const r = (await send(tr, batchOf(1))) as Extract<Outcome, { kind: 'permanent' }>;
  t.equal(r.kind, 'permanent');
  t.match(r.reason, /^the webhook answered 400: \{"error":"bad event","echo":"\*\*\*"/);
  t.notOk(r.reason.includes(SECRET), 'the secret is masked');
  const excerpt = r.reason.slice('the webhook answered 400: '.length);
  t.ok(Buffer.byteLength(excerpt) <= 512, `${Buffer.byteLength(excerpt)} bytes`);
  t.ok(Buffer.byteLength(excerpt) > 500, 'cut near the bound');
  t.notOk(excerpt.includes('\uFFFD'), 'not cut inside a character');
});

t.test('answers about the receiver (401, a redirect) are retried, the redirect not followed; answers about the content are permanent', async (t) => {
  const rx = await receiver(t, (_r, res) => res.writeHead(401).end('unauthorized'));
  t.match(await send(transportFor(t, { url: rx.url }), batchOf(1)), { kind: 'retry', reason: 'the webhook answered 401: unauthorized' });
  const elsewhere = await receiver(t);
  const moved = await receiver(t, (_r, res) => res.writeHead(307, { location: elsewhere.url }).end());
  t.match(await send(transportFor(t, { url: moved.url }), batchOf(1)), { kind: 'retry', reason: /answered 307.*not followed/ });
  t.equal(elsewhere.got.length, 0, 'nothing was sent to the redirect target');
  const bad = await receiver(t, (_r, res) => res.writeHead(422).end('unprocessable'));
  t.match(await send(transportFor(t, { url: bad.url }), batchOf(1)), { kind: 'permanent', reason: 'the webhook answered 422: unprocessable' });
  t.match(await send(transportFor(t, { url: bad.url }), batchOf(3)), { kind: 'retry', split: true }, 'a batch refused whole is split to find the event');
});

t.test('a receiver that never answers is ended by the abort signal, as a retry', async (t) => {
  const rx = await receiver(t, () => { /* never answers */ });
  const tr = transportFor(t, { url: rx.url });
  const started = Date.now();
  const r = await send(tr, batchOf(1), 300);
  t.match(r, { kind: 'retry', reason: /did not answer: no answer before the send timed out/ });
  t.ok(Date.now() - started < 2000, `ended after ${Date.now() - started} ms`);
  t.equal(rx.got.length, 1, 'the request had arrived');
});

t.test('a refused connection is a retry', async (t) => {
  const port = await freePort();
  const tr = transportFor(t, { url: `http://127.0.0.1:${port}/hook` });
  t.match(await send(tr, batchOf(1)), { kind: 'retry', reason: /did not answer: .*ECONNREFUSED/ });
});

t.test('an answer larger than the bound is cut, not read to the end', async (t) => {
  const rx = await receiver(t, (_r, res) => {
    res.writeHead(500);
    // 1 MiB: far past what the transport reads.
    res.end(Buffer.alloc(1024 * 1024, 'x'));
  });
  const r = (await send(transportFor(t, { url: rx.url }), batchOf(1))) as Extract<Outcome, { kind: 'retry' }>;
  t.equal(r.kind, 'retry');
  t.ok(Buffer.byteLength(r.reason) < 600, 'the reason stays small');
});

t.test('the config refuses what it cannot honour, each error at its key', async (t) => {
  const issues = (raw: unknown) => {
    const r = webhookConfigSchema.safeParse(raw);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  t.same(issues({ url: 'https://hooks.example/x' }), []);
  t.equal(webhookConfigSchema.parse({ url: 'https://hooks.example/x' }).format, 'json', 'json by default');
  t.match(issues({ url: 'ftp://hooks.example/x' }), [/^url: expected an http\(s\) URL/]);
  t.match(issues({ url: 'https://user:pw@hooks.example/x' }), [/^url: /]);
  t.match(issues({ url: 'https://h/x', format: 'cef' }), [/^format: /]);
  t.match(issues({ url: 'https://h/x', headers: { 'X-Nodewarden-Signature': 'x', 'Content-Type': 'text/plain' } }), [
    /^headers\.X-Nodewarden-Signature: this header is set by the sink itself/,
    /^headers\.Content-Type: this header is set by the sink itself/,
  ]);
  t.match(issues({ url: 'https://h/x', headers: { 'X-Ok': 'a\r\nInjected: 1' } }), [/^headers\.X-Ok: a header value cannot hold line breaks/]);
  t.match(issues({ url: 'https://h/x', tls: { insecureSkipVerify: true } }), [/^tls\.insecureSkipVerify: certificate verification cannot be turned off/]);
  t.match(issues({ url: 'https://h/x', secret: 'inline' }), [/^secret: /]);
  t.match(issues({ url: 'https://h/x', extra: 1 }), [/extra/]);
});

t.test('configured headers are sent beside the sink\'s own', async (t) => {
  const rx = await receiver(t);
  const tr = transportFor(t, { url: rx.url, headers: { 'X-Team': 'sre' } });
  t.same(await send(tr, batchOf(1)), { kind: 'ok' });
  t.equal(rx.got[0]!.headers['x-team'], 'sre');
  t.equal(rx.got[0]!.headers['user-agent'], `nodewarden/${VERSION}`);
});

t.test('a secret that cannot be read stops the sink at start with the key in the error', async (t) => {
  const config = webhookConfigSchema.parse({ url: 'https://hooks.example/x', secret: { env: 'NW_HOOK_MISSING' } });
  t.throws(() => webhookSinkFactory.create({ ...config, ...common() }, context({})), { code: 'NW_ERR_CONFIG', message: /central\.sinks hook: secret: .*NW_HOOK_MISSING/ });
  const withCa = webhookConfigSchema.parse({ url: 'https://hooks.example/x', tls: { ca: '/nonexistent/ca.crt' } });
  t.throws(() => webhookSinkFactory.create({ ...withCa, ...common() }, context({})), { code: 'NW_ERR_CONFIG', message: /tls\.ca: \/nonexistent\/ca\.crt cannot be read/ });
});
