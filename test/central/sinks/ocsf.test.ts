// The `ocsf` file sink writes each stored event it takes as one OCSF 1.8.0 line that the schema
// snapshot accepts, with the node's host facts, once.
import { testSinkContext } from '../../helpers/sink-context.js';
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { nodewarden } from '../../../gen/nodewarden.js';
import { ocsfSinkFactory } from '../../../central/sinks/ocsf/factory.js';
import type { CommonSinkConfig, Sink, SinkContext, SinkFilter } from '../../../central/sinks/sink.js';
import type { EventLog } from '../../../central/event-log.js';
import type { HostFacts } from '../../../core/host-facts.js';
import { storeEvents, tempLog } from '../../helpers/event-log-fixtures.js';
import { waitFor } from '../../helpers/pipeline.js';
import { loadOcsfSchema, validateOcsf } from '../../helpers/ocsf-validate.js';

const pb = nodewarden.v1;
const schema = loadOcsfSchema();

const hostA: HostFacts = {
  hostname: 'node-a.internal',
  os: { name: 'Ubuntu', version: '24.04', family: 'debian', platform: 'linux' },
  kernel: '6.8.0-45-generic',
  architecture: 'aarch64',
  bootTime: 1_700_000_000_000,
  containerRuntime: 'containerd 1.7.24',
};

function context(log: EventLog): SinkContext {
  return testSinkContext({ name: 'ocsf', version: '1.2.3', log, host: (node) => (node === 'node-a' ? hostA : undefined) });
}

function sinkFor(log: EventLog, file: string, filter: SinkFilter = {}): Sink {
  const common = { name: 'ocsf', type: 'ocsf', enabled: true, filter, batch: { maxEvents: 100 }, retry: { initialMs: 100, maxMs: 1000 }, timeoutMs: 5000 } as CommonSinkConfig;
  const sink = ocsfSinkFactory.create({ ...common, path: file }, context(log));
  if (!('start' in sink)) throw new Error('the ocsf factory must build a whole sink');
  return sink;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read deep into documents
const lines = (file: string): Record<string, any>[] => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
};

t.test('every stored event becomes one valid OCSF line, in order, with its node\'s host facts', async (t) => {
  const { log, dir } = tempLog(t, 'ocsf-sink');
  const file = path.join(dir, 'out', 'ocsf.jsonl');
  storeEvents(log, [
    { source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.1', state: pb.FindingState.FINDING_STATE_OPEN, title: 'kubelet file mode' },
    { source: pb.Source.SOURCE_PROCESS, ruleId: 'exec-shell-in-container', severity: pb.Severity.SEVERITY_HIGH, namespace: 'kube-system', title: 'shell' },
    { source: pb.Source.SOURCE_POSTURE, ruleId: 'cis-4.1.1', state: pb.FindingState.FINDING_STATE_RESOLVED, title: 'kubelet file mode' },
    { source: pb.Source.SOURCE_AGENT, ruleId: 'agent-events-dropped', title: 'dropped' },
  ]);
  const sink = sinkFor(log, file);
  t.teardown(() => sink.stop());
  await sink.start();
  const docs = await waitFor('four lines', () => (lines(file).length === 4 ? lines(file) : null));
  for (const [i, d] of docs.entries()) t.same(validateOcsf(d, schema), [], `line ${i + 1} is valid OCSF`);
  t.same(docs.map((d) => [d.class_uid, d.activity_id]), [[2003, 1], [2004, 1], [2003, 3], [2003, 1]]);
  t.same(docs.map((d) => d.metadata.uid), ['agent-a/1', 'agent-a/2', 'agent-a/3', 'agent-a/4']);
  t.match(docs[1]!.resources, [{ type: 'Kubernetes Pod', namespace: 'kube-system', name: 'p' }]);
  t.match(docs[0]!.device, { hostname: 'node-a.internal', name: 'node-a', os: { name: 'Ubuntu', type_id: 200, kernel_release: '6.8.0-45-generic' }, hw_info: { cpu_architecture_id: 2 } });
  t.equal(docs[0]!.metadata.product.version, '1.2.3');
  await sink.stop();
});

t.test('the filter keeps the sink to the events it takes; a restart continues after the last line', async (t) => {
  const { log, dir } = tempLog(t, 'ocsf-filter');
  const file = path.join(dir, 'ocsf.jsonl');
  storeEvents(log, [
    { severity: pb.Severity.SEVERITY_LOW, title: 'low' },
    { severity: pb.Severity.SEVERITY_HIGH, title: 'high 1' },
  ]);
  let sink = sinkFor(log, file, { minSeverity: 'high' });
  await sink.start();
  await waitFor('one line', () => lines(file).length === 1);
  await sink.stop();
  storeEvents(log, [{ severity: pb.Severity.SEVERITY_CRITICAL, title: 'critical' }, { severity: pb.Severity.SEVERITY_INFO, title: 'info' }]);
  sink = sinkFor(log, file, { minSeverity: 'high' });
  t.teardown(() => sink.stop());
  await sink.start();
  await waitFor('two lines', () => lines(file).length === 2);
  // Give a wrongly repeated line the chance to appear.
  await new Promise((r) => setTimeout(r, 100));
  t.same(lines(file).map((d) => d.finding_info.title), ['high 1', 'critical']);
  t.same(lines(file).map((d) => d.severity_id), [4, 5]);
  await sink.stop();
});
