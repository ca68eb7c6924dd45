// The Feed's filter (what `nodewarden tail` asks for): each field narrows, empty fields match all.
import t from 'tap';
import { matches, toFilter } from '../../central/feed.js';
import type { EventHeader } from '../../central/received-event.js';
import { nodewarden } from '../../gen/nodewarden.js';

const pb = nodewarden.v1;
const header = (over: Partial<EventHeader> = {}): EventHeader => ({
  agentId: 'a', sequence: 1, node: 'worker-1', timeUnixNano: 1n, source: pb.Source.SOURCE_POSTURE, ruleId: 'posture.kubelet-anonymous-auth',
  severity: pb.Severity.SEVERITY_HIGH, fingerprint: 'f', state: pb.FindingState.FINDING_STATE_OPEN, namespace: '', ...over,
});

t.test('an empty request matches everything', async (t) => {
  t.ok(matches(toFilter({}), header()));
  t.ok(matches(toFilter({}), header({ state: 0 })));
});

t.test('state: only findings in that state', async (t) => {
  const open = toFilter({ state: pb.FindingState.FINDING_STATE_OPEN });
  t.ok(matches(open, header()));
  t.notOk(matches(open, header({ state: pb.FindingState.FINDING_STATE_RESOLVED })));
  t.notOk(matches(open, header({ state: 0 })), 'an event that is not a finding has no state');
  t.ok(matches(toFilter({ state: pb.FindingState.FINDING_STATE_RESOLVED }), header({ state: pb.FindingState.FINDING_STATE_RESOLVED })));
});

t.test('the other fields narrow as before', async (t) => {
  t.notOk(matches(toFilter({ minSeverity: pb.Severity.SEVERITY_CRITICAL }), header()));
  t.notOk(matches(toFilter({ sources: [pb.Source.SOURCE_PROCESS] }), header()));
  t.ok(matches(toFilter({ ruleIds: ['posture.*'] }), header()));
  t.notOk(matches(toFilter({ ruleIds: ['process.*'] }), header()));
  t.notOk(matches(toFilter({ namespaces: ['kube-system'] }), header()));
  t.ok(matches(toFilter({ nodes: ['worker-1', 'worker-2'] }), header()));
  t.notOk(matches(toFilter({ nodes: ['worker-2'] }), header()));
});
