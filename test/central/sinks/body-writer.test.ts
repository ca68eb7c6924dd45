// The writer bodies are built in: the bytes of the texts and buffers written, in order, however
// full its buffer was when a text arrived (a multi-byte character near the end included).
import t from 'tap';
import { BodyWriter } from '../../../central/sinks/joined-bytes.js';

t.test('texts and bytes written are their UTF-8 bytes in order, across every growth of the buffer', async (t) => {
  const pieces = ['a', 'é', '日本', '🙂', '{"k":"v"}', 'x'.repeat(100), 'ü'.repeat(70), '🙂'.repeat(40), ''];
  for (let capacity = 1; capacity < 200; capacity += 7) {
    const w = new BodyWriter(capacity);
    const expected: Buffer[] = [];
    for (let i = 0; i < 60; i++) {
      const p = pieces[(i * 7 + capacity) % pieces.length]!;
      if (i % 5 === 0) {
        w.bytes(Buffer.from(p));
      } else if (i % 11 === 0) {
        w.ascii(String(i * 1234));
        expected.push(Buffer.from(String(i * 1234)));
        continue;
      } else {
        w.text(p);
      }
      expected.push(Buffer.from(p, 'utf8'));
    }
    const want = Buffer.concat(expected);
    t.equal(w.length, want.length);
    t.same(w.finish(), want, `capacity ${capacity}`);
  }
});
