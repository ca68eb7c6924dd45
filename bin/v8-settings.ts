// The runtime settings the long-running commands (agent, run) need, applied however they are
// started. V8's default young generation (16 MB semi-spaces) is sized for throughput servers; a
// node agent that loads its rules and then mostly waits keeps it grown and pays 20–30 MB of RSS
// for no CPU gain. glibc gives each thread that allocates its own malloc arena (V8's helper
// threads, the exec reader, libuv's pool): memory one arena frees is not reused by another, which
// cost the agent ~6 MB of peak RSS in the agent-exec benchmark; two arenas are plenty for it
// (MALLOC_ARENA_MAX, read by glibc when the process starts; other C libraries ignore it).
// Both must be given when node starts: the shebang gives them when the command is run as
// `nodewarden …`; `npm start` gives the flag; where node offers process.execve (Node 22.15+, 24:
// the image), a start without them (`node dist/bin/nodewarden.js agent`) replaces itself, before
// doing anything else, with the same command, the flag and the variable (a variable the user set
// is kept). NODEWARDEN_V8_DEFAULTS=1 keeps node's and glibc's defaults.
//
// Imported first by bin/nodewarden.ts, so it runs before any other module's code.
// `central` is the exception: it wants V8's default young generation (below).

const FLAG = '--max-semi-space-size=2';
const ARENAS = 'MALLOC_ARENA_MAX';
const LONG_RUNNING = new Set(['agent', 'run']);

const cmd = process.argv[2] ?? '';
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--max-semi-space-size'));
const execve = (process as unknown as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
if (LONG_RUNNING.has(cmd) && (!given || process.env[ARENAS] === undefined) && !process.env.NODEWARDEN_V8_DEFAULTS && typeof execve === 'function') {
  const flags = given ? process.execArgv : [FLAG, ...process.execArgv];
  execve.call(process, process.execPath, [process.execPath, ...flags, ...process.argv.slice(1)], { [ARENAS]: '2', ...process.env });
}
// Central is the throughput server V8's default is sized for: every event it stores and every
// sink's copy of it are short-lived garbage, and with 2 MB semi-spaces they outlived young
// collections (sinks benchmark, quick, once each: ingest 86.5 -> 71.3 µs of CPU per event and
// seven sinks 556 -> 492 with the default). The shebang gives every command the agent's flag:
// central, started through it, restarts once without it (a flag set in NODE_OPTIONS is kept).
if (cmd === 'central' && process.execArgv.includes(FLAG) && !process.env.NODEWARDEN_V8_DEFAULTS && typeof execve === 'function') {
  execve.call(process, process.execPath, [process.execPath, ...process.execArgv.filter((a) => a !== FLAG), ...process.argv.slice(1)], process.env);
}

export {};
