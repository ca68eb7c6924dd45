// Reads of the event log shared by every sink in the thread: each stored event is read and
// decoded once, however many sinks deliver it. Sinks read the same rows (each from its own
// cursor, mostly close together), and decoding was a seventh of what seven sinks cost.
//
//   rowids:  (0, 256] (256, 512] (512, 768] …        a block holds every row of its range that
//   blocks:  [ k=0 ]  [ k=1    ]  [ k=2 (to through)] exists, up to `through`; a reader past
//   LRU, capped in stored bytes                       `through` asks the log for what is newer
//
// A block every sink has passed goes at once: decoded events kept longer than they are needed
// survive the young generation and cost the garbage collector more than decoding them again
// (measured: a single jsonl sink spent a third of its time in GC with a 16 MiB cache kept full).
// The cap bounds what a stuck sink (its receiver down) makes the others keep.
//
// Rowids only grow (one writer, AUTOINCREMENT): once a row is seen, no row below it can appear,
// so the rows of a block up to the last one read are complete; only its tail may still fill.
// Rows retention deleted after they were cached may still be handed out: a sink delivers them
// rather than missing them, which is what it would have done a moment earlier.
//
// The decoded events are shared between sinks: no sink may change one.

import { nodewarden } from '../../../gen/nodewarden.js';
import type { SourceRow } from '../sink.js';

const pb = nodewarden.v1;

/** Rowids per block: one query fills a block. */
export const BLOCK_ROWS = 256;
/** Blocks kept at most, whatever their bytes (blocks that are all gap hold none). */
const MAX_BLOCKS = 4096;

/** What the shared reads read from: the event log. */
export interface RowReader {
  /** Up to `limit` rows after `afterRowid`, oldest first. */
  read(afterRowid: number, limit: number): { rowid: number; body: Buffer }[];
}

interface Block {
  /** Rows of (start, start + BLOCK_ROWS], ascending. */
  rows: SourceRow[];
  start: number;
  /** Every row of (start, through] that exists is in `rows`. */
  through: number;
  bytes: number;
}

export interface SharedReadsStats {
  /** Rows handed to sinks. */
  served: number;
  /** Rows read from the log and decoded (served − decoded were decoded for another sink first). */
  decoded: number;
  /** Bytes of stored events held now. */
  bytes: number;
}

export class SharedReads {
  /** Insertion order is recency: a block used is moved to the end; the first is evicted. */
  private readonly blocks = new Map<number, Block>();
  private bytes = 0;
  private served = 0;
  private decoded = 0;

  /**
   * `maxBytes`: stored bytes of the events kept decoded (their decoded size is a few times that).
   * `passed`: the lowest cursor of the sinks reading here; no sink reads at or below it again.
   */
  constructor(private readonly log: RowReader, private readonly maxBytes: number, private readonly passed: () => number = () => 0) {}

  /** Up to `limit` events after `afterRowid`, oldest first, decoded (SinkSource.read). */
  read(afterRowid: number, limit: number): SourceRow[] {
    const out: SourceRow[] = [];
    let at = afterRowid;
    while (out.length < limit) {
      const k = Math.floor(at / BLOCK_ROWS);
      let block = this.blocks.get(k);
      let next: number | undefined;
      if (!block) {
        ({ block, next } = this.load(k));
      } else {
        this.blocks.delete(k);
        this.blocks.set(k, block);
        // The reader is past what this block knows: rows may have been stored since.
        if (at >= block.through) next = this.extend(block);
      }
      let i = firstAfter(block.rows, at);
      while (i < block.rows.length && out.length < limit) out.push(block.rows[i++]!);
      if (out.length >= limit) break;
      if (next !== undefined) {
        at = next - 1; // the rest of the block is a gap (retention): on to the next row there is
      } else if (block.through === block.start + BLOCK_ROWS) {
        at = block.through; // the whole block is read: on to the next
      } else {
        break; // nothing newer is stored yet
      }
    }
    this.served += out.length;
    this.evict();
    return out;
  }

  stats(): SharedReadsStats {
    return { served: this.served, decoded: this.decoded, bytes: this.bytes };
  }

  /** Read block `k`; `next` is the first rowid after it, when the log holds one already. */
  private load(k: number): { block: Block; next: number | undefined } {
    const block: Block = { rows: [], start: k * BLOCK_ROWS, through: k * BLOCK_ROWS, bytes: 0 };
    const next = this.extend(block);
    this.blocks.set(k, block);
    return { block, next };
  }

  /**
   * Read the rows after `block.through` into the block. One query: as many rows as the block has
   * rowids left, so a row beyond the block comes back only when the block's tail is a gap; its
   * rowid is returned (the reader jumps there).
   */
  private extend(block: Block): number | undefined {
    const end = block.start + BLOCK_ROWS;
    const rows = this.log.read(block.through, end - block.through);
    let next: number | undefined;
    for (const r of rows) {
      if (r.rowid > end) {
        next = r.rowid;
        break;
      }
      block.rows.push({ rowid: r.rowid, body: r.body, event: pb.Event.decode(r.body) });
      block.bytes += r.body.length;
      this.bytes += r.body.length;
      this.decoded++;
      block.through = r.rowid;
    }
    // A row past the block means every rowid of the block that will ever exist has been read.
    if (next !== undefined) block.through = end;
    return next;
  }

  /**
   * Drop the blocks every sink has passed, then the least recently used past the cap (the one in
   * use stays: it was just moved last).
   */
  private evict(): void {
    const passed = this.passed();
    for (const [k, block] of this.blocks) {
      if (block.start + BLOCK_ROWS > passed) continue;
      this.blocks.delete(k);
      this.bytes -= block.bytes;
    }
    for (const [k, block] of this.blocks) {
      if ((this.bytes <= this.maxBytes && this.blocks.size <= MAX_BLOCKS) || this.blocks.size <= 1) return;
      this.blocks.delete(k);
      this.bytes -= block.bytes;
    }
  }
}

/** Index of the first row with rowid > `after` (rows ascending). */
function firstAfter(rows: SourceRow[], after: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.rowid <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
