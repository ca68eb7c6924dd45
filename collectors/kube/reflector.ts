// One collection of the API server kept in memory, the way client-go's reflector does it: list
// (paged), then watch from the list's resourceVersion; every event moves the resourceVersion on
// (bookmarks too, which carry nothing else); a watch that ends cleanly is opened again from where
// it stopped; 410 Gone (as an HTTP status or as an ERROR event carrying a Status) means the
// resourceVersion is too old: list again. While the API server is away, retries back off
// exponentially with jitter (honouring Retry-After), and the last known items stay.
//
//   list ─▶ items, rv ─▶ watch(rv) ─▶ ADDED/MODIFIED/DELETED ─▶ items, rv ─▶ onChange
//              ▲            │ BOOKMARK ─▶ rv      clean end ─▶ watch(rv) again
//              └── 410 ◀────┘ error ─▶ backoff ─▶ watch(rv) (or list when never synced)

import { type KubeApiClient, KubeApiError, isApiError, statusObjectError, type WatchEvent } from './api-client.js';
import { describeError } from '../../core/errors.js';

export interface ReflectorOptions<T> {
  client: KubeApiClient;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  fieldSelector?: string;
  /** Turns an object of the API into what is kept; null when it is not one (a bad answer). */
  decode: (o: Record<string, unknown>) => T | null;
  /** The key of a decoded item (its uid). */
  key: (item: T) => string;
  /** Called after each change of the items (a list, an event), and when reachability changes. */
  onChange: () => void;
  /** Page size of a list (default 500). */
  pageSize?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Server-side watch timeout, randomised between it and twice it (default 5 to 10 min, as client-go). */
  watchTimeoutSeconds?: number;
}

export interface ReflectorStats {
  lists: number;
  watches: number;
  events: number;
  bookmarks: number;
  gone: number;
  errors: number;
}

/** At most this many pages in one list: a server that never stops paging is a bad answer. */
const MAX_PAGES = 10_000;

export class Reflector<T> {
  readonly items = new Map<string, T>();
  resourceVersion = '';
  /** A list has completed: items are the API's, not merely empty. */
  synced = false;
  reachable = false;
  /** What is wrong now ('' while lists and watches work). */
  lastError = '';
  /** The last failure seen, even once over (for status and tests). */
  lastFailure = '';
  readonly stats: ReflectorStats = { lists: 0, watches: 0, events: 0, bookmarks: 0, gone: 0, errors: 0 };
  private stopped = false;
  private started = false;
  private failures = 0;
  private watchHandle: { cancel(): void } | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;

  constructor(private readonly o: ReflectorOptions<T>) {}

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.watchHandle?.cancel();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.list();
        if (this.stopped) break;
        const began = Date.now();
        await this.watch();
        // A clean end (the server's timeout): watch again from the last resourceVersion, at
        // once unless the server keeps ending watches as soon as they open.
        if (Date.now() - began < 1000) {
          this.failures++;
          await this.sleep(this.backoff());
        } else {
          this.failures = 0;
        }
      } catch (err) {
        if (this.stopped) break;
        if (isApiError(err, 'gone')) {
          // Too old: what we hold may have missed deletions. List again (after a short pause if
          // it keeps happening, so a server answering 410 to everything is not hammered).
          this.stats.gone++;
          this.resourceVersion = '';
          if (this.stats.gone > 1 && this.failures > 0) await this.sleep(this.backoff());
          this.failures++;
          continue;
        }
        this.stats.errors++;
        this.failures++;
        const wasReachable = this.reachable;
        this.reachable = false;
        this.lastError = this.lastFailure = describeError(err);
        if (isApiError(err, 'bad-answer')) this.resourceVersion = ''; // what we hold may be wrong
        if (wasReachable || this.failures === 1) this.o.onChange();
        await this.sleep(this.backoff(isApiError(err) ? err.retryAfterMs : undefined));
      }
    }
  }

  private backoff(retryAfterMs?: number): number {
    const min = this.o.minBackoffMs ?? 500;
    const max = this.o.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(this.failures - 1, 16));
    const jittered = Math.round(base * (0.8 + Math.random() * 0.4));
    return Math.max(jittered, retryAfterMs ?? 0);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = () => resolve();
      this.sleepTimer = setTimeout(resolve, ms);
      this.sleepTimer.unref?.();
    }).then(() => {
      this.sleepTimer = null;
      this.wake = null;
    });
  }

  private async list(): Promise<void> {
    const next = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    let pages = 0;
    do {
      const doc = await this.o.client.get(this.o.path, {
        fieldSelector: this.o.fieldSelector, limit: String(this.o.pageSize ?? 500), continue: cont,
      });
      if (this.stopped) return;
      const meta = asRecord(doc['metadata']);
      const items = doc['items'];
      if (!meta || !Array.isArray(items)) throw new KubeApiError('bad-answer', `LIST ${this.o.path}: not a list (no metadata or items)`);
      for (const raw of items) {
        const item = asRecord(raw) ? this.o.decode(raw as Record<string, unknown>) : null;
        if (!item) throw new KubeApiError('bad-answer', `LIST ${this.o.path}: an item is not a valid object`);
        next.set(this.o.key(item), item);
      }
      rv = typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
      cont = typeof meta['continue'] === 'string' && meta['continue'] !== '' ? meta['continue'] : undefined;
      if (++pages > MAX_PAGES) throw new KubeApiError('bad-answer', `LIST ${this.o.path}: more than ${MAX_PAGES} pages`);
    } while (cont);
    if (!rv) throw new KubeApiError('bad-answer', `LIST ${this.o.path}: the list has no resourceVersion`);
    this.stats.lists++;
    this.items.clear();
    for (const [k, v] of next) this.items.set(k, v);
    this.resourceVersion = rv;
    this.synced = true;
    this.reachable = true;
    this.lastError = '';
    this.failures = 0;
    this.o.onChange();
  }

  private async watch(): Promise<void> {
    const base = this.o.watchTimeoutSeconds ?? 300;
    const handle = this.o.client.watch(this.o.path, {
      fieldSelector: this.o.fieldSelector,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(Math.round(base * (1 + Math.random()))),
    }, (ev) => this.onEvent(ev), () => this.onOpen());
    this.watchHandle = handle;
    this.stats.watches++;
    try {
      await handle.done;
    } finally {
      this.watchHandle = null;
    }
  }

  /** The watch was answered (200): the API server is there, even before any event. */
  private onOpen(): void {
    if (this.stopped) return;
    const wasReachable = this.reachable;
    this.reachable = true;
    this.lastError = '';
    if (!wasReachable) this.o.onChange();
  }

  private onEvent(ev: WatchEvent): void {
    if (this.stopped) return;
    if (ev.type === 'ERROR') throw statusObjectError(ev.object, this.o.path);
    const meta = asRecord(ev.object['metadata']);
    const rv = meta && typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
    if (!rv) throw new KubeApiError('bad-answer', `WATCH ${this.o.path}: a ${ev.type} event without a resourceVersion`);
    const wasReachable = this.reachable;
    this.reachable = true;
    this.lastError = '';
    this.failures = 0;
    this.resourceVersion = rv;
    if (ev.type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (!wasReachable) this.o.onChange();
      return;
    }
    const item = this.o.decode(ev.object);
    if (!item) throw new KubeApiError('bad-answer', `WATCH ${this.o.path}: a ${ev.type} event carries no valid object`);
    this.stats.events++;
    if (ev.type === 'DELETED') this.items.delete(this.o.key(item));
    else this.items.set(this.o.key(item), item);
    this.o.onChange();
  }
}

function asRecord(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
