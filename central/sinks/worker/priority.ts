// The sink thread's CPU priority: idle (Linux SCHED_IDLE, through the nodewarden_sched addon), so
// it runs only on CPU time ingest leaves unused. A nice value does not do that: measured with
// seven sinks at 10,000 events/s on two cores, ingest's thread waited for a CPU 270–310 ms a
// second with this thread at nice 10 or 19, 150 ms at SCHED_IDLE, 45 ms with no sinks (the
// kernel counts a CPU running only SCHED_IDLE work as idle when it places a waking thread; a
// niced one it does not). Without the addon (not built, not Linux) the thread falls back to nice 19.
//
// Within a container the policy applies inside its cgroup: sinks yield to central's other threads,
// not to other workloads beyond what central's CPU share already says.

import { createRequire } from 'node:module';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeError } from '../../../core/errors.js';

/** What the thread got. */
export type Priority = { policy: 'idle' } | { policy: 'nice'; nice: number; why: string } | { policy: 'unchanged'; why: string };

const NICE = 19;

const here = path.dirname(fileURLToPath(import.meta.url));
// Compiled: <root>/dist/central/sinks/worker; as source: <root>/central/sinks/worker.
const above = path.resolve(here, '..', '..', '..');
const repoRoot = path.basename(above) === 'dist' ? path.dirname(above) : above;
/** Built by `npm ci` (binding.gyp) beside the exec-capture addon. */
export const schedAddonPath = path.join(repoRoot, 'build', 'Release', 'nodewarden_sched.node');

/** Lower the calling thread's CPU priority as far as it goes: idle, else nice 19. */
export function lowerThreadPriority(): Priority {
  let why: string;
  try {
    const addon = createRequire(import.meta.url)(schedAddonPath) as { setThreadIdle(): void };
    addon.setThreadIdle();
    return { policy: 'idle' };
  } catch (err) {
    why = describeError(err);
  }
  try {
    // /proc/thread-self → "<pid>/task/<tid>": setpriority on a thread id sets that thread alone.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return { policy: 'unchanged', why: `${why}; and no thread id in /proc/thread-self` };
    os.setPriority(tid, NICE);
    return { policy: 'nice', nice: NICE, why };
  } catch (err) {
    return { policy: 'unchanged', why: `${why}; and nice ${NICE}: ${describeError(err)}` };
  }
}

/**
 * Give a thread of this process its normal priority back (before stopping it: a starved idle
 * thread would miss its drain deadline on a busy machine). Best effort: false when it could not.
 */
export function restoreThreadPriority(tid: number): boolean {
  if (!Number.isInteger(tid) || tid <= 0) return false;
  try {
    (createRequire(import.meta.url)(schedAddonPath) as { setThreadNormal(tid: number): void }).setThreadNormal(tid);
    return true;
  } catch {
    // No addon, or not allowed: the nice fallback, which raising needs privilege for too.
  }
  try {
    os.setPriority(tid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The calling thread's id (Linux), for diagnostics; 0 when unknown. */
export function threadId(): number {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : 0;
  } catch {
    return 0;
  }
}
