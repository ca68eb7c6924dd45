// docs/observations.md is what the schema says, and the schema is what collectors build: a real
// exec observation has exactly the schema's fields.
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { observationsDoc } from '../../rules/schema-doc.js';
import { EXEC_FIELDS, type Field } from '../../rules/schema.js';
import { completeObservation } from '../../rules/complete.js';
import { repoRoot } from '../helpers/paths.js';

t.test('docs/observations.md is written from the schema', async (t) => {
  const doc = readFileSync(path.join(repoRoot, 'docs', 'observations.md'), 'utf8');
  t.equal(doc, observationsDoc(), 'regenerate with: node dist/rules/schema-doc.js > docs/observations.md');
});

t.test('an empty observation completed from the schema has every field, and nothing else', async (t) => {
  const { value, problems } = completeObservation({}, EXEC_FIELDS);
  t.same(problems, []);
  const keys = (fields: Record<string, Field>): string[] => Object.keys(fields).sort();
  t.same(Object.keys(value).sort(), keys(EXEC_FIELDS));
  t.same(Object.keys(value.process as object).sort(), keys((EXEC_FIELDS.process!.type as { object: Record<string, Field> }).object));
});
