// One stored event as an ArcSight CEF (Common Event Format, version 0) message, the form most
// SIEMs parse out of syslog. The message is one line of UTF-8 with no control characters, at
// most `maxBytes` bytes (values are shortened, never dropped, to fit), so a syslog receiver
// passes it on byte for byte.
//
//   CEF:0|nodewarden|nodewarden|<version>|<rule id>|<title>|<severity 0-10>|<key=value ...>
//
// Escaping, as the CEF specification requires: in the header `\` and `|` are escaped with a
// backslash (newlines may not appear there: they become spaces); in extension values `\`, `=`,
// and newlines (`\n`, `\r`) are escaped, and `|` is left alone. CEF has no escape for the other
// control characters and syslog receivers rewrite them (rsyslog turns a tab into `#011`), so a
// tab becomes a space and any other control character (or a lone UTF-16 surrogate) U+FFFD.
//
// Extension keys, all from the CEF key dictionary (an event carries a key only when it has a value):
//   rt           deviceReceiptTime: the event's time, milliseconds since the epoch
//   dvchost      deviceHostName: the node the agent runs on
//   externalId   the event's id (<agent id>/<sequence>): unique, the same on every resend, so a
//                SIEM can drop duplicates (the dictionary sizes it at 40 characters: ArcSight
//                itself may cut the ids of long node names; the sink sends it whole)
//   cat          deviceEventCategory: the source (posture, runtime, process, agent, kube, central)
//   act          deviceAction: the finding's state, open or resolved (absent for one-off detections)
//   cnt          baseEventCount: identical detections folded into this one
//   spid, sproc  sourceProcessId and sourceProcessName (the executable's path, else its comm)
//   suid         sourceUserId: the process's uid. (`suser` is a user *name*, which the agent
//                does not know; the dictionary gives `suid` for a numeric id such as 0 for root.)
//   fname, filePath, filePermission (octal), fileType: the file a posture check looked at
//   cs1..cs6     deviceCustomString1-6, each with its csNLabel: namespace, pod, container,
//                image, mitreTechniques (comma-separated), fingerprint
//   flexString1  cisId; flexString2 cluster (with their labels): the six custom strings are
//                taken, and flex strings are the dictionary's keys for what no other key fits
//                (it asks vendors to use them sparingly: these two are the only ones)
//   reason       the evidence (what was found), with what the check expected
//   msg          the message, then the command line of a process and the remediation, if any
//
// Severity: info 1, low 3, medium 5, high 8, critical 10 (CEF reads 0-3 low, 4-6 medium, 7-8
// high, 9-10 very high); an unspecified severity is 0.

import Long from 'long';
import { nodewarden } from '../../gen/nodewarden.js';
import { sourceName, stateName } from '../../core/event.js';
import type { SinkEvent } from '../sinks/sink.js';
import { isLong, longNanosToMs } from './time.js';

const pb = nodewarden.v1;

/** The default bound: with a syslog header (under 1 KiB) a message stays within 64 KiB. */
export const CEF_MAX_BYTES = 63 * 1024;
/** The smallest bound accepted: room for the header and every key with a short value. */
export const CEF_MIN_BYTES = 1536;

const VENDOR = 'nodewarden';
const PRODUCT = 'nodewarden';
// Header fields are bounded on their own, so the extension always keeps most of the room.
const MAX_VERSION_BYTES = 63;
const MAX_RULE_ID_BYTES = 256;
const MAX_TITLE_BYTES = 512;
const ELLIPSIS = '…';
const ELLIPSIS_BYTES = 3;

const CEF_SEVERITY: Record<number, number> = {
  [pb.Severity.SEVERITY_INFO]: 1,
  [pb.Severity.SEVERITY_LOW]: 3,
  [pb.Severity.SEVERITY_MEDIUM]: 5,
  [pb.Severity.SEVERITY_HIGH]: 8,
  [pb.Severity.SEVERITY_CRITICAL]: 10,
};

/** The CEF severity (0-10) of an event severity. */
export function cefSeverity(severity: number): number {
  return CEF_SEVERITY[severity] ?? 0;
}

/** The event's time in milliseconds since the epoch (0 when it has none). */
export function eventTimeMs(e: nodewarden.v1.Event): number {
  const t = e.timeUnixNano as Long | number | null | undefined;
  if (t === null || t === undefined) return 0;
  if (typeof t === 'number') return Math.floor(t / 1e6);
  if (isLong(t)) return longNanosToMs(t);
  return Long.fromValue(t).div(1_000_000).toNumber();
}

