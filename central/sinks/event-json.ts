// The protobuf JSON mapping of a stored event as text, made once for every sink that sends it:
// the JSON-lines file, webhooks (format json) and Splunk HEC's `event` all carry these same
// bytes, and building the mapping and stringifying it was a fifth of what seven sinks cost.
//
// The text is kept beside the decoded event the sink thread shares between its sinks (a weak
// reference: it goes when the event goes, once every sink has passed its block), so it costs
// memory only while the shared reads hold the event anyway.

import { eventToJson } from '../../core/event.js';
import type { nodewarden } from '../../gen/nodewarden.js';

const texts = new WeakMap<nodewarden.v1.Event, string>();

/** JSON.stringify(eventToJson(event)), once per decoded event. */
export function eventJsonText(event: nodewarden.v1.Event): string {
  let text = texts.get(event);
  if (text === undefined) {
    text = JSON.stringify(eventToJson(event));
    texts.set(event, text);
  }
  return text;
}
