// Syslog framing: the RFC 5424 message (header, structured data, message) and RFC 6587's
// octet counting that carries it over TCP or TLS (`LEN SP MSG`, LEN in bytes).
//
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]
//
// Header fields are printable US-ASCII (33-126) within the RFC's lengths (hostname 255,
// app-name 48, procid 128, msgid 32); anything else in them becomes '_', and an empty field is
// the NILVALUE '-'. The message is sent as MSG-ANY, UTF-8 without the BOM the RFC asks of
// MSG-UTF8: CEF names its own encoding (UTF-8), and CEF parsers look for "CEF:" at the very
// start of the message, where a BOM would hide it.

import { nodewarden } from '../../gen/nodewarden.js';
import { isoTime } from './time.js';

const pb = nodewarden.v1;

/**
 * The default facility: 10, authpriv ("security/authorization messages", private). Findings are
 * security messages, and command lines and file paths in them can be sensitive: receivers'
 * stock rules file authpriv apart, readable by administrators only (Debian's /var/log/auth.log,
 * RHEL's /var/log/secure); authpriv exists because auth (4) traditionally shares the general
 * logs; and 13 (log audit) has no rule in most stock configurations. `facility` changes it.
 */
export const DEFAULT_FACILITY = 10;

const SYSLOG_SEVERITY: Record<number, number> = {
  [pb.Severity.SEVERITY_CRITICAL]: 2, // crit
  [pb.Severity.SEVERITY_HIGH]: 3, // err
  [pb.Severity.SEVERITY_MEDIUM]: 4, // warning
  [pb.Severity.SEVERITY_LOW]: 5, // notice
  [pb.Severity.SEVERITY_INFO]: 6, // info
};

/** The syslog severity (0-7) of an event severity; unspecified is informational. */
export function syslogSeverity(severity: number): number {
  return SYSLOG_SEVERITY[severity] ?? 6;
}

const NILVALUE = '-';

/** A header field: printable US-ASCII only, at most `max` characters, '-' when empty. */
function headerField(value: string | undefined, max: number): string {
  if (!value) return NILVALUE;
  const printable = NOT_PRINTABLE.test(value) ? value.replace(NOT_PRINTABLE_ALL, '_') : value;
  return printable.length > max ? printable.slice(0, max) : printable;
}

const NOT_PRINTABLE = /[^\x21-\x7e]/;
const NOT_PRINTABLE_ALL = /[^\x21-\x7e]/g;

export interface Rfc5424Options {
  /** 0-23. */
  facility: number;
  /** 0-7. */
  severity: number;
  time: Date;
  hostname: string;
  appName: string;
  procId?: string;
  msgId: string;
  /** One or more SD-ELEMENTs, already formatted (`[id key="value"]`); NILVALUE when absent. */
  structuredData?: string;
  message: string;
}

export function rfc5424(opts: Rfc5424Options): string {
  if (!Number.isInteger(opts.facility) || opts.facility < 0 || opts.facility > 23) throw new RangeError(`syslog facility ${opts.facility} is not 0-23`);
  if (!Number.isInteger(opts.severity) || opts.severity < 0 || opts.severity > 7) throw new RangeError(`syslog severity ${opts.severity} is not 0-7`);
  const pri = opts.facility * 8 + opts.severity;
  // toISOString is RFC 3339 in UTC with milliseconds (the RFC allows up to microseconds), for
  // four-digit years; any other time (or none) is the NILVALUE.
  const year = opts.time.getUTCFullYear();
  const time = year >= 0 && year <= 9999 ? isoTime(opts.time.getTime()) : NILVALUE;
  const header = [
    `<${pri}>1`,
    time,
    headerField(opts.hostname, 255),
    headerField(opts.appName, 48),
    headerField(opts.procId, 128),
    headerField(opts.msgId, 32),
    opts.structuredData || NILVALUE,
  ].join(' ');
  return opts.message ? `${header} ${opts.message}` : header;
}

/** RFC 6587 octet counting: the message's length in UTF-8 bytes, a space, the message. */
export function octetCounted(msg: string): Buffer {
  const length = Buffer.byteLength(msg, 'utf8');
  const prefix = `${length} `;
  // One buffer (from Node's pool for small messages), the prefix and the message written into it.
  const frame = Buffer.allocUnsafe(prefix.length + length);
  frame.write(prefix, 0, 'latin1');
  frame.write(msg, prefix.length, 'utf8');
  return frame;
}
