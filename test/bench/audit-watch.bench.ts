// What the posture files' audit watch rules cost the node while those files are quiet: a small C
// program opens, reads and closes another file, and opens /dev/null to write, in a loop, timed with auditing on
// and only the exec rules loaded, then with 64 watch rules added (a control-plane node's posture
// files are about 60), alternating, five rounds each. Syscalls that touch no watched file pay the
// kernel's walk over the rules; the figure is that cost per syscall. Needs root (audit control).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNative, type NativeAddon } from '../../collectors/process/sources/native.js';
import { f1 } from './sim-agents.js';

const LOOP_C = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  char buf[64];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    int fd = open(argv[2], O_RDONLY);
    if (fd >= 0) { if (read(fd, buf, sizeof buf) < 0) return 2; close(fd); }
    fd = open(argv[3], O_WRONLY);
    if (fd >= 0) { if (write(fd, "x", 1) < 0) return 2; close(fd); }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  /* 6 syscalls per round */
  printf("%.1f\\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (n * 6.0));
  return 0;
}
`;

const ROUNDS = 5;
const N = process.env.NW_BENCH_QUICK ? 50_000 : 200_000;
const WATCHES = 64;

export default async function auditWatchBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('skipped: needs root (audit rules)');
    return;
  }
  const loaded = loadNative();
  if ('error' in loaded) throw new Error(`the native addon is not built: ${loaded.error.message}`);
  const addon: NativeAddon = loaded.addon;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-bench-watch-'));
  const key = `nwbench-${process.pid}`;
  const initiallyEnabled = addon.auditStatus().enabled;
  const ours = () => addon.auditListRules().filter((r) => r.key === key || r.key?.startsWith(`${key}-w:`));
  try {
    writeFileSync(path.join(dir, 'loop.c'), LOOP_C);
    const bin = path.join(dir, 'loop');
    execFileSync('cc', ['-O2', '-o', bin, path.join(dir, 'loop.c')]);
    const readFile = path.join(dir, 'read-me');
    const writeFile = '/dev/null';
    writeFileSync(readFile, 'quiet\n');
    const watched = path.join(dir, 'etc', 'kubernetes');
    mkdirSync(watched, { recursive: true });
    for (let i = 0; i < WATCHES; i++) writeFileSync(path.join(watched, `f${i}.conf`), 'x', { mode: 0o600 });

    if (initiallyEnabled === 0) addon.auditSetEnabled(1);
    for (const b64 of [true, false]) addon.auditAddExecRule(b64, key);
    const time = (): number => Number(spawnSync(bin, [String(N), readFile, writeFile], { encoding: 'utf8' }).stdout.trim());
    const addWatches = () => {
      for (let i = 0; i < WATCHES; i++) addon.auditAddWatchRule(path.join(watched, `f${i}.conf`), `${key}-w:/etc/kubernetes/f${i}.conf`);
    };
    const removeWatches = () => {
      for (const r of ours()) if (r.key?.startsWith(`${key}-w:`)) addon.auditDelRule(r.raw);
    };
    time(); // warm-up
    const without: number[] = [];
    const withWatches: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      without.push(time());
      addWatches();
      withWatches.push(time());
      removeWatches();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const a = median(without);
    const b = median(withWatches);
    console.log(`${N.toLocaleString('en')} rounds of open+read+close of a file and open(write)+write+close of /dev/null, ${ROUNDS} alternating runs (load ${os.loadavg()[0]!.toFixed(2)})`);
    console.log(`ns per syscall, exec rules only: median ${f1(a)} (runs ${without.map(f1).join(', ')})`);
    console.log(`ns per syscall, + ${WATCHES} watch rules on quiet files: median ${f1(b)} (runs ${withWatches.map(f1).join(', ')})`);
    console.log(`watch rules cost: ${f1(b - a)} ns per syscall (${f1(((b - a) / a) * 100)}%)`);
  } finally {
    for (const r of ours()) {
      try {
        addon.auditDelRule(r.raw);
      } catch {
        /* gone */
      }
    }
    if (initiallyEnabled === 0 && addon.auditListRules().length === 0) addon.auditSetEnabled(0);
    rmSync(dir, { recursive: true, force: true });
  }
}
