// The protobuf JSON mapping of a stored event as text, made once for every sink that sends it:
// the JSON-lines file, webhooks (format json) and Splunk HEC's `event` all carry these same
// bytes, and building the mapping and stringifying it was a fifth of what seven sinks cost.
//
// The text is kept on the decoded event the sink thread shares between its sinks (a property of
// its own, under a symbol: encoding, toObject and JSON.stringify ignore it), so it goes when the
// event goes, once every sink has passed its block. A WeakMap did the same at a garbage
// collector's price: each entry is an ephemeron the collector traces apart, and decoding plus the
// text cost 19 µs an event with it against 12 µs without (decode and text alone, 256-event blocks).

import { eventToJson } from '../../core/event.js';
import type { nodewarden } from '../../gen/nodewarden.js';

const TEXT = Symbol('nodewarden.jsonText');
type WithText = nodewarden.v1.Event & { [TEXT]?: string };

/** JSON.stringify(eventToJson(event)), once per decoded event. */
export function eventJsonText(event: nodewarden.v1.Event): string {
  const e = event as WithText;
  let text = e[TEXT];
  if (text === undefined) {
    text = JSON.stringify(eventToJson(event));
    e[TEXT] = text;
  }
  return text;
}
