// The `webhook` sink type: batches of events POSTed as a JSON array to any HTTP(S) receiver,
// signed with HMAC-SHA256 when a secret is configured (transport.ts has the wire format and the
// receiver's verification recipe).
//
//   - name: soar
//     type: webhook
//     url: https://hooks.example/nodewarden
//     format: ocsf                         # json (protobuf JSON mapping, default) | ocsf | ecs
//     secret: { file: /etc/nw/webhook-key }   # or { env: NAME }: signs every request
//     headers: { X-Team: sre }             # extra headers (not the ones the sink sets)
//     tls: { ca: /etc/nw/hooks-ca.crt }    # trust this CA bundle instead of the system's roots

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NwError, describeError } from '../../../core/errors.js';
import { secretRef } from '../secret.js';
import type { SinkDriver, SinkFactory } from '../sink.js';
import { WebhookTransport } from './transport.js';

const webhookUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
  } catch {
    return false;
  }
}, 'expected an http(s) URL without credentials (a signing key goes in secret)');

/** Headers the transport sets itself: a configured one would break delivery or the signature. */
const RESERVED_HEADERS = new Set([
  'content-type', 'content-length', 'transfer-encoding', 'connection', 'host', 'user-agent',
  'idempotency-key', 'x-nodewarden-timestamp', 'x-nodewarden-signature',
]);

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Names are checked here rather than in the record's key schema so each error names its header.
const headers = z.record(z.string(), z.string().regex(/^[^\r\n\0]*$/, 'a header value cannot hold line breaks'))
  .superRefine((h, ctx) => {
    for (const name of Object.keys(h)) {
      if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'expected an HTTP header name' });
      else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'this header is set by the sink itself' });
    }
  });

export const webhookConfigSchema = z.strictObject({
  url: webhookUrl,
  format: z.enum(['json', 'ocsf', 'ecs']).default('json'),
  /** The HMAC-SHA256 key for X-Nodewarden-Signature; unset: requests are not signed. */
  secret: secretRef.optional(),
  headers: headers.default({}),
  tls: z.strictObject({
    ca: z.string().min(1).optional(),
    // Accepted only as false, so that a config copied from elsewhere says what it gets.
    insecureSkipVerify: z.literal(false, { error: 'certificate verification cannot be turned off; trust the receiver\'s CA with tls.ca' }).optional(),
  }).optional(),
});
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

export const webhookSinkFactory: SinkFactory<WebhookConfig> = {
  type: 'webhook',
  schema: webhookConfigSchema,
  create(config, ctx): SinkDriver {
    const at = `central.sinks ${config.name}`;
    const url = new URL(config.url);
    const ca = config.tls?.ca;
    if (ca) {
      try {
        readFileSync(ca);
      } catch (err) {
        throw new NwError('NW_ERR_CONFIG', `${at}: tls.ca: ${ca} cannot be read: ${describeError(err)}`, { cause: err });
      }
    }
    const ref = config.secret;
    if (ref) {
      // Read once now so a wrong path or a missing variable stops central at start, not at the first send.
      try {
        ctx.secret(ref);
      } catch (err) {
        throw new NwError('NW_ERR_CONFIG', `${at}: secret: ${describeError(err)}`, { cause: err });
      }
    }
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
      ctx.logger.warn({ sink: config.name, url: url.origin }, 'The webhook URL is plain http: events leave central unencrypted.');
    }
    return {
      transport: new WebhookTransport({
        url,
        format: config.format,
        version: ctx.version,
        headers: config.headers,
        secret: ref ? () => ctx.secret(ref) : undefined,
        caFile: ca,
      }),
    };
  },
};

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}
