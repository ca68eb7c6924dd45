// Findings open once, resolve once, survive restarts, and are never lost when they cannot be emitted.
import t from 'tap';
import path from 'node:path';
import { FindingLifecycle } from '../../rules/lifecycle.js';
import type { Finding } from '../../core/finding.js';
import { tempDir } from '../helpers/pipeline.js';

const f = (fp: string): Finding => ({ source: 'posture', ruleId: 'r', severity: 'high', title: `t ${fp}`, message: 'm', fingerprint: fp });
const collect = () => {
  const got: Finding[] = [];
  return { got, emit: async (fs: Finding[]) => void got.push(...fs) };
};

t.test('open once, nothing while unchanged, resolved once', async (t) => {
  const lc = new FindingLifecycle(null);
  const s = collect();
  await lc.apply(s.emit, [{ scope: 'p', current: [f('a'), f('b')] }]);
  await lc.apply(s.emit, [{ scope: 'p', current: [f('a'), f('b')] }]);
  await lc.apply(s.emit, [{ scope: 'p', current: [f('a')], resolvedAs: () => ({ evidence: 'fixed' }) }]);
  t.same(s.got.map((x) => [x.fingerprint, x.state]), [['a', 'open'], ['b', 'open'], ['b', 'resolved']]);
  t.equal(s.got[2]!.evidence, 'fixed', 'the resolution carries what is true now');
});

t.test('transitions that could not be emitted are not recorded, and come again', async (t) => {
  const lc = new FindingLifecycle(null);
  await t.rejects(lc.apply(async () => { throw new Error('disk full'); }, [{ scope: 'p', current: [f('a')] }]), /disk full/);
  t.notOk(lc.isOpen('p', 'a'), 'not recorded as open');
  const s = collect();
  await lc.apply(s.emit, [{ scope: 'p', current: [f('a')] }]);
  t.same(s.got.map((x) => x.state), ['open'], 'the open is sent once the sink takes it');
});

t.test('the open set survives a restart; a damaged state file starts afresh', async (t) => {
  const file = path.join(tempDir('lifecycle'), 'findings.json');
  const first = new FindingLifecycle(file);
  await first.apply(collect().emit, [{ scope: 'p', current: [f('a')] }]);
  const second = new FindingLifecycle(file);
  const s = collect();
  await second.apply(s.emit, [{ scope: 'p', current: [] }]);
  t.same(s.got.map((x) => [x.fingerprint, x.state]), [['a', 'resolved']], 'resolved after restart, not re-opened');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, '{"p": {"a": ');
  const third = new FindingLifecycle(file);
  t.equal(third.openCount(), 0);
});
