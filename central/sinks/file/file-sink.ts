// A file sink: every stored event that passes the filter appended to a file (or stdout) as one
// line, in the encoding its type gives (JSON lines, OCSF). The cursor (last rowid written, file
// size after it) is kept in the event log; at start a file longer than the cursor says is cut
// back to it, so a crash between writing and recording never duplicates a line: exactly once
// into the file.

import { promises as fsp, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { nodewarden } from '../../../gen/nodewarden.js';
import type { Sink, SinkEvent, SinkSource } from '../sink.js';
import type { HostFacts } from '../../../core/host-facts.js';
import { describeError } from '../../../core/errors.js';
import { joinedBytes } from '../joined-bytes.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

const pb = nodewarden.v1;
/** Events per write (and per fdatasync and cursor move): the file's own batch. */
const BATCH = 1000;

export interface FileSinkOptions {
  /** The configured sink name (metrics). */
  name: string;
  /**
   * The cursor's name: the type and the file (`jsonl:/var/log/x.jsonl`), not the sink's name, so
   * renaming a sink keeps its place and pointing it at another file starts that file afresh
   * instead of cutting it to the old file's offset.
   */
  cursor: string;
  /** A file path, or '-' for stdout. */
  target: string;
  log: SinkSource;
  logger: Logger;
  delivered: Counter<'sink'>;
  /** One line (without its newline) per event. */
  encode: (e: SinkEvent) => string;
  /** Events that do not pass are skipped (the cursor still moves past them). */
  accept?: (e: nodewarden.v1.Event) => boolean;
  /** The host facts of a node, for encodings that carry them. */
  host?: (node: string) => HostFacts | undefined;
}

/** A file sink's cursor name: its type and its file, resolved (`-` is stdout). */
export function fileCursor(type: string, target: string): string {
  return `${type}:${target === '-' ? 'stdout' : path.resolve(target)}`;
}

export class FileSink implements Sink {
  readonly name: string;
  readonly cursorName: string;
  private fh: fsp.FileHandle | null = null;
  private position = 0;
  private rowid = 0;

  get cursor(): number {
    return this.rowid;
  }
  private running = false;
  private again = false;
  private started = false;
  private stopped = false;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly opts: FileSinkOptions) {
    this.name = opts.name;
    this.cursorName = opts.cursor;
  }

  async start(): Promise<void> {
    const cur = this.opts.log.getCursor(this.cursorName);
    this.rowid = cur.rowid;
    if (this.opts.target !== '-') {
      mkdirSync(path.dirname(path.resolve(this.opts.target)), { recursive: true });
      // Not append mode: writes must land at the recorded position, so a retried batch
      // overwrites its own partial write instead of being appended twice.
      this.fh = await fsp.open(this.opts.target, 'r+').catch(() => fsp.open(this.opts.target, 'w+'));
      const size = (await this.fh.stat()).size;
      if (cur.known && size >= cur.position) {
        // Anything past the cursor was written but never recorded: cut it, it comes again.
        await this.fh.truncate(cur.position);
        this.position = cur.position;
      } else {
        // A file this sink never wrote to (or one an operator rotated away): continue at its end,
        // and record that before writing anything.
        this.position = size;
        await this.opts.log.setCursor(this.cursorName, this.rowid, this.position);
      }
    }
    this.started = true;
    this.notify();
  }

  notify(): void {
    // Before start has opened the file and cut it back there is nowhere to write; start reads
    // everything stored by then when it is done.
    if (this.stopped || !this.started) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.drain().finally(() => {
      this.running = false;
    });
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      try {
        for (;;) {
          // The other sinks and the thread's messages get a turn between batches.
          await yieldToLoop();
          if (this.stopped) return;
          const rows = this.opts.log.read(this.rowid, BATCH);
          if (rows.length === 0) break;
          const lines: string[] = [];
          for (const row of rows) {
            const event = row.event ?? pb.Event.decode(row.body);
            if (this.opts.accept && !this.opts.accept(event)) continue;
            lines.push(this.opts.encode({ rowid: row.rowid, event, bytes: row.body, host: this.opts.host?.(event.node) }));
          }
          const written = lines.length;
          const buf = joinedBytes(lines, '\n', '', written > 0 ? '\n' : '');
          if (this.fh) {
            await this.fh.write(buf, 0, buf.length, this.position);
            await this.fh.datasync();
          } else {
            await new Promise<void>((resolve, reject) => process.stdout.write(buf, (err) => (err ? reject(err) : resolve())));
          }
          this.position += buf.length;
          this.rowid = rows[rows.length - 1]!.rowid;
          await this.opts.log.setCursor(this.cursorName, this.rowid, this.position);
          this.opts.delivered.inc({ sink: this.name }, written);
          if (this.stopped) return;
        }
      } catch (err) {
        // Nothing is lost: the cursor did not move; the next notification retries.
        this.opts.logger.error({ err: describeError(err), sink: this.name }, 'Writing events to the file failed; will retry.');
        await new Promise((r) => setTimeout(r, 1000));
        this.again = !this.stopped;
      }
    } while (this.again && !this.stopped);
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The batch being written finishes (or the deadline passes); the cursor says where to resume.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle, new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
    await this.fh?.close();
    this.fh = null;
  }
}
