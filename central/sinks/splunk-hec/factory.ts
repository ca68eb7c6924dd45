// The `splunk-hec` sink type: events to Splunk's HTTP Event Collector (see transport.ts for the
// envelope and what each answer means).
//
//   - name: splunk
//     type: splunk-hec
//     url: https://splunk.example:8088       # the base URL; the sink adds /services/collector/…
//     token: { file: /etc/nw/hec-token }
//     index: security                        # optional: the token's default index otherwise
//     source: nodewarden                     # default
//     sourcetype: nodewarden                 # default
//     ack: true                              # wait for indexer acknowledgement (raise timeoutMs)
//     channel: 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba   # optional: a new GUID per start otherwise
//     tls: { ca: /etc/nw/splunk-ca.crt }

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NwError, describeError } from '../../../core/errors.js';
import { secretRef } from '../secret.js';
import type { SinkDriver, SinkFactory } from '../sink.js';
import { checkReadable, httpUrl } from '../http/config.js';
import { SplunkHecTransport } from './transport.js';

/** Below this, a busy indexer's acknowledgement often arrives after the chain gave up. */
const ACK_TIMEOUT_HINT_MS = 30_000;

export const splunkHecConfigSchema = z.strictObject({
  url: httpUrl.refine((s) => !new URL(s).pathname.includes('/services/collector'), 'expected the base URL (https://host:8088): the sink adds /services/collector/event'),
  token: secretRef,
  index: z.string().min(1).optional(),
  source: z.string().min(1).default('nodewarden'),
  sourcetype: z.string().min(1).default('nodewarden'),
  ack: z.boolean().default(false),
  channel: z.guid('expected a GUID, e.g. 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba').optional(),
  tls: z.strictObject({ ca: z.string().min(1).optional() }).optional(),
});
export type SplunkHecConfig = z.infer<typeof splunkHecConfigSchema>;

export const splunkHecSinkFactory: SinkFactory<SplunkHecConfig> = {
  type: 'splunk-hec',
  schema: splunkHecConfigSchema,
  create(config, ctx): SinkDriver {
    checkReadable(config.tls?.ca, `central.sinks ${config.name}: tls.ca`);
    const token = (): string => ctx.secret(config.token);
    // Read once now so a wrong path or a missing variable stops central at start, not at the first send.
    try {
      token();
    } catch (err) {
      throw new NwError('NW_ERR_CONFIG', `central.sinks ${config.name}: token: ${describeError(err)}`, { cause: err });
    }
    if (config.ack && config.timeoutMs < ACK_TIMEOUT_HINT_MS) {
      ctx.logger.warn({ sink: config.name, timeoutMs: config.timeoutMs },
        `Splunk acknowledges indexing after seconds under load; with timeoutMs below ${ACK_TIMEOUT_HINT_MS} batches may be sent again (and indexed twice) while their acknowledgement is on its way.`);
    }
    return {
      transport: new SplunkHecTransport({
        url: config.url,
        token,
        index: config.index,
        source: config.source,
        sourcetype: config.sourcetype,
        ack: config.ack,
        // HEC tracks acknowledgements per channel; one per running sink is what HEC expects of a client.
        channel: config.channel ?? (config.ack ? randomUUID() : undefined),
        caFile: config.tls?.ca,
        logger: ctx.logger,
      }),
    };
  },
};
