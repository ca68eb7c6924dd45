// A projected service account token read from its file and re-read when the kubelet rotates it
// (it swaps a symlink in the mounted folder at about 80% of the token's life, so the folder is
// watched, with a slow poll behind). The token is a secret: it is never logged.

import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.js';
import { readFileHead } from '../file-head.js';

/** Kubernetes tokens are a few KiB; a bigger "token" is a wrong file. */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** The token in a token file's bytes (read up to MAX_TOKEN_BYTES + 1); throws saying what is wrong. */
export function tokenOf(bytes: Buffer): string {
  if (bytes.length > MAX_TOKEN_BYTES) throw new Error(`it is larger than ${MAX_TOKEN_BYTES} bytes, not a service account token`);
  const text = bytes.toString('utf8').trim();
  if (!text) throw new Error('it is empty');
  if (/\s/.test(text)) throw new Error('it holds whitespace inside, not a token');
  return text;
}

/** The token in a token file, read bounded; throws saying what is wrong. */
export async function readTokenFile(file: string): Promise<string> {
  return tokenOf(await readFileHead(file, MAX_TOKEN_BYTES + 1));
}

export interface TokenFileOptions {
  file: string;
  pollMs?: number;
  /** A new token was read (not called for the first read). */
  onRotate?: (token: string) => void;
  onProblem?: (message: string) => void;
}

export class TokenFile {
  private token = '';
  private problemText: string | null = null;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly opts: TokenFileOptions) {}

  async start(): Promise<void> {
    await this.read(true);
    try {
      this.watcher = watch(path.dirname(path.resolve(this.opts.file)), () => {
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.read(false), 50);
        this.debounce.unref();
      });
      this.watcher.on('error', () => undefined);
    } catch {
      // No folder yet: the poll reads the token once it appears.
    }
    this.timer = setInterval(() => void this.read(false), this.opts.pollMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** The latest token read ('' when none could be read yet). */
  get current(): string {
    return this.token;
  }

  problem(): string | null {
    return this.problemText;
  }

  /** Read the file now; the shipper does this before every connection. */
  async refresh(): Promise<string> {
    await this.read(false);
    return this.token;
  }

  private async read(first: boolean): Promise<void> {
    if (this.stopped && !first) return;
    let text: string;
    try {
      text = await readTokenFile(this.opts.file);
    } catch (err) {
      const message = `the token file ${this.opts.file} cannot be used: ${describeError(err)}`;
      if (message !== this.problemText) this.opts.onProblem?.(message);
      this.problemText = message;
      return;
    }
    this.problemText = null;
    if (text === this.token) return;
    this.token = text;
    if (!first) this.opts.onRotate?.(text);
  }
}
