// Bodies built from many texts: the same bytes as encoding the joined text, UTF-8 included.
import t from 'tap';
import { joinedBytes } from '../../../central/sinks/joined-bytes.js';

t.test('texts joined with a separator between brackets, as UTF-8, are the joined text\'s bytes', async (t) => {
  const texts = ['{"a":"x"}', '{"b":"é — 日本 🙂"}', '{"c":""}'];
  t.same(joinedBytes(texts, ',', '[', ']'), Buffer.from(`[${texts.join(',')}]`, 'utf8'));
  t.same(joinedBytes(texts, '\n'), Buffer.from(texts.join('\n'), 'utf8'));
  t.same(joinedBytes(texts), Buffer.from(texts.join(''), 'utf8'));
  t.same(joinedBytes([], ',', '[', ']'), Buffer.from('[]'));
  t.same(joinedBytes([]), Buffer.alloc(0));
});
