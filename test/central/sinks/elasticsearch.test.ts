// The Elasticsearch sink against a local receiver that records the exact bytes: a batch is one
// _bulk request of create actions keyed by event id, and each answer (whole or per document)
// becomes the outcome the send chain acts on.
import t, { type Test } from 'tap';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { toEcs } from '../../../central/formats/ecs.js';
import { elasticsearchConfigSchema, elasticsearchSinkFactory } from '../../../central/sinks/elasticsearch/factory.js';
import { ElasticsearchTransport } from '../../../central/sinks/elasticsearch/transport.js';
import { HttpClient, retryAfterMs } from '../../../central/sinks/http/client.js';
import { readSecret } from '../../../central/sinks/secret.js';
import type { CommonSinkConfig, SinkContext, SinkDriver, SinkEvent } from '../../../central/sinks/sink.js';
import { nodewarden } from '../../../gen/nodewarden.js';
import { makeEvent, tempDirFor } from '../../helpers/event-log-fixtures.js';
import { validateEcs } from '../../helpers/ecs-validate.js';
import { quietLogger } from '../../helpers/pipeline.js';
import { tlsFixture } from '../../helpers/tls-fixture.js';

const pb = nodewarden.v1;
const T = Date.UTC(2025, 5, 15, 10, 30, 0, 123);

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

/** A receiver answering each request with the next reply (the last one repeats), recording it first. */
async function receiver(t: Test, replies: Reply[] | ((r: Recorded) => Reply)): Promise<{ url: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      requests.push(r);
      const reply = typeof replies === 'function' ? replies(r) : replies[Math.min(requests.length - 1, replies.length - 1)]!;
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function sinkEvents(n: number): SinkEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const bytes = makeEvent('worker-1-ab12', i + 1, { timeMs: T, node: 'worker-1', source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', namespace: 'kube-system' }).bytes;
    return { rowid: i + 1, event: pb.Event.decode(bytes), bytes };
  });
}

function transport(t: Test, url: string, extra: Partial<ConstructorParameters<typeof ElasticsearchTransport>[0]> = {}): ElasticsearchTransport {
  const tr = new ElasticsearchTransport({ url, index: 'logs-nodewarden-default', version: '0.1.0', ...extra });
  t.teardown(() => tr.close());
  return tr;
}

const created = (n: number) => ({ errors: false, items: Array.from({ length: n }, () => ({ create: { status: 201 } })) });
const signal = () => AbortSignal.timeout(5000);

t.test('a batch is one _bulk request of create actions keyed by event id, with ECS documents', async (t) => {
  const es = await receiver(t, [{ status: 200, body: created(2) }]);
  const batch = sinkEvents(2);
  t.same(await transport(t, es.url).send(batch, signal()), { kind: 'items', items: [{ kind: 'ok' }, { kind: 'ok' }] });

  t.equal(es.requests.length, 1);
  const req = es.requests[0]!;
  t.equal(req.method, 'POST');
  const url = new URL(req.url, es.url);
  t.equal(url.pathname, '/logs-nodewarden-default/_bulk');
  t.match(url.searchParams.get('filter_path'), /items\.\*\.status/);
  t.equal(req.headers['content-type'], 'application/x-ndjson');
  t.equal(req.headers.authorization, undefined, 'no credentials configured, none sent');

  const expected =
    `{"create":{"_id":"worker-1-ab12/1"}}\n${JSON.stringify(toEcs(batch[0]!, { version: '0.1.0' }))}\n` +
    `{"create":{"_id":"worker-1-ab12/2"}}\n${JSON.stringify(toEcs(batch[1]!, { version: '0.1.0' }))}\n`;
  t.equal(req.body.toString('utf8'), expected, 'action and document pairs, newline-terminated');
  const lines = req.body.toString('utf8').split('\n');
  t.equal(lines.length, 5, 'four lines and the final newline');
  for (const doc of [lines[1]!, lines[3]!]) t.same(validateEcs(JSON.parse(doc) as Record<string, unknown>), [], 'each document is valid ECS');
});

