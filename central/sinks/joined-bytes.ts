// The bytes of a request or file body made of many texts (one JSON document per event). Each
// text is encoded on its own, straight into one buffer: concatenating the texts first builds a
// string V8 must flatten before encoding it, which measured 5× slower (7.3 against 1.3 ns per
// byte); encoding each into a buffer of its own and joining those copies every byte twice and
// leaves a buffer per event for the garbage collector (a third of the file sinks' CPU went to
// allocation and collection).

/** Appends UTF-8 text and bytes into one buffer, growing it when needed. */
export class BodyWriter {
  private buf: Buffer;
  private pos = 0;

  /** `capacity`: a guess of the body's size (too small only costs a copy when it grows). */
  constructor(capacity = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, capacity));
  }

  get length(): number {
    return this.pos;
  }

  text(s: string): this {
    const room = this.buf.length - this.pos;
    // Written optimistically: a write that stops short of the room's last 3 bytes took all of
    // the text (a cut leaves less room than the next character's bytes, at most 4); only near
    // the end is the exact size asked (a scan of the text), and the text written again.
    const n = room >= s.length ? this.buf.write(s, this.pos, 'utf8') : -1;
    if (n >= 0 && (n < room - 3 || Buffer.byteLength(s, 'utf8') === n)) {
      this.pos += n;
      return this;
    }
    this.reserve(Buffer.byteLength(s, 'utf8'));
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }

  /** ASCII only (numbers, keys, separators): one byte a character. */
  ascii(s: string): this {
    if (this.buf.length - this.pos < s.length) this.reserve(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
    return this;
  }

  bytes(b: Uint8Array): this {
    if (this.buf.length - this.pos < b.length) this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** The bytes written (a view of the writer's buffer: write nothing more after taking it). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private reserve(n: number): void {
    if (this.buf.length - this.pos >= n) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** `open` + texts separated by `separator` + `close`, as UTF-8. */
export function joinedBytes(texts: readonly string[], separator = '', open = '', close = ''): Buffer {
  // Most texts are ASCII JSON: their length is a close guess of their bytes.
  let size = open.length + close.length + separator.length * texts.length;
  for (const t of texts) size += t.length;
  const w = new BodyWriter(size + (size >> 4) + 64);
  if (open) w.text(open);
  for (let i = 0; i < texts.length; i++) {
    if (i > 0 && separator) w.text(separator);
    w.text(texts[i]!);
  }
  if (close) w.text(close);
  return w.finish();
}
