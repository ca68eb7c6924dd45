// The agent's on-disk spool: every event is numbered and written here before it is sent, and
// stays until central acknowledges it as durably stored.
//
//   append(payloads) ──▶ seg-<firstSeq>.log (length + CRC32 + seq + bytes, fdatasync per group)
//                         seg-…  seg-…  (size-capped segment files, oldest first)
//   read(fromSeq) ◀────── shipper reads unacknowledged records in order
//   ack(through)  ──────▶ ledger.json { ackedThrough } (write + rename), whole segments deleted
//
// Record layout: u32 payload length | u32 CRC32 of (seq + payload) | u64 seq | payload.
// Recovery at open: every segment is scanned; a torn or corrupt tail is cut off (and counted),
// sequence numbering continues after the highest record or acknowledgement seen.
// Byte cap policy: when the unacknowledged data exceeds maxBytes, the OLDEST segment is dropped
// (the newest events are the ones an operator needs most); the drop is counted and reported
// through onDrop so the daemon can emit an event saying exactly which sequences were lost.

import { promises as fsp, mkdirSync, readdirSync, readFileSync, openSync, closeSync, fstatSync, readSync, ftruncateSync, rmSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { NwError } from '../core/errors.js';

const HEADER = 16;
const MAX_RECORD = 4 * 1024 * 1024;
const SEGMENT_RE = /^seg-(\d{20})\.log$/;

export interface SpoolOptions {
  dir: string;
  /** A segment is closed for writing past this size. */
  segmentBytes?: number;
  /** Cap on unacknowledged bytes on disk; past it the oldest segment is dropped. */
  maxBytes?: number;
  /** fdatasync after every append group (default true; tests of speed may turn it off). */
  sync?: boolean;
  onDrop?: (drop: SpoolDrop) => void;
  onCorrupt?: (detail: string) => void;
  /** An item that could not be encoded (or is above the record limit): refused alone, counted. */
  onReject?: (err: unknown) => void;
}

export interface SpoolDrop {
  firstSeq: number;
  lastSeq: number;
  count: number;
  reason: 'spool_full';
}

export interface SpoolRecord {
  seq: number;
  payload: Buffer;
}

interface ReadCursor {
  file: string;
  offset: number;
  /** The sequence expected at offset. */
  seq: number;
}

interface Segment {
  file: string;
  firstSeq: number;
  lastSeq: number; // firstSeq - 1 while empty
  bytes: number;
}

export class Spool {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly sync: boolean;
  private readonly segments: Segment[] = [];
  private ackedThrough = 0;
  private nextSeq = 1;
  private writeFd: fsp.FileHandle | null = null;
  private writeQueue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private cursor: ReadCursor | null = null;
  private readonly opts: SpoolOptions;
  /** Counters for metrics: written, acknowledged, dropped and corrupt records. */
  readonly counters = { appended: 0, acked: 0, dropped: 0, corruptTails: 0, rejected: 0 };

  private constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.dir = opts.dir;
    this.segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
    this.maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
    this.sync = opts.sync ?? true;
  }

  /** Open (or create) the spool and recover its state from disk. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const spool = new Spool(opts);
    spool.recover();
    return spool;
  }

  /** Highest sequence central has acknowledged. */
  get acked(): number {
    return this.ackedThrough;
  }

  /** Highest sequence written. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Unacknowledged records on disk. */
  get pending(): number {
    return Math.max(0, this.lastSeq - this.ackedThrough);
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  /**
   * Number and durably write a group of payloads. `build(seq)` makes each payload once its
   * sequence is known (the event carries its own number). Resolves after the data is synced.
   */
  append<T>(items: T[], build: (item: T, seq: number) => Buffer): Promise<number[]> {
    const run = this.writeQueue.then(() => this.appendNow(items, build));
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  private async appendNow<T>(items: T[], build: (item: T, seq: number) => Buffer): Promise<number[]> {
    if (this.closed) throw new NwError('NW_ERR_STOPPED', 'the spool is closed');
    if (items.length === 0) return [];
    const seqs: number[] = [];
    const chunks: Buffer[] = [];
    let size = 0;
    // Numbers are given only to items that encode: one bad item is refused alone and leaves no
    // gap in the sequence; nextSeq moves only once the group is on disk.
    let seq = this.nextSeq;
    for (const item of items) {
      let payload: Buffer;
      try {
        payload = build(item, seq);
        if (payload.length > MAX_RECORD) {
          throw new NwError('NW_ERR_SPOOL_FULL', `an event of ${payload.length} bytes is above the ${MAX_RECORD}-byte record limit`);
        }
      } catch (err) {
        this.counters.rejected++;
        this.opts.onReject?.(err);
        continue;
      }
      const rec = encodeRecord(seq, payload);
      chunks.push(rec);
      size += rec.length;
      seqs.push(seq);
      seq++;
    }
    if (seqs.length === 0) return [];
    let seg = this.segments[this.segments.length - 1];
    if (!seg || !this.writeFd || seg.bytes >= this.segmentBytes) {
      seg = await this.rollSegment(seqs[0]!);
    }
    const buf = Buffer.concat(chunks, size);
    await this.writeFd!.write(buf, 0, buf.length, seg.bytes);
    if (this.sync) await this.writeFd!.datasync();
    seg.bytes += buf.length;
    seg.lastSeq = seqs[seqs.length - 1]!;
    this.nextSeq = seg.lastSeq + 1;
    this.counters.appended += seqs.length;
    await this.enforceCap();
    return seqs;
  }

  /**
   * Read up to `max` records with seq >= fromSeq (and above the acknowledged mark), in order,
   * stopping early past maxBytes of payload. Sequential reads continue from a cursor, so the
   * shipper's steady state reads each byte once; a rewind (reconnect) locates the record anew.
   */
  async read(fromSeq: number, max: number, maxBytes = 4 * 1024 * 1024): Promise<SpoolRecord[]> {
    const from = Math.max(fromSeq, this.ackedThrough + 1);
    const out: SpoolRecord[] = [];
    if (from > this.lastSeq) return out;
    let cur = this.cursor && this.cursor.seq === from && this.segments.some((s) => s.file === this.cursor!.file)
      ? this.cursor
      : await this.locate(from);
    let bytes = 0;
    while (cur && out.length < max && bytes < maxBytes) {
      const seg = this.segments.find((s) => s.file === cur!.file);
      if (!seg) break;
      if (cur.offset >= seg.bytes) {
        const next = this.segments[this.segments.indexOf(seg) + 1];
        if (!next) break;
        cur = { file: next.file, offset: 0, seq: cur.seq };
        continue;
      }
      const want = Math.min(seg.bytes - cur.offset, Math.max(maxBytes - bytes, 0) + HEADER * 64);
      const chunk = Buffer.allocUnsafe(want);
      const fh = await fsp.open(path.join(this.dir, seg.file), 'r');
      let got: number;
      try {
        ({ bytesRead: got } = await fh.read(chunk, 0, want, cur.offset));
      } finally {
        await fh.close();
      }
      let off = 0;
      let progressed = false;
      while (off + HEADER <= got && out.length < max && bytes < maxBytes) {
        const len = chunk.readUInt32LE(off);
        if (off + HEADER + len > got) break;
        const seq = Number(chunk.readBigUInt64LE(off + 8));
        out.push({ seq, payload: Buffer.from(chunk.subarray(off + HEADER, off + HEADER + len)) });
        bytes += len;
        off += HEADER + len;
        progressed = true;
      }
      if (!progressed) {
        if (off + HEADER <= got) {
          // One record larger than the chunk: read exactly it.
          const len = chunk.readUInt32LE(off);
          const rec = Buffer.allocUnsafe(HEADER + len);
          const fh2 = await fsp.open(path.join(this.dir, seg.file), 'r');
          try {
            await fh2.read(rec, 0, rec.length, cur.offset);
          } finally {
            await fh2.close();
          }
          out.push({ seq: Number(rec.readBigUInt64LE(8)), payload: rec.subarray(HEADER) });
          off = rec.length;
        } else break;
      }
      cur = { file: seg.file, offset: cur.offset + off, seq: out[out.length - 1]!.seq + 1 };
    }
    this.cursor = cur;
    return out;
  }

  /** Find the position of record `seq` (rare: after a reconnect or a restart). */
  private async locate(seq: number): Promise<ReadCursor | null> {
    const seg = this.segments.find((s) => s.firstSeq <= seq && seq <= s.lastSeq) ?? this.segments.find((s) => s.firstSeq > seq);
    if (!seg) return null;
    const data = await fsp.readFile(path.join(this.dir, seg.file));
    let off = 0;
    while (off + HEADER <= seg.bytes) {
      const recSeq = Number(data.readBigUInt64LE(off + 8));
      if (recSeq >= seq) return { file: seg.file, offset: off, seq: recSeq };
      off += HEADER + data.readUInt32LE(off);
    }
    return { file: seg.file, offset: seg.bytes, seq };
  }

  /** Central has durably stored every event up to `through`: forget them. */
  async ack(through: number): Promise<void> {
    const run = this.writeQueue.then(() => this.ackNow(through));
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  private async ackNow(through: number): Promise<void> {
    const upTo = Math.min(through, this.lastSeq);
    if (upTo <= this.ackedThrough) return;
    this.counters.acked += upTo - this.ackedThrough;
    this.ackedThrough = upTo;
    const ledger = path.join(this.dir, 'ledger.json');
    const fh = await fsp.open(`${ledger}.tmp`, 'w');
    try {
      await fh.writeFile(JSON.stringify({ ackedThrough: this.ackedThrough }));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await fsp.rename(`${ledger}.tmp`, ledger);
    // Delete whole segments that hold only acknowledged records (never the one being written).
    while (this.segments.length > 1 && this.segments[0]!.lastSeq <= this.ackedThrough) {
      const seg = this.segments.shift()!;
      await fsp.rm(path.join(this.dir, seg.file), { force: true });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeQueue;
    this.closed = true;
    await this.writeFd?.close();
    this.writeFd = null;
  }

  private async rollSegment(firstSeq: number): Promise<Segment> {
    await this.writeFd?.close();
    const seg: Segment = { file: segmentName(firstSeq), firstSeq, lastSeq: firstSeq - 1, bytes: 0 };
    this.writeFd = await fsp.open(path.join(this.dir, seg.file), 'w');
    this.segments.push(seg);
    return seg;
  }

  private async enforceCap(): Promise<void> {
    while (this.segments.length > 1 && this.bytes > this.maxBytes) {
      const seg = this.segments.shift()!;
      await fsp.rm(path.join(this.dir, seg.file), { force: true });
      const firstLost = Math.max(seg.firstSeq, this.ackedThrough + 1);
      if (seg.lastSeq >= firstLost) {
        const count = seg.lastSeq - firstLost + 1;
        this.counters.dropped += count;
        this.opts.onDrop?.({ firstSeq: firstLost, lastSeq: seg.lastSeq, count, reason: 'spool_full' });
      }
      // Acknowledgements below the dropped range no longer matter; the ledger moves past it.
      this.ackedThrough = Math.max(this.ackedThrough, seg.lastSeq);
    }
  }

  /** Scan the folder: ledger, segments, torn tails. Synchronous: runs once at start. */
  private recover(): void {
    mkdirSync(this.dir, { recursive: true });
    try {
      const ledger = JSON.parse(readFileSync(path.join(this.dir, 'ledger.json'), 'utf8')) as { ackedThrough?: unknown };
      if (typeof ledger.ackedThrough === 'number' && Number.isSafeInteger(ledger.ackedThrough) && ledger.ackedThrough >= 0) {
        this.ackedThrough = ledger.ackedThrough;
      }
    } catch {
      // No ledger yet (first start) or a torn one: nothing acknowledged is safer than too much.
    }
    const files = readdirSync(this.dir).filter((f) => SEGMENT_RE.test(f)).sort();
    let highest = this.ackedThrough;
    for (const file of files) {
      const firstSeq = Number(SEGMENT_RE.exec(file)![1]);
      const scanned = this.scanSegment(file, firstSeq);
      if (scanned.lastSeq < firstSeq) {
        // Empty segment (crash right after creation): nothing to keep. Removed before any append
        // can create a segment of the same name.
        rmSync(path.join(this.dir, file), { force: true });
        continue;
      }
      this.segments.push({ file, firstSeq, lastSeq: scanned.lastSeq, bytes: scanned.bytes });
      highest = Math.max(highest, scanned.lastSeq);
    }
    this.nextSeq = highest + 1;
  }

  private scanSegment(file: string, firstSeq: number): { lastSeq: number; bytes: number } {
    const full = path.join(this.dir, file);
    const fd = openSync(full, 'r+');
    try {
      const size = fstatSync(fd).size;
      const data = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const n = readSync(fd, data, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      let off = 0;
      let lastSeq = firstSeq - 1;
      while (off + HEADER <= got) {
        const len = data.readUInt32LE(off);
        if (len > MAX_RECORD || off + HEADER + len > got) break;
        const crc = data.readUInt32LE(off + 4);
        const body = data.subarray(off + 8, off + HEADER + len);
        if (crc32(body) !== crc) break;
        const seq = Number(data.readBigUInt64LE(off + 8));
        if (seq !== lastSeq + 1 && lastSeq >= firstSeq) break;
        lastSeq = seq;
        off += HEADER + len;
      }
      if (off < size) {
        // A torn write (crash mid-append) or a damaged tail: cut it so appends stay aligned.
        ftruncateSync(fd, off);
        this.counters.corruptTails++;
        this.opts.onCorrupt?.(`segment ${file}: ${size - off} bytes after sequence ${lastSeq} were torn or corrupt and were cut`);
      }
      return { lastSeq, bytes: off };
    } finally {
      closeSync(fd);
    }
  }
}

function segmentName(firstSeq: number): string {
  return `seg-${String(firstSeq).padStart(20, '0')}.log`;
}

function encodeRecord(seq: number, payload: Buffer): Buffer {
  const rec = Buffer.allocUnsafe(HEADER + payload.length);
  rec.writeUInt32LE(payload.length, 0);
  rec.writeBigUInt64LE(BigInt(seq), 8);
  payload.copy(rec, HEADER);
  rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
  return rec;
}