t.test('a URL with a path prefix and a pipeline are honoured', async (t) => {
  const es = await receiver(t, [{ status: 200, body: created(1) }]);
  await transport(t, `${es.url}/proxy/es/`, { pipeline: 'nodewarden-enrich', index: 'nodewarden-events' }).send(sinkEvents(1), signal());
  const url = new URL(es.requests[0]!.url, es.url);
  t.equal(url.pathname, '/proxy/es/nodewarden-events/_bulk');
  t.equal(url.searchParams.get('pipeline'), 'nodewarden-enrich');
});

t.test('a 409 version conflict is an event already delivered by an earlier attempt: ok', async (t) => {
  const es = await receiver(t, [{ status: 200, body: { errors: true, items: [
    { create: { status: 201 } },
    { create: { status: 409, error: { type: 'version_conflict_engine_exception', reason: '[worker-1-ab12/2]: version conflict, document already exists' } } },
  ] } }]);
  t.same(await transport(t, es.url).send(sinkEvents(2), signal()), { kind: 'items', items: [{ kind: 'ok' }, { kind: 'ok' }] });
});

t.test('a document Elasticsearch cannot map is permanent, with its error type and reason', async (t) => {
  const es = await receiver(t, [{ status: 200, body: { errors: true, items: [
    { create: { status: 201 } },
    { create: { status: 400, error: { type: 'document_parsing_exception', reason: '[1:42] failed to parse field [process.pid] of type [long]' } } },
  ] } }]);
  t.same(await transport(t, es.url).send(sinkEvents(2), signal()), { kind: 'items', items: [
    { kind: 'ok' },
    { kind: 'permanent', reason: 'document_parsing_exception: [1:42] failed to parse field [process.pid] of type [long]' },
  ] });
});

