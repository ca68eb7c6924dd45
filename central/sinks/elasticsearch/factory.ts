// The `elasticsearch` sink type: events as ECS documents into an index or data stream through
// `_bulk` (see transport.ts for what each answer means). The default target, logs-nodewarden-default,
// matches Elasticsearch's built-in `logs-*-*` template: a data stream with ECS mappings, no setup.
//
//   - name: elastic
//     type: elasticsearch
//     url: https://es.example:9200
//     index: logs-nodewarden-default        # index, alias or data stream
//     auth: { apiKey: { file: /etc/nw/es-api-key } }   # the encoded key; or { username, password: SecretRef }
//     tls: { ca: /etc/nw/es-ca.crt }
//     pipeline: nodewarden                  # optional ingest pipeline

import { z } from 'zod';
import { NwError, describeError } from '../../../core/errors.js';
import { secretRef } from '../secret.js';
import type { SinkContext, SinkDriver, SinkFactory, SecretRef } from '../sink.js';
import { checkReadable, httpUrl } from '../http/config.js';
import { ElasticsearchTransport } from './transport.js';

export const elasticsearchConfigSchema = z.strictObject({
  url: httpUrl,
  /** Elasticsearch's index naming rules: lowercase, no \ / * ? " < > | , # : or space, not starting with - _ + . */
  index: z.string().max(255).regex(/^[a-z0-9][^\\/*?"<>|,# :A-Z]*$/, 'expected a lowercase index, alias or data stream name').default('logs-nodewarden-default'),
  auth: z.union([
    z.strictObject({ apiKey: secretRef }),
    z.strictObject({ username: z.string().min(1), password: secretRef }),
  ], { error: 'expected { apiKey: { file | env } } or { username, password: { file | env } } (secrets are never inline)' }).optional(),
  tls: z.strictObject({ ca: z.string().min(1).optional() }).optional(),
  pipeline: z.string().min(1).optional(),
});
export type ElasticsearchConfig = z.infer<typeof elasticsearchConfigSchema>;

export const elasticsearchSinkFactory: SinkFactory<ElasticsearchConfig> = {
  type: 'elasticsearch',
  schema: elasticsearchConfigSchema,
  create(config, ctx): SinkDriver {
    checkReadable(config.tls?.ca, `central.sinks ${config.name}: tls.ca`);
    const authorization = authorizationFor(config.auth, ctx);
    // Read once now so a wrong path or a missing variable stops central at start, not at the first send.
    if (authorization) {
      try {
        authorization();
      } catch (err) {
        throw new NwError('NW_ERR_CONFIG', `central.sinks ${config.name}: auth: ${describeError(err)}`, { cause: err });
      }
    }
    return {
      transport: new ElasticsearchTransport({
        url: config.url,
        index: config.index,
        pipeline: config.pipeline,
        authorization,
        caFile: config.tls?.ca,
        version: ctx.version,
      }),
    };
  },
};

/** The Authorization header, built from the secrets on every call (they rotate). */
function authorizationFor(auth: ElasticsearchConfig['auth'], ctx: Pick<SinkContext, 'secret'>): (() => string) | undefined {
  if (!auth) return undefined;
  if ('apiKey' in auth) {
    // Elasticsearch's "encoded" API key: base64 of id:key, sent as it is.
    const ref: SecretRef = auth.apiKey;
    return () => `ApiKey ${ctx.secret(ref)}`;
  }
  const { username, password } = auth;
  return () => `Basic ${Buffer.from(`${username}:${ctx.secret(password)}`, 'utf8').toString('base64')}`;
}

