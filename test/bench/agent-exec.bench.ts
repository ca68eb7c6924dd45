// The whole agent's cost per exec, everything included: the `nodewarden agent` process itself
// (the exec source it chooses by default, native reader, enrichment through the CRI inventory,
// scope, detections, spool, shipping) measured from /proc: its CPU time and peak RSS.
// NW_BENCH_EXEC_SOURCE=audit (or another source) measures that source instead of the default. Execs run inside a kube-system pod of
// the node-box (a static C spawner copied into the container execs /bin/true with unique
// arguments), so every one of them is in scope and attributed. Central runs in this process.
// Bursts of 1k, 5k and 10k, then a sustained 1,000/s for 60 s (10 s with NW_BENCH_QUICK=1).
// First it prices this machine's kernel calls (a small C program): on a virtual machine they can
// cost tens of times what they cost on hardware, and so does the agent's CPU per exec with them.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Central } from '../../central/central.js';
import { loadNative } from '../../collectors/process/sources/native.js';
import { SPAWNER_C } from '../collectors/process/sources/exec-fixtures.js';
import { startNodeBox } from '../e2e/node-box.js';
import { cliPath } from '../helpers/paths.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor } from '../helpers/pipeline.js';

const KEY = 'nw-bench-agent';

/**
 * What this machine's kernel charges for the reads the native reader makes per exec (the same
 * calls, openat relative to an O_PATH handle of /proc, on the program's own pid): a virtual
 * machine can make each system call many times dearer than a physical one, and the agent's CPU
 * per exec is mostly such calls. Prints microseconds per call, one line of key=value.
 */