t.test('a document refused with 429 (or 5xx) is retried alone', async (t) => {
  const es = await receiver(t, [{ status: 200, body: { errors: true, items: [
    { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' } } },
    { create: { status: 201 } },
    { create: { status: 503, error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' } } },
  ] } }]);
  const result = await transport(t, es.url).send(sinkEvents(3), signal());
  t.match(result, { kind: 'items', items: [
    { kind: 'retry', reason: /429.*es_rejected_execution_exception: rejected execution/ },
    { kind: 'ok' },
    { kind: 'retry', reason: /503.*unavailable_shards_exception/ },
  ] });
});

t.test('a document refused for a missing privilege is retried, not dead-lettered', async (t) => {
  const es = await receiver(t, [{ status: 200, body: { errors: true, items: [
    { create: { status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized' } } },
  ] } }]);
  t.match(await transport(t, es.url).send(sinkEvents(1), signal()), { kind: 'items', items: [{ kind: 'retry', reason: /403.*security_exception/ }] });
});

t.test('a whole-request 503 is retried after its Retry-After', async (t) => {
  const es = await receiver(t, [{ status: 503, headers: { 'retry-after': '7' }, body: { error: { type: 'cluster_block_exception', reason: 'blocked by: [SERVICE_UNAVAILABLE/1/state not recovered]' }, status: 503 } }]);
  t.match(await transport(t, es.url).send(sinkEvents(2), signal()), { kind: 'retry', afterMs: 7000, reason: /503 \(cluster_block_exception: blocked by/ });
});

t.test('refused credentials are retried with a reason naming them, never dead-lettered', async (t) => {
  const es = await receiver(t, [{ status: 401, body: { error: { type: 'security_exception', reason: 'unable to authenticate with provided credentials' }, status: 401 } }]);
  t.match(await transport(t, es.url).send(sinkEvents(3), signal()), { kind: 'retry', reason: /401 \(security_exception: unable to authenticate.*credentials were refused/ });
});

t.test('a batch too large for the receiver is retried; a lone event too large is permanent', async (t) => {
  const es = await receiver(t, [{ status: 413, body: '' }]);
  t.match(await transport(t, es.url).send(sinkEvents(2), signal()), { kind: 'retry', reason: /lower batch\.maxEvents/ });
  t.match(await transport(t, es.url).send(sinkEvents(1), signal()), { kind: 'permanent', reason: /413/ });
});

t.test('an answer that is not a bulk response, or answers for other documents, is retried', async (t) => {
  const es = await receiver(t, [{ status: 200, body: '<html>proxy</html>' }, { status: 200, body: created(1) }]);
  const tr = transport(t, es.url);
  t.match(await tr.send(sinkEvents(2), signal()), { kind: 'retry', reason: /not a bulk response/ });
  t.match(await tr.send(sinkEvents(2), signal()), { kind: 'retry', reason: /answered for 1 of 2 documents/ });
});

t.test('a receiver that does not answer is a retry, never a throw', async (t) => {
  const es = await receiver(t, [{ status: 200, body: created(1) }]);
  const url = es.url.replace(/:\d+$/, ':1');
  t.match(await transport(t, url).send(sinkEvents(1), signal()), { kind: 'retry', reason: /did not answer/ });
});

t.test('a send aborted by the chain\'s timeout ends at once as a retry', async (t) => {
  const server = http.createServer(() => { /* never answers */ });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const started = Date.now();
  const result = await transport(t, `http://127.0.0.1:${(server.address() as AddressInfo).port}`).send(sinkEvents(1), AbortSignal.timeout(150));
  t.match(result, { kind: 'retry' });
  t.ok(Date.now() - started < 3000, 'ended by the signal');
});

t.test('over HTTPS, the configured CA is trusted and an unknown one refused', async (t) => {
  const tls = await tlsFixture();
  t.teardown(() => rmSync(tls.dir, { recursive: true, force: true }));
  const server = https.createServer({ cert: readFileSync(tls.server.cert), key: readFileSync(tls.server.key) }, (req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify(created(1))));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.same(await transport(t, url, { caFile: tls.ca }).send(sinkEvents(1), signal()), { kind: 'items', items: [{ kind: 'ok' }] });
  t.match(await transport(t, url, { caFile: tls.ca2 }).send(sinkEvents(1), signal()), { kind: 'retry', reason: /did not answer: .*(certificate|self.signed)/i });
});

t.test('answers are read up to the cap and no further', async (t) => {
  const big = 'x'.repeat(1024 * 1024);
  const es = await receiver(t, [{ status: 200, body: big }]);
  const client = new HttpClient({ maxResponseBytes: 4096 });
  t.teardown(() => client.close());
  const answer = await client.post(new URL(es.url), '{}', {}, signal());
  t.equal(answer.body.length, 4096);
  t.equal(answer.truncated, true);
});

t.test('Retry-After takes seconds or an HTTP date, capped at an hour', async (t) => {
  t.equal(retryAfterMs('3'), 3000);
  t.equal(retryAfterMs(new Date(Date.UTC(2025, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2025, 0, 1)), 30_000);
  t.equal(retryAfterMs('86400'), 3_600_000);
  t.equal(retryAfterMs('soon'), undefined);
  t.equal(retryAfterMs(undefined), undefined);
});

// The factory: configuration and secrets.

const common: CommonSinkConfig = { name: 'elastic', type: 'elasticsearch', enabled: true, filter: {}, batch: { maxEvents: 500 }, retry: { initialMs: 500, maxMs: 60_000 }, timeoutMs: 10_000 };

/** Only what network sink factories use; the chain's parts are not needed to build a transport. */
function context(env: NodeJS.ProcessEnv = {}): SinkContext {
  return { name: 'elastic', logger: quietLogger, registry: new Registry(), version: '0.1.0', secret: (ref) => readSecret(ref, env) } as Partial<SinkContext> as SinkContext;
}

t.test('the index defaults to the logs-nodewarden-default data stream', async (t) => {
  t.same(elasticsearchConfigSchema.parse({ url: 'https://es.example:9200' }), { url: 'https://es.example:9200', index: 'logs-nodewarden-default' });
});

t.test('bad configuration is refused with the key at fault', async (t) => {
  const r = elasticsearchConfigSchema.safeParse({ url: 'ftp://x', index: 'Logs', auth: { apiKey: 'inline-secret' }, colour: 'red' });
  t.notOk(r.success);
  const paths = r.error!.issues.map((i) => i.path.join('.'));
  for (const p of ['url', 'index', 'auth', '']) t.ok(paths.includes(p), `an error at "${p}" in ${JSON.stringify(paths)}`);
  t.notOk(elasticsearchConfigSchema.safeParse({ url: 'https://elastic:changeme@es:9200' }).success, 'no credentials in the URL');
});

t.test('an API key from a secret file is sent as ApiKey and read again on every send', async (t) => {
  const dir = tempDirFor(t, 'es-secret');
  const keyFile = path.join(dir, 'api-key');
  writeFileSync(keyFile, 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\n');
  const es = await receiver(t, [{ status: 200, body: created(1) }]);
  const config = elasticsearchConfigSchema.parse({ url: es.url, auth: { apiKey: { file: keyFile } } });
  const driver = elasticsearchSinkFactory.create({ ...common, ...config }, context()) as SinkDriver;
  t.teardown(() => driver.transport.close?.());
  await driver.transport.send(sinkEvents(1), signal());
  writeFileSync(keyFile, 'cm90YXRlZDprZXk=');
  await driver.transport.send(sinkEvents(1), signal());
  t.same(es.requests.map((r) => r.headers.authorization), ['ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==', 'ApiKey cm90YXRlZDprZXk=']);
});

t.test('a username and a password from the environment are sent as Basic', async (t) => {
  const es = await receiver(t, [{ status: 200, body: created(1) }]);
  const config = elasticsearchConfigSchema.parse({ url: es.url, auth: { username: 'nodewarden', password: { env: 'ES_PASSWORD' } } });
  const driver = elasticsearchSinkFactory.create({ ...common, ...config }, context({ ES_PASSWORD: 's3cret' })) as SinkDriver;
  t.teardown(() => driver.transport.close?.());
  await driver.transport.send(sinkEvents(1), signal());
  t.equal(es.requests[0]!.headers.authorization, `Basic ${Buffer.from('nodewarden:s3cret').toString('base64')}`);
});

t.test('a secret or CA file that cannot be read stops the sink at start, naming the file', async (t) => {
  const dir = tempDirFor(t, 'es-missing');
  const missing = path.join(dir, 'nope');
  const withKey = elasticsearchConfigSchema.parse({ url: 'https://es:9200', auth: { apiKey: { file: missing } } });
  t.throws(() => elasticsearchSinkFactory.create({ ...common, ...withKey }, context()), { code: 'NW_ERR_CONFIG', message: new RegExp(`auth: .*${missing}`) });
  const withCa = elasticsearchConfigSchema.parse({ url: 'https://es:9200', tls: { ca: missing } });
  t.throws(() => elasticsearchSinkFactory.create({ ...common, ...withCa }, context()), { code: 'NW_ERR_CONFIG', message: /tls\.ca/ });
});

t.test('a secret that disappears after start makes sends retry with the reason', async (t) => {
  const dir = tempDirFor(t, 'es-gone');
  const keyFile = path.join(dir, 'api-key');
  writeFileSync(keyFile, 'a2V5');
  const es = await receiver(t, [{ status: 200, body: created(1) }]);
  const config = elasticsearchConfigSchema.parse({ url: es.url, auth: { apiKey: { file: keyFile } } });
  const driver = elasticsearchSinkFactory.create({ ...common, ...config }, context()) as SinkDriver;
  t.teardown(() => driver.transport.close?.());
  writeFileSync(keyFile, '');
  t.match(await driver.transport.send(sinkEvents(1), signal()), { kind: 'retry', reason: /credentials cannot be read.*is empty/ });
  t.equal(es.requests.length, 0, 'nothing sent without credentials');
});
