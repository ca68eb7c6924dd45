import t from 'tap';
import { type ContainerRecord, type InventoryChange, Inventory } from '../../../collectors/runtime/inventory.js';

function rec(id: string, over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    sandboxId: 's1',
    name: 'c',
    namespace: 'kube-system',
    pod: 'p',
    podUid: 'u',
    image: 'i',
    imageDigest: 'd',
    state: 'running',
    createdAtNs: 0n,
    startedAtNs: 0n,
    pid: 10,
    cgroupPath: '',
    labels: {},
    origin: 'cri',
    kubeLabelled: true,
    ...over,
  };
}

const A = '0123456789ab' + 'a'.repeat(52);
const B = '0123456789ab' + 'b'.repeat(52);
const C = 'fedcba987654' + 'c'.repeat(52);

t.test('lookup by full id and by a unique prefix of 12 or more', async (t) => {
  const inv = new Inventory();
  inv.replace([rec(A), rec(B), rec(C)], []);
  t.equal(inv.lookup(A)?.id, A);
  t.equal(inv.lookup(C.slice(0, 12))?.id, C);
  t.equal(inv.lookup(A.slice(0, 13))?.id, A, 'longer prefixes disambiguate');
  t.equal(inv.lookup(A.slice(0, 12)), undefined, 'an ambiguous prefix gives nothing');
  t.equal(inv.lookup(C.slice(0, 11)), undefined, 'shorter than 12: no guess');
  t.equal(inv.lookup('nope'.repeat(4)), undefined);
});

t.test('changes are emitted for additions, state or pid changes, and removals', async (t) => {
  const inv = new Inventory();
  const seen: InventoryChange[] = [];
  inv.on('change', (c) => seen.push(c));
  inv.replace([rec(A), rec(B)], []);
  t.same(seen.map((c) => [c.type, c.container.id]), [['added', A], ['added', B]]);
  seen.length = 0;
  inv.replace([rec(A), rec(B)], []);
  t.same(seen, [], 'no change, no event');
  inv.replace([rec(A, { state: 'exited', pid: 0 }), rec(C)], []);
  t.same(seen.map((c) => [c.type, c.container.id]), [['updated', A], ['added', C], ['removed', B]]);
  t.equal(seen[0]!.previous?.state, 'running');
  t.equal(inv.size, 2);
});

t.test('lookup by pid and sandbox', async (t) => {
  const inv = new Inventory();
  inv.replace([rec(A, { pid: 42 }), rec(B, { pid: 43, state: 'exited' })], [{ id: 's1', namespace: 'kube-system', name: 'p', uid: 'u', state: 'ready', createdAtNs: 0n, labels: {} }]);
  t.equal(inv.lookupByPid(42)?.id, A);
  t.equal(inv.lookupByPid(43), undefined, 'an exited container owns no pid');
  t.equal(inv.sandbox('s1')?.name, 'p');
  t.ok(inv.listedAt > 0);
});