/** What either escaping may change: most values hold none of it and are returned as they are. */
const NEEDS_HEADER_ESCAPE = /[\\|\x00-\x1f\x7f-\x9f\ud800-\udfff]/;
const NEEDS_EXTENSION_ESCAPE = /[\\=\x00-\x1f\x7f-\x9f\ud800-\udfff]/;

/**
 * Escapes for the header (`header`) or for extension values: one pass over UTF-16 units,
 * copying runs that need nothing (most text) whole.
 */
function escapeText(s: string, header: boolean): string {
  if (!(header ? NEEDS_HEADER_ESCAPE : NEEDS_EXTENSION_ESCAPE).test(s)) return s;
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 0x5c) rep = '\\\\';
    else if (c === 0x7c) rep = header ? '\\|' : undefined;
    else if (c === 0x3d) rep = header ? undefined : '\\=';
    else if (c === 0x0a) rep = header ? ' ' : '\\n';
    else if (c === 0x0d) rep = header ? ' ' : '\\r';
    else if (c === 0x09) rep = ' ';
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) rep = '\uFFFD';
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++; // a whole surrogate pair: one character, kept
        continue;
      }
      rep = '\uFFFD';
    } else if (c >= 0xdc00 && c <= 0xdfff) rep = '\uFFFD';
    if (rep === undefined) continue;
    out += s.slice(from, i) + rep;
    from = i + 1;
  }
  return from === 0 ? s : out + s.slice(from);
}

/** Header escaping: `\` and `|` escaped; newlines and tabs become spaces, other controls U+FFFD. */
export function escapeHeader(s: string): string {
  return escapeText(s, true);
}

/** Extension value escaping: `\`, `=`, `\n`, `\r` escaped; tabs become spaces, other controls U+FFFD. */
export function escapeExtension(s: string): string {
  return escapeText(s, false);
}

/**
 * A value cut to max + 1 UTF-16 units: what `fit` could keep of it in `max` bytes is shorter
 * still, and a multi-megabyte value is not escaped whole only to be cut.
 */
function clip(value: string, max: number): string {
  return value.length > max + 1 ? value.slice(0, max + 1) : value;
}

function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * `value` escaped, in at most `max` bytes: when it does not fit, the longest prefix of whole
 * characters (never half an escape or half a surrogate pair) that does, followed by "…".
 */
function fit(value: string, escape: (s: string) => string, max: number): string {
  const full = escape(clip(value, max));
  // At most 3 bytes a UTF-16 unit: most values fit without counting their bytes.
  if (full.length * 3 <= max || utf8Bytes(full) <= max) return full;
  if (max < ELLIPSIS_BYTES) return '';
  const budget = max - ELLIPSIS_BYTES;
  // Walk the escaped text counting UTF-8 bytes; only as far as fits, so the cost is bounded by
  // `max`, not by the value. Escaping leaves every backslash the start of a two-character ASCII
  // escape and every high surrogate paired (lone ones became U+FFFD).
  let bytes = 0;
  let i = 0;
  while (i < full.length) {
    const c = full.charCodeAt(i);
    let units = 1;
    let n: number;
    if (c === 0x5c) {
      units = 2;
      n = 2;
    } else if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      units = 2;
      n = 4;
    } else n = 3;
    if (bytes + n > budget) break;
    bytes += n;
    i += units;
  }
  return full.slice(0, i) + ELLIPSIS;
}

/**
 * A command line as a person would type it (arguments with spaces or quotes are quoted), built
 * only as far as `max` characters: the rest could not be sent anyway.
 */
