// The kube observation the collector builds has exactly the fields the schema documents (and the
// rules are type-checked against), no more, no fewer.
import t from 'tap';
import { EMPTY } from '../../../collectors/kube/collector.js';
import { KUBE_FIELDS, type Field } from '../../../rules/schema.js';

function shape(fields: Record<string, Field>): unknown {
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, typeof f.type === 'object' && 'object' in f.type ? shape(f.type.object) : typeof f.type === 'string' ? f.type : 'list']));
}

function shapeOf(v: unknown): unknown {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'int';
  if (Array.isArray(v)) return 'list';
  return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shapeOf(x)]));
}

t.test('a kube observation has exactly the schema\'s fields, with their types', async (t) => {
  const { kind: _kind, ...fields } = { ...EMPTY, subject: '', node: '' };
  t.same(shapeOf(fields), shape(KUBE_FIELDS));
});
