// The JSON mapping's text made once per decoded event for every sink that sends it: the same
// text as stringifying the mapping, and the same HEC envelope as stringifying the envelope.
import t from 'tap';
import Long from 'long';
import { eventToJson } from '../../../core/event.js';
import { eventJsonText } from '../../../central/sinks/event-json.js';
import { hecEnvelope, hecEnvelopeText } from '../../../central/sinks/splunk-hec/transport.js';
import { nodewarden } from '../../../gen/nodewarden.js';

const pb = nodewarden.v1;

const stored = (e: nodewarden.v1.IEvent) => pb.Event.decode(pb.Event.encode(e).finish());

t.test('an event\'s JSON text is its mapping stringified, and the same text for every sink', async (t) => {
  const ev = stored({
    id: 'a/1', agentId: 'a', sequence: Long.fromNumber(1, true), node: 'n1', timeUnixNano: Long.fromString('1750000000123456789'), source: pb.Source.SOURCE_PROCESS, severity: pb.Severity.SEVERITY_HIGH,
    ruleId: 'exec-shell', title: 'Shell "quoted" é 🙂', attributes: { 'a.b': 'c' }, process: { pid: 7, argv: ['sh', '-c', 'echo\n'] }, kubernetes: { namespace: 'ns', labels: { app: 'x' } },
  });
  const text = eventJsonText(ev);
  t.equal(text, JSON.stringify(eventToJson(ev)));
  t.equal(eventJsonText(ev), text);
});

t.test('a HEC envelope\'s text is the envelope stringified, with and without an index, for an event with no node', async (t) => {
  const events = [
    stored({ id: 'a/1', node: 'n1', timeUnixNano: Long.fromString('1750000000123456789'), source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.1', kubernetes: { namespace: 'kube-system' } }),
    stored({ id: 'a/2', timeUnixNano: Long.fromString('0') }),
    stored({ id: 'a/3', node: 'n"2', timeUnixNano: Long.fromString('-1500000'), title: '日本' }),
  ];
  for (const [i, event] of events.entries()) {
    const e = { rowid: i + 1, event, bytes: Buffer.alloc(0) };
    for (const opts of [{ source: 'nodewarden', sourcetype: 'nodewarden' }, { source: 's', sourcetype: 'st', index: 'main' }]) {
      t.equal(hecEnvelopeText(e, opts), JSON.stringify(hecEnvelope(e, opts)));
    }
  }
});