function commandLine(argv: readonly string[], truncated: boolean, max: number): string {
  let line = '';
  for (const a of argv) {
    if (line.length > max) return line;
    line += (line ? ' ' : '') + (a === '' || /[\s"'\\]/.test(a) ? JSON.stringify(a) : a);
  }
  return truncated ? `${line} (truncated)` : line;
}

function basename(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

/** The extension's keys and values (unescaped), in the order they are written. */
function extensionFields(e: nodewarden.v1.Event, maxBytes: number): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  const add = (key: string, value: string | number | null | undefined): void => {
    if (value === null || value === undefined || value === '') return;
    fields.push([key, String(value)]);
  };
  const labelled = (key: string, label: string, value: string | null | undefined): void => {
    if (!value) return;
    fields.push([`${key}Label`, label], [key, value]);
  };

  const ms = eventTimeMs(e);
  if (ms > 0) add('rt', ms);
  add('dvchost', e.node);
  add('externalId', e.id);
  add('cat', e.source ? sourceName(e.source) : '');
  add('act', e.state ? stateName(e.state) : '');
  if (e.count > 0) add('cnt', e.count);

  const p = e.process;
  if (p) {
    if (p.pid) add('spid', p.pid);
    add('sproc', p.exe || p.comm);
    if (p.uid !== null && p.uid !== undefined) add('suid', p.uid);
  }
  const f = e.file;
  if (f?.path) {
    add('fname', basename(f.path));
    add('filePath', f.path);
    if (f.exists) add('filePermission', `0${(f.mode ?? 0).toString(8).padStart(3, '0')}`);
    add('fileType', f.kind);
  }

  const k = e.kubernetes;
  const c = e.container;
  labelled('cs1', 'namespace', k?.namespace);
  labelled('cs2', 'pod', k?.pod);
  labelled('cs3', 'container', k?.container || c?.name);
  labelled('cs4', 'image', c?.image);
  labelled('cs5', 'mitreTechniques', e.mitreTechniques.join(','));
  labelled('cs6', 'fingerprint', e.fingerprint);
  labelled('flexString1', 'cisId', e.cisId);
  labelled('flexString2', 'cluster', e.cluster);

  add('reason', e.expected ? `${e.evidence}; expected: ${e.expected}` : e.evidence);
  const msg = [e.message];
  if (p?.argv?.length) msg.push(`Command line: ${commandLine(p.argv, p.argvTruncated ?? false, maxBytes)}`);
  if (e.remediation) msg.push(`Remediation: ${e.remediation}`);
  add('msg', msg.filter(Boolean).join(' '));
  return fields;
}

/**
 * The largest value size (bytes, escaped) such that every value shortened to it fits `budget`
 * together ("water filling"): short values stay whole, only the longest ones are cut.
 */
function valueCap(sizes: number[], budget: number): number {
  const sorted = [...sizes].sort((a, b) => a - b);
  let left = budget;
  for (let i = 0; i < sorted.length; i++) {
    const share = Math.floor(left / (sorted.length - i));
    if (sorted[i]! > share) return Math.max(0, share);
    left -= sorted[i]!;
  }
  return Infinity;
}

export interface CefOptions {
  /** nodewarden's version, the header's device version. */
  version: string;
  /** The message's bound in UTF-8 bytes (default CEF_MAX_BYTES, at least CEF_MIN_BYTES). */
  maxBytes?: number;
}

/** The CEF message of one event. */
export function toCef(se: SinkEvent, opts: CefOptions): string {
  const e = se.event;
  const maxBytes = Math.max(CEF_MIN_BYTES, opts.maxBytes ?? CEF_MAX_BYTES);
  const header = [
    'CEF:0',
    VENDOR,
    PRODUCT,
    fit(opts.version, escapeHeader, MAX_VERSION_BYTES),
    fit(e.ruleId, escapeHeader, MAX_RULE_ID_BYTES),
    fit(e.title, escapeHeader, MAX_TITLE_BYTES),
    String(cefSeverity(e.severity)),
  ].join('|') + '|';

  const fields = extensionFields(e, maxBytes).map(([key, value]): [string, string] => [key, clip(value, maxBytes)]);
  const values = fields.map(([, v]) => escapeExtension(v));
  // The common case: everything fits even at 3 bytes a UTF-16 unit, so nothing is shortened and
  // no value's bytes need counting.
  let bound = header.length * 3 + Math.max(0, fields.length - 1);
  for (let i = 0; i < fields.length; i++) bound += fields[i]![0].length + 1 + values[i]!.length * 3;
  if (bound <= maxBytes) {
    let out = header;
    for (let i = 0; i < fields.length; i++) out += `${i > 0 ? ' ' : ''}${fields[i]![0]}=${values[i]!}`;
    return out;
  }
  const sizes = values.map(utf8Bytes);
  // Fixed cost: the header, each key with its '=', and the spaces between pairs.
  const fixed = utf8Bytes(header) + fields.reduce((n, [key]) => n + key.length + 1, 0) + Math.max(0, fields.length - 1);
  const cap = valueCap(sizes, maxBytes - fixed);
  const pairs = fields.map(([key, raw], i) => `${key}=${sizes[i]! > cap ? fit(raw, escapeExtension, cap) : values[i]!}`);
  return header + pairs.join(' ');
}
