// Shared pieces for the exec-source tests and the exec-capture benchmark: a collector for
// events and notices, real exec loops run by /bin/sh (so Node is not the bottleneck), and
// audit rule housekeeping (rules are machine-wide: whatever a test adds, it removes).
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ExecEvent, SourceNotice } from '../../../../collectors/process/sources/exec-source.js';
import type { NativeAddon } from '../../../../collectors/process/sources/native.js';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let keyCounter = 0;
/** A rule key no other test (or concurrent run) uses. */
export function uniqueKey(prefix = 'nwt'): string {
  keyCounter++;
  return `${prefix}-${process.pid}-${keyCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder, removed when the process exits. */
export function tempDir(prefix = 'nw-exec-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** A private copy of /bin/true, so its execs are recognisable by exe. */
export function copyTrue(dir: string, name = 'nw-true'): string {
  const to = path.join(dir, name);
  copyFileSync('/bin/true', to);
  chmodSync(to, 0o755);
  return to;
}

export interface Collector {
  events: ExecEvent[];
  notices: SourceNotice[];
  batches: number;
  onBatch: (batch: ExecEvent[]) => void;
  onNotice: (n: SourceNotice) => void;
  /** Resolves with the first event matching, or rejects after timeoutMs. */
  waitForEvent(pred: (e: ExecEvent) => boolean, timeoutMs?: number): Promise<ExecEvent>;
  waitForNotice(pred: (n: SourceNotice) => boolean, timeoutMs?: number): Promise<SourceNotice>;
  /** Resolves once pred holds over all events, checked as batches arrive. */
  waitUntil(pred: () => boolean, timeoutMs?: number): Promise<boolean>;
}

export function collector(): Collector {
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const c: Collector = {
    events: [],
    notices: [],
    batches: 0,
    onBatch(batch) {
      c.batches++;
      for (const e of batch) c.events.push(e);
      wake();
    },
    onNotice(n) {
      c.notices.push(n);
      wake();
    },
    waitForEvent(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = c.events.find(pred);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching exec event within ${timeoutMs} ms (${c.events.length} seen)`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    waitForNotice(pred, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = c.notices.find(pred);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching notice within ${timeoutMs} ms: ${JSON.stringify(c.notices)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    waitUntil(pred, timeoutMs = 10_000) {
      return new Promise((resolve) => {
        const check = () => {
          if (!pred()) return;
          done();
          resolve(true);
        };
        const timer = setTimeout(() => {
          done();
          resolve(false);
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
  return c;
}

export interface ShellRun {
  pid: number;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Runs a script under /bin/sh; `pid` is the shell's, parent of the commands it execs. */
export function runShell(script: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ShellRun {
  const child = spawn('/bin/sh', ['-c', script], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { pid: child.pid!, done };
}

/** Rules carrying key (as the kernel lists them). */
export function rulesWithKey(addon: NativeAddon, key: string) {
  return addon.auditListRules().filter((r) => r.key === key);
}

/** Deletes every rule carrying key; never touches other keys. */
export function removeRulesWithKey(addon: NativeAddon, key: string): void {
  for (const r of rulesWithKey(addon, key)) {
    try {
      addon.auditDelRule(r.raw);
    } catch {
      // Already gone.
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs an ES module's text in a node of its own (with `nodeArgs` before it); resolves with its
 * exit code, stdout and stderr.
 */
export async function runModule(script: string, nodeArgs: string[] = [], opts: { uid?: number; gid?: number; cwd?: string } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, out, err };
}

/**
 * Runs an ES module's text as the user nobody (65534), in /, for what unprivileged code is
 * refused. Needs root to switch users.
 */
export function runAsNobody(script: string): Promise<{ code: number | null; out: string; err: string }> {
  return runModule(script, [], { uid: 65534, gid: 65534, cwd: '/' });
}

/** A small C spawner (fork, exec, wait) for benchmarks: `spawner N RATE BIN PREFIX` runs N execs
 * of BIN PREFIX-i, paced at RATE per second (0: flat out), and prints the seconds it took. */
export const SPAWNER_C = `
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
/* spawner N RATE BIN PREFIX: N execs of BIN PREFIX-i, paced at RATE/s (0: flat out). */
int main(int argc, char **argv) {
  if (argc < 5) return 2;
  long n = atol(argv[1]);
  double rate = atof(argv[2]);
  struct timespec t0, t1;
  char arg[256];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 1; i <= n; i++) {
    if (rate > 0) {
      double at = (double)(i - 1) / rate;
      struct timespec ts = t0;
      ts.tv_sec += (time_t)at;
      ts.tv_nsec += (long)((at - (double)(time_t)at) * 1e9);
      if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    snprintf(arg, sizeof arg, "%s-%ld", argv[4], i);
    pid_t p = fork();
    if (p == 0) {
      char *av[] = { argv[3], arg, NULL };
      execv(argv[3], av);
      _exit(127);
    }
    if (p > 0) waitpid(p, NULL, 0);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.3f\\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
`;
