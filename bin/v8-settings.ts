// The V8 settings the long-running commands (agent, run) need, applied however they are started.
// V8's default young generation (16 MB semi-spaces) is sized for throughput servers; a node agent
// that loads its rules and then mostly waits keeps it grown and pays 20–30 MB of RSS for no CPU
// gain. The flag must be given when node starts: the shebang gives it when the command is run as
// `nodewarden …`; `npm start` gives it; where node offers process.execve (Node 22.15+, 24: the
// image), a start without it (`node dist/bin/nodewarden.js agent`) replaces itself, before doing
// anything else, with the same command and the flag. NODEWARDEN_V8_DEFAULTS=1 keeps V8's defaults.
//
// Imported first by bin/nodewarden.ts, so it runs before any other module's code.

const FLAG = '--max-semi-space-size=2';
const LONG_RUNNING = new Set(['agent', 'run']);

const cmd = process.argv[2] ?? '';
const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--max-semi-space-size'));
const execve = (process as unknown as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
if (LONG_RUNNING.has(cmd) && !given && !process.env.NODEWARDEN_V8_DEFAULTS && typeof execve === 'function') {
  execve.call(process, process.execPath, [process.execPath, FLAG, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

export {};
