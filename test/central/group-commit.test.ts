// Group commit: batches of many streams submitted in one turn of the event loop share one
// transaction; each resolves with its own result, in submission order; a failed commit rejects
// them all and stores nothing. The sink thread's bookkeeping rides along in the same commit.
import t from 'tap';
import { GroupCommit } from '../../central/group-commit.js';
import { makeEvent, tempLog } from '../helpers/event-log-fixtures.js';

t.test('batches submitted together are stored in one commit, each answered in order', async (t) => {
  const { log } = tempLog(t, 'group');
  const commits: number[] = [];
  const gc = new GroupCommit(log, { onCommit: (batches) => commits.push(batches) });
  const order: string[] = [];
  const results = await Promise.all(['a', 'b', 'c'].map((agent) => gc.submit({ agentId: agent, node: `node-${agent}`, events: [makeEvent(agent, 1), makeEvent(agent, 2)] })
    .then((r) => {
      order.push(agent);
      return r;
    })));
  t.same(commits, [3], 'one commit for the three batches');
  t.same(order, ['a', 'b', 'c']);
  t.same(results.map((r) => [r.accepted.length, r.storedThrough]), [[2, 2], [2, 2], [2, 2]]);
  t.equal(log.count(), 6);
});

t.test('a stream pipelining its batches gets their results in order, duplicates counted', async (t) => {
  const { log } = tempLog(t, 'group');
  const gc = new GroupCommit(log);
  const first = gc.submit({ agentId: 'a', node: 'n', events: [makeEvent('a', 1)] });
  const again = gc.submit({ agentId: 'a', node: 'n', events: [makeEvent('a', 1), makeEvent('a', 2)] });
  t.same((await first).accepted.length, 1);
  const r = await again;
  t.equal(r.duplicates, 1);
  t.equal(r.storedThrough, 2);
});

t.test('a commit that fails rejects every batch in it and stores nothing', async (t) => {
  const { log } = tempLog(t, 'group');
  const gc = new GroupCommit(log);
  log.close();
  const outcomes = await Promise.allSettled([gc.submit({ agentId: 'a', node: 'n', events: [makeEvent('a', 1)] }), gc.submit({ agentId: 'b', node: 'n', events: [makeEvent('b', 1)] })]);
  t.same(outcomes.map((o) => o.status), ['rejected', 'rejected']);
});

t.test('a large backlog is split so one transaction never holds more than maxEvents', async (t) => {
  const { log } = tempLog(t, 'group');
  const sizes: number[] = [];
  const gc = new GroupCommit(log, { maxEvents: 10, onCommit: (_b, events) => sizes.push(events) });
  await Promise.all(Array.from({ length: 5 }, (_, i) => gc.submit({ agentId: `a${i}`, node: 'n', events: Array.from({ length: 4 }, (_x, k) => makeEvent(`a${i}`, k + 1)) })));
  t.ok(sizes.every((n) => n <= 10), `commits of ${sizes.join(', ')} events`);
  t.equal(log.count(), 20);
});

t.test('a batch whose stream closed before the commit is not stored', async (t) => {
  const { log } = tempLog(t, 'group');
  const gc = new GroupCommit(log);
  let closed = false;
  const p = gc.submit({ agentId: 'a', node: 'n', events: [makeEvent('a', 1)] }, () => closed);
  closed = true;
  await t.rejects(p, /stream closed before its batch was stored/);
  t.equal(log.count(), 0);
});

t.test("after one of an agent's batches fails, its later batches in the same commit fail too", async (t) => {
  const { log } = tempLog(t, 'group');
  log.store('a', 'node-1', [makeEvent('a', 1)]);
  const results = log.storeMany([
    { agentId: 'a', node: 'node-2', events: [makeEvent('a', 2)] }, // another node: refused
    { agentId: 'a', node: 'node-1', events: [makeEvent('a', 3)] },
    { agentId: 'b', node: 'node-3', events: [makeEvent('b', 1)] },
  ]);
  t.match(String(results[0]), /belongs to node node-1, not node-2/);
  t.match(String(results[1]), /an earlier batch of a in the same commit failed/);
  t.notOk(results[2] instanceof Error, "another agent's batch is stored");
  t.equal(log.storedThrough('a'), 1, 'stored_through never passes the failed batch');
});

t.test('sink bookkeeping rides in the batches\' commit; one that fails is undone alone', async (t) => {
  const { log } = tempLog(t, 'group');
  const commits: number[] = [];
  const gc = new GroupCommit(log, { onCommit: (batches) => commits.push(batches) });
  const batch = gc.submit({ agentId: 'a', node: 'n', events: [makeEvent('a', 1), makeEvent('a', 2)] });
  const moved = gc.alongside(() => log.applySinkWrites([
    { kind: 'dead-letters', sink: 'hook', rows: [{ rowid: 1, body: Buffer.from('x'), reason: 'HTTP 400' }] },
    { kind: 'cursor', name: 'hook', rowid: 2, position: 0 },
  ]));
  const broken = gc.alongside(() => log.applySinkWrites([
    { kind: 'cursor', name: 'other', rowid: 2, position: 0 },
    { kind: 'dead-letters', sink: 'other', rows: [{ rowid: 1, body: Buffer.from('x'), reason: null as unknown as string }] },
  ]));
  const [stored, ok, failed] = await Promise.allSettled([batch, moved, broken]);
  t.equal(stored.status, 'fulfilled', 'the batch is stored');
  t.equal(ok.status, 'fulfilled');
  t.equal(failed.status, 'rejected', 'the broken bookkeeping is refused');
  t.same(commits, [1], 'one commit for the batch and the bookkeeping');
  t.same(log.getCursor('hook'), { rowid: 2, position: 0, known: true });
  t.equal(log.deadLetters({ sink: 'hook' }).length, 1);
  t.equal(log.getCursor('other').known, false, 'the cursor move of the failed write was undone with it');
  t.equal(log.count(), 2);
});

t.test('bookkeeping with no batch waiting commits on its own', async (t) => {
  const { log } = tempLog(t, 'group');
  const gc = new GroupCommit(log);
  await gc.alongside(() => log.applySinkWrites([{ kind: 'cursor', name: 'jsonl:/x', rowid: 7, position: 120 }]));
  t.same(log.getCursor('jsonl:/x'), { rowid: 7, position: 120, known: true });
});