const CALIBRATE_C = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int proc_fd;
static char buf[8192];
static int ping[2], pong[2];
static void *echo(void *arg) { char c; (void)arg; while (read(ping[0], &c, 1) == 1) if (write(pong[1], &c, 1) != 1) break; return 0; }
static double cpu_us(void) { struct rusage r; getrusage(RUSAGE_SELF, &r); return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec; }
static void readfile(const char *name) { int fd = openat(proc_fd, name, O_RDONLY | O_CLOEXEC); if (fd >= 0) { if (read(fd, buf, sizeof buf) < 0) buf[0] = 0; close(fd); } }
int main(void) {
  proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  char cg[64], st[64], fd0[64], exe[64];
  int pid = getpid();
  snprintf(cg, sizeof cg, "%d/cgroup", pid); snprintf(st, sizeof st, "%d/stat", pid);
  snprintf(fd0, sizeof fd0, "%d/fd/0", pid); snprintf(exe, sizeof exe, "%d/exe", pid);
  const int n = 20000; double t; struct stat sb;
  t = now(); for (int i = 0; i < n; i++) syscall(SYS_getppid); double sys = (now() - t) / n;
  t = now(); for (int i = 0; i < n; i++) readfile(cg); double cgr = (now() - t) / n;
  t = now(); for (int i = 0; i < n; i++) readfile(st); double str = (now() - t) / n;
  t = now(); for (int i = 0; i < n; i++) if (readlinkat(proc_fd, fd0, buf, sizeof buf) < 0) break; double rl = (now() - t) / n;
  t = now(); for (int i = 0; i < n; i++) fstatat(proc_fd, exe, &sb, 0); double fs = (now() - t) / n;
  /* A thread that sleeps in read() woken by another: CPU per wake-up, both sides' calls included. */
  if (pipe(ping) || pipe(pong)) return 1;
  pthread_t th; pthread_create(&th, 0, echo, 0);
  const int w = 5000; char c = 'x'; double c0 = cpu_us();
  for (int i = 0; i < w; i++) { if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) break; }
  double wake = (cpu_us() - c0) / (2.0 * w);
  close(ping[1]); pthread_join(th, 0);
  printf("syscall=%.2f cgroup=%.2f stat=%.2f readlink=%.2f fstatat=%.2f wake=%.2f\\n", sys, cgr, str, rl, fs, wake);
  return 0;
}
`;

const TICK_US = 1e6 / 100; // USER_HZ

/** utime and stime (µs) from a /proc stat file. */
function times(file: string): { user: number; sys: number } {
  const stat = readFileSync(file, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) * TICK_US, sys: Number(f[12]) * TICK_US };
}

/** How often a thread went to sleep waiting (its voluntary context switches): each is a wake-up later. */
function sleeps(taskDir: string): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(path.join(taskDir, 'status'), 'latin1'))?.[1] ?? 0);
}

/**
 * CPU time (user + system, and system alone) and peak RSS of a process, from /proc; and the CPU
 * of its main thread (JavaScript) and of the native exec reader thread, the rest being V8's
 * helper threads (GC, compiler) and libuv's pool.
 */
function usage(pid: number): { cpuUs: number; sysUs: number; mainUs: number; readerUs: number; mainWakes: number; readerWakes: number; hwmMb: number; rssMb: number; anonMb: number; fileMb: number } {
  const all = times(`/proc/${pid}/stat`);
  let mainUs = 0;
  let mainWakes = 0;
  let readerUs = 0;
  let readerWakes = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const t = times(`/proc/${pid}/task/${tid}/stat`);
      if (Number(tid) === pid) {
        mainUs = t.user + t.sys;
        mainWakes = sleeps(`/proc/${pid}/task/${tid}`);
      } else if (readFileSync(`/proc/${pid}/task/${tid}/comm`, 'latin1').startsWith('nw-')) {
        readerUs += t.user + t.sys;
        readerWakes += sleeps(`/proc/${pid}/task/${tid}`);
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { cpuUs: all.user + all.sys, sysUs: all.sys, mainUs, readerUs, mainWakes, readerWakes, hwmMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: (kb('RssFile') + kb('RssShmem')) / 1024 };
}

/**
 * Exec counts from one scrape of the agent's metrics: in scope, out of scope (execs elsewhere on
 * the machine, which cost the agent too: shown so a run on a busy machine can be told apart), and
 * those whose process was gone before /proc could be read.
 */
async function counts(port: number): Promise<{ inScope: number; outOfScope: number; gone: number; lostKernel: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const c = { inScope: 0, outOfScope: 0, gone: 0, lostKernel: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('nodewarden_exec_events_total{')) {
      if (line.includes('scope="in"')) c.inScope += Number(line.split(' ').pop());
      else c.outOfScope += Number(line.split(' ').pop());
    } else if (line.startsWith('nodewarden_exec_gone_before_read_total ')) c.gone = Number(line.split(' ').pop());
    else if (line.startsWith('nodewarden_exec_source_lost{where="kernel"} ')) c.lostKernel = Number(line.split(' ').pop());
  }
  return c;
}

export default async function agentExecBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('skipped: needs root (the kernel audit stream)');
    return;
  }
  const native = loadNative();
  if ('error' in native) throw native.error;
  const box = await startNodeBox();
  if ('skip' in box) {
    console.log(`skipped: ${box.skip}`);
    return;
  }
  const dir = tempDir('bench-agent-exec');
  const port = await freePort();
  const httpPort = await freePort();
  const central = new Central(testConfig({ 'central.dataDir': path.join(dir, 'central'), 'central.listen': `127.0.0.1:${port}` }), quietLogger);
  let agent: ReturnType<typeof spawn> | null = null;
  try {
    const pod = await box.runPod({ name: 'bench-app-6d4f9', containerName: 'app' });
    await central.start();
    const config = path.join(dir, 'agent.yaml');
    writeFileSync(config, [
      'agent:', '  collectors:', '    posture: { enabled: false }',
      `    runtime: { socket: ${JSON.stringify(box.socket)}, containerdStateDir: ${JSON.stringify(box.stateDir)} }`,
      `    process: { source: ${process.env.NW_BENCH_EXEC_SOURCE ?? 'auto'}, ruleKey: ${KEY} }`, '',
    ].join('\n'));
    // Started as a user starts it: the command itself (its shebang gives node its flags).
    // NW_AGENT_NODE_ARGS: node flags instead (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
    const nodeArgs = (process.env.NW_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const [file, ...pre] = nodeArgs.length > 0 ? [process.execPath, ...nodeArgs, cliPath] : [cliPath];
    agent = spawn(file!, [...pre, 'agent', '--insecure', '--config', config, '--state-dir', path.join(dir, 'agent'),
      '--central', `127.0.0.1:${port}`, '--http', `127.0.0.1:${httpPort}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: process.env.NW_AGENT_NODE_OPTIONS ?? '' } });
    const pid = agent.pid!;
    await waitFor('the agent up', async () => {
      try {
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000, 200);
    const idle = usage(pid);
    const active = /^nodewarden_exec_source\{source="(\w+)"\} 1$/m.exec(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text())?.[1];
    console.log(`agent idle after start: RSS ${idle.rssMb.toFixed(0)} MB (peak while starting ${idle.hwmMb.toFixed(0)} MB); exec source ${active ?? 'none'}`);

    // A static spawner, dropped into the container's /tmp from the host.
    const containerPid = Number(JSON.parse((await box.cri.containerStatus(pod.containerId, true)).info?.info ?? '{}').pid);
    const src = path.join(dir, 'spawner.c');
    writeFileSync(src, SPAWNER_C);
    execFileSync('gcc', ['-O2', '-static', '-o', path.join(dir, 'spawner'), src]);
    const inside = `/proc/${containerPid}/root/tmp/nw-spawner`;
    copyFileSync(path.join(dir, 'spawner'), inside);
    chmodSync(inside, 0o755);

    // The machine's price of the reader's per-exec reads: cgroup, stat, two stdio links, the
    // exe's stat and the pid-namespace link (the parent's is remembered).
    const calSrc = path.join(dir, 'calibrate.c');
    writeFileSync(calSrc, CALIBRATE_C);
    execFileSync('gcc', ['-O2', '-pthread', '-o', path.join(dir, 'calibrate'), calSrc]);
    const cal = Object.fromEntries(execFileSync(path.join(dir, 'calibrate'), { encoding: 'utf8' }).trim().split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
    const floor = cal.cgroup! + cal.stat! + 3 * cal.readlink! + cal.fstatat!;
    console.log(`this machine's kernel: a null system call ${cal.syscall!.toFixed(2)} µs; /proc/PID/cgroup read ${cal.cgroup!.toFixed(1)} µs, stat read ${cal.stat!.toFixed(1)} µs, a /proc link ${cal.readlink!.toFixed(1)} µs, the exe's stat ${cal.fstatat!.toFixed(1)} µs: the audit reader's /proc reads alone cost ≈ ${floor.toFixed(0)} µs per exec here (hot, in a loop; the eBPF source makes none); a thread woken from a blocking read costs ${cal.wake!.toFixed(1)} µs of CPU (the audit reader wakes about once per exec, the eBPF reader at most 50 times a second, the main thread once per batch)`);

    const quick = process.env.NW_BENCH_QUICK === '1';
    const phases = [
      { name: 'burst 1k', n: 1000, rate: 0 },
      { name: 'burst 5k', n: 5000, rate: 0 },
      { name: 'burst 10k', n: 10000, rate: 0 },
      { name: `1000/s for ${quick ? 10 : 60} s`, n: quick ? 10_000 : 60_000, rate: 1000 },
    ];
    console.log('phase              expected  captured  ratio     exec/s  agent CPU µs/exec (of it system)  main  reader  other  wake-ups/exec: reader, main  kernel lost  RSS/peak MB  execs elsewhere  gone before /proc read');
    for (const ph of phases) {
      const c0 = await counts(httpPort);
      const u0 = usage(pid);
      const r = await box.execSync(pod.containerId, ['/tmp/nw-spawner', String(ph.n), String(ph.rate), '/bin/true', `nwb-${ph.n}`], 600);
      const elapsed = Number(r.stdout.trim());
      const expected = ph.n + 1; // the spawner's own exec is in scope too
      let last = -1;
      await waitFor('the agent caught up', async () => {
        const now = (await counts(httpPort)).inScope;
        const done = now - c0.inScope >= expected || now === last;
        last = now;
        return done;
      }, 60_000, 500);
      const u1 = usage(pid);
      const c1 = await counts(httpPort);
      const captured = c1.inScope - c0.inScope;
      const per = (a: number, b: number) => ((a - b) / captured).toFixed(1);
      const per2 = (a: number, b: number) => ((a - b) / captured).toFixed(2);
      const other = (u1.cpuUs - u1.mainUs - u1.readerUs) - (u0.cpuUs - u0.mainUs - u0.readerUs);
      console.log(`${ph.name.padEnd(18)} ${String(expected).padStart(8)}  ${String(captured).padStart(8)}  ${(captured / expected * 100).toFixed(2).padStart(6)}%  ${(ph.n / elapsed).toFixed(0).padStart(7)}  ${per(u1.cpuUs, u0.cpuUs).padStart(17)} ${`(${per(u1.sysUs, u0.sysUs)})`.padStart(15)}  ${per(u1.mainUs, u0.mainUs).padStart(4)}  ${per(u1.readerUs, u0.readerUs).padStart(6)}  ${(other / captured).toFixed(1).padStart(5)}  ${`${per2(u1.readerWakes, u0.readerWakes)}, ${per2(u1.mainWakes, u0.mainWakes)}`.padStart(27)}  ${String(c1.lostKernel - c0.lostKernel).padStart(11)}  ${`${u1.rssMb.toFixed(0)}/${u1.hwmMb.toFixed(0)}`.padStart(11)}  ${String(c1.outOfScope - c0.outOfScope).padStart(15)}  ${String(c1.gone - c0.gone).padStart(21)}`);
    }
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0) / 1048576;
    const end = usage(pid);
    console.log(`agent peak RSS (VmHWM): ${end.hwmMb.toFixed(0)} MB; at the end ${end.rssMb.toFixed(0)} MB: ${end.anonMb.toFixed(0)} MB its own (anonymous), ${end.fileMb.toFixed(0)} MB mapped files and shared memory (node's code, libraries, the ring buffer); V8 heap used ${gauge('nodewarden_agent_nodejs_heap_size_used_bytes').toFixed(0)} MB of ${gauge('nodewarden_agent_nodejs_heap_size_total_bytes').toFixed(0)} MB, external ${gauge('nodewarden_agent_nodejs_external_memory_bytes').toFixed(0)} MB`);
  } finally {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    await central.stop();
    for (const r of native.addon.auditListRules()) if (r.key === KEY) native.addon.auditDelRule(r.raw);
    await box.close();
  }
}
