// The runtime settings the long-running commands (agent, run) need, applied however they are
// started. V8's default young generation (16 MB semi-spaces) is sized for throughput servers; a
// node agent that loads its rules and then mostly waits keeps it grown and pays 20–30 MB of RSS
// for no CPU gain. V8 grows its old generation by up to 4× what survived the last full
// collection on a machine with gigabytes of memory; at 50% the agent-exec benchmark's peak RSS
// went from 104 to 97 MB (quick runs, 2-vCPU VM); 30% kept it no lower (96–98 MB), with more
// collections. A growth rate, not a ceiling (--max-old-space-size): nothing ends the process for
// want of heap that it did not end for before. glibc gives each thread that allocates its own
// malloc arena (V8's helper threads, the exec reader, libuv's pool): memory one arena frees is not
// reused by another, which cost the agent ~6 MB of peak RSS in the agent-exec benchmark; two
// arenas are plenty for it (MALLOC_ARENA_MAX, read by glibc when the process starts; other C
// libraries ignore it).
// All must be given when node starts: the shebang gives them when the command is run as
// `nodewarden …`; `npm start` gives the flags; where node offers process.execve (Node 22.15+, 24:
// the image), a start without them (`node dist/bin/nodewarden.js agent`) replaces itself, before
// doing anything else, with the same command, the flags and the variable (a flag or variable the
// user set is kept). NODEWARDEN_V8_DEFAULTS=1 keeps node's and glibc's defaults.
//
// Imported first by bin/nodewarden.ts, so it runs before any other module's code.
// `central` is the exception: it wants V8's default generations (below).

/**
 * V8 flags of every command. --single-threaded-gc: each isolate collects its own garbage on its
 * own thread. By default V8's helper threads (four, at normal priority, shared by every isolate
 * of the process) do much of it; in central that meant the sink thread's garbage was collected at
 * ingest's priority, not the sink thread's idle one: with seven sinks at 10,000 events/s on two
 * cores they took 27–36% of a core, and ingest's thread waited for a CPU 100–157 ms a second
 * (61–87 with the flag, 14–66 with no sinks); ack p99 against no sinks went from 1.78–2.77× to
 * 1.23–1.50× (sinks benchmark, medians of three rounds, 2-vCPU VM). In the agent, a collection's
 * work stays on the main thread, where it was mostly done anyway.
 */
export const SHARED_FLAGS = ['--single-threaded-gc'] as const;
/** The agent's V8 flags (bin/nodewarden.ts's shebang and package.json's start give the same). */
export const AGENT_FLAGS = [...SHARED_FLAGS, '--max-semi-space-size=2', '--heap-growing-percent=50'] as const;
const ARENAS = 'MALLOC_ARENA_MAX';
const LONG_RUNNING = new Set(['agent', 'run']);

const cmd = process.argv[2] ?? '';
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
const named = (flag: string) => (flag.includes('=') ? flag.slice(0, flag.indexOf('=')) : flag);
const missingOf = (flags: readonly string[]) => flags.filter((f) => !given.some((a) => a.startsWith(named(f))));
const execve = (process as unknown as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
const mayRestart = !process.env.NODEWARDEN_V8_DEFAULTS && typeof execve === 'function';
if (LONG_RUNNING.has(cmd) && mayRestart) {
  const missing = missingOf(AGENT_FLAGS);
  if (missing.length > 0 || process.env[ARENAS] === undefined) {
    execve.call(process, process.execPath, [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)], { [ARENAS]: '2', ...process.env });
  }
}
// Central is the throughput server V8's default generations are sized for: every event it stores
// and every sink's copy of it are short-lived garbage, and with 2 MB semi-spaces they outlived
// young collections (sinks benchmark, quick, once each: ingest 86.5 -> 71.3 µs of CPU per event
// and seven sinks 556 -> 492 with the default). The shebang gives every command the agent's
// flags: central, started through it, restarts once with the shared ones alone (flags set in
// NODE_OPTIONS are kept).
const agentOnly = new Set<string>(AGENT_FLAGS.filter((f) => !(SHARED_FLAGS as readonly string[]).includes(f)));
if (cmd === 'central' && mayRestart) {
  const missing = missingOf(SHARED_FLAGS);
  if (missing.length > 0 || process.execArgv.some((a) => agentOnly.has(a))) {
    execve.call(process, process.execPath, [process.execPath, ...missing, ...process.execArgv.filter((a) => !agentOnly.has(a)), ...process.argv.slice(1)], process.env);
  }
}
