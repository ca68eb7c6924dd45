import t from 'tap';
import { RepeatFolder } from '../../rules/repeat-folder.js';
import type { Finding } from '../../core/finding.js';

const f = (fp: string): Finding => ({ source: 'process', ruleId: 'r', severity: 'high', title: 't', message: 'm.', fingerprint: fp });

t.test('the first detection goes out at once, repeats are counted into one summary', async (t) => {
  let now = 0;
  const summaries: Finding[] = [];
  const folder = new RepeatFolder(1000, (fs) => summaries.push(...fs), 100, () => now);
  t.equal(folder.offer('k', f('a')).length, 1, 'first sent');
  for (let i = 0; i < 9; i++) t.equal(folder.offer('k', f('a')).length, 0, 'repeat held');
  now = 500;
  folder.closeDue();
  t.equal(summaries.length, 0, 'window still open');
  now = 1001;
  folder.closeDue();
  t.equal(summaries.length, 1);
  t.equal(summaries[0]!.count, 9);
  t.match(summaries[0]!.message, /9 more times/);
  t.equal(folder.offer('k', f('a')).length, 1, 'after the window, the next one is sent again');
});

t.test('a key seen once yields no summary; different keys are independent', async (t) => {
  let now = 0;
  const summaries: Finding[] = [];
  const folder = new RepeatFolder(1000, (fs) => summaries.push(...fs), 100, () => now);
  folder.offer('a', f('a'));
  t.equal(folder.offer('b', f('b')).length, 1);
  now = 2000;
  folder.closeDue();
  t.equal(summaries.length, 0);
});

t.test('past maxKeys the oldest window closes early and its repeats are not lost', async (t) => {
  const folder = new RepeatFolder(60_000, () => undefined, 2, () => 0);
  folder.offer('a', f('a'));
  folder.offer('a', f('a'));
  folder.offer('b', f('b'));
  const out = folder.offer('c', f('c'));
  t.equal(out.length, 2, 'the new one and the summary of the evicted window');
  t.equal(out[1]!.count, 1);
});
