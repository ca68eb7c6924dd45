// The `syslog` sink type: each event as a CEF message inside an RFC 5424 syslog message,
// octet-counted (RFC 6587) over one persistent TCP or TLS connection to a syslog receiver
// (rsyslog, syslog-ng, a SIEM's collector). Retries, timeouts and the cursor are the send
// chain's; this file gives the config schema and builds the transport.
//
//   sinks:
//     - name: siem
//       type: syslog
//       address: siem-collector.example:6514
//       transport: tls
//       tls: { ca: /etc/nodewarden/siem-ca.crt }

import { z } from 'zod';
import { octetCounted, DEFAULT_FACILITY } from '../../formats/syslog.js';
import type { CommonSinkConfig, SinkContext, SinkDriver, SinkFactory } from '../sink.js';
import { syslogMessage } from './message.js';
import { SyslogTransport } from './transport.js';

// RFC 5425 makes receivers take 2,048-byte messages and recommends 8,192; rsyslog's default
// is 8 KiB (its `maxMessageSize`), so a receiver must be raised to take the 64 KiB default.
const MIN_MESSAGE_BYTES = 2048;
const MAX_MESSAGE_BYTES = 64 * 1024;

const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

/** `host:port` or `[v6]:port` → its parts; undefined when it is not one. */
export function parseAddress(s: string): { host: string; port: number } | undefined {
  const m = ADDRESS.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

const file = z.string().min(1);

export const syslogConfigSchema = z
  .strictObject({
    /** The receiver, `host:port` (`[v6]:port`); 6514 is TLS syslog's registered port, 514 TCP's custom. */
    address: z.string().refine((s) => parseAddress(s) !== undefined, 'expected HOST:PORT with a port 1-65535'),
    /** `tls` verifies the receiver's certificate (against tls.ca, else the system's CAs). */
    transport: z.enum(['tcp', 'tls']).default('tcp'),
    tls: z
      .strictObject({
        /** PEM file of the CA(s) that sign the receiver's certificate; re-read at every connect. */
        ca: file.optional(),
        /** The name the receiver's certificate must carry (default: the address's host). */
        serverName: z.string().min(1).optional(),
        /** A client certificate and key (PEM files) for receivers that authenticate senders. */
        cert: file.optional(),
        key: file.optional(),
      })
      .optional(),
    /** Syslog facility 0-23; default 10 (authpriv): security messages, filed privately. */
    facility: z.number().int().min(0).max(23).default(DEFAULT_FACILITY),
    /** RFC 5424 APP-NAME. */
    appName: z.string().regex(/^[\x21-\x7e]{1,48}$/, 'expected 1-48 printable ASCII characters without spaces').default('nodewarden'),
    /** Bound of one syslog message in bytes; longer event fields are shortened to fit. */
    maxMessageBytes: z.number().int().min(MIN_MESSAGE_BYTES).max(MAX_MESSAGE_BYTES).default(MAX_MESSAGE_BYTES),
    /** Connect and TLS handshake timeout. */
    connectTimeoutMs: z.number().int().min(100).default(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.tls && c.transport !== 'tls') ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls options need transport: tls' });
    if ((c.tls?.cert === undefined) !== (c.tls?.key === undefined)) ctx.addIssue({ code: 'custom', path: ['tls', 'cert'], message: 'cert and key go together' });
  });

export type SyslogConfig = z.infer<typeof syslogConfigSchema>;

export const syslogSinkFactory: SinkFactory<SyslogConfig> = {
  type: 'syslog',
  schema: syslogConfigSchema,
  create(config: SyslogConfig & CommonSinkConfig, ctx: SinkContext): SinkDriver {
    const { host, port } = parseAddress(config.address)!;
    const message = { facility: config.facility, appName: config.appName, version: ctx.version, maxBytes: config.maxMessageBytes };
    const transport = new SyslogTransport({
      host,
      port,
      tls: config.transport === 'tls' ? (config.tls ?? {}) : undefined,
      frame: (e) => octetCounted(syslogMessage(e, message)),
      logger: ctx.logger,
      connectTimeoutMs: config.connectTimeoutMs,
    });
    return { transport };
  },
};
