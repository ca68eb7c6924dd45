// Watches a set of directories with inotify (fs.watch) and reports any change inside them:
// content, creation, deletion, rename, and attribute changes (chmod, chown), which inotify
// reports on a watched directory for its children too. Watching directories rather than files
// survives editors and config managers that replace a file by renaming a new one over it.
//
// Not chokidar: chokidar drops a 'change' whose mtime did not move unless the file's atime is not
// newer than its mtime, so a chmod or chown of a file read since its last write (every config
// file the agent has checked) is never reported. Attribute changes are the point here.

import { watch, type FSWatcher } from 'node:fs';

export class DirWatcher {
  private readonly watchers = new Map<string, FSWatcher>();

  constructor(
    private readonly onChange: (dir: string, name: string | null) => void,
    private readonly onError: (dir: string, err: Error) => void,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  /** Watch exactly these directories (existing ones; others are skipped and reported). */
  set(dirs: Iterable<string>): void {
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => this.onChange(dir, name ? String(name) : null));
        w.on('error', (err) => {
          // The directory itself went away: drop the watch; the owner re-sets on its next scan.
          w.close();
          this.watchers.delete(dir);
          this.onError(dir, err);
          this.onChange(dir, null);
        });
        this.watchers.set(dir, w);
      } catch (err) {
        this.onError(dir, err as Error);
      }
    }
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}
