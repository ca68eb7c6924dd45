// The syslog message of one stored event: an RFC 5424 header around its CEF message, the whole
// within the configured byte bound (the CEF part gets what the header leaves).

import { sourceName } from '../../../core/event.js';
import { eventTimeMs, toCef } from '../../formats/cef.js';
import { rfc5424, syslogSeverity } from '../../formats/syslog.js';
import type { SinkEvent } from '../sink.js';

export interface SyslogMessageOptions {
  facility: number;
  appName: string;
  /** nodewarden's version (CEF's device version). */
  version: string;
  /** The whole message's bound in UTF-8 bytes. */
  maxBytes: number;
}

export function syslogMessage(se: SinkEvent, opts: SyslogMessageOptions): string {
  const e = se.event;
  const header = {
    facility: opts.facility,
    severity: syslogSeverity(e.severity),
    // The event's own time, not the sending time: a resent event is the same message, byte for
    // byte, and the receiver files it when it happened.
    time: new Date(eventTimeMs(e) || Number.NaN),
    // The node the event is about is the message's origin; central only relays it.
    hostname: e.node,
    appName: opts.appName,
    // MSGID names the kind of message; rule ids are too long for its 32 characters.
    msgId: e.source ? sourceName(e.source) : '',
  };
  // The header alone, then the CEF message after a space (a CEF message is never empty).
  const head = rfc5424({ ...header, message: '' });
  const cef = toCef(se, { version: opts.version, maxBytes: opts.maxBytes - Buffer.byteLength(head) - 1 });
  return `${head} ${cef}`;
}
