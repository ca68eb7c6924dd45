// `nodewarden baselines`: list, lock, reset and export the process baselines the agent on this
// node has learnt, through its local HTTP endpoint (agent.http, default 127.0.0.1:9464).

import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { NwError } from '../core/errors.js';

/** Baselines are bounded on the agent; an answer larger than this is not one of them. */
const MAX_ANSWER = 64 * 1024 * 1024;

interface Flags { agent: string }

interface BaselineJson {
  workload: string;
  state: string;
  learnUntil: number;
  locked: boolean;
  full: boolean;
  exes: string[];
}

async function call(flags: Flags, method: 'GET' | 'POST', route: string, workload?: string): Promise<unknown> {
  const url = new URL(`http://${flags.agent}${route}`);
  if (workload) url.searchParams.set('workload', workload);
  let res: Response;
  try {
    res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new NwError('NW_ERR_AGENT_UNREACHABLE', `cannot reach the agent at ${flags.agent}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message} (is it running here, with agent.http ${flags.agent}?)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body ?? []) {
    size += (c as Uint8Array).length;
    if (size > MAX_ANSWER) throw new NwError('NW_ERR_BAD_ANSWER', `the agent's answer is larger than ${MAX_ANSWER} bytes`);
    chunks.push(Buffer.from(c as Uint8Array));
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new NwError('NW_ERR_BAD_ANSWER', `the agent at ${flags.agent} answered ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new NwError('NW_ERR_BAD_ANSWER', `the agent refused: ${(body as { error?: string }).error ?? res.status}`);
  return body;
}

export function baselinesCommand(): Command {
  const cmd = new Command('baselines').description("the process baselines the agent on this node learnt per workload (rule process.unexpected-process)");
  const agentOption = (c: Command) => c.option('--agent <host:port>', "the agent's HTTP endpoint (agent.http)", '127.0.0.1:9464');

  agentOption(cmd.command('list'))
    .description('each workload: state (learning or active), executables learnt')
    .option('--json', 'one JSON object per workload')
    .action(async (flags: Flags & { json?: boolean }) => {
      const { baselines } = (await call(flags, 'GET', '/baselines')) as { baselines: BaselineJson[] };
      for (const b of baselines) {
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(b)}\n`);
          continue;
        }
        const until = b.state === 'learning' ? ` until ${new Date(b.learnUntil).toISOString()}` : b.locked ? ' (locked)' : '';
        process.stdout.write(`${b.workload}  ${b.state}${until}  ${b.exes.length} executables${b.full ? ' (full)' : ''}\n`);
        for (const e of b.exes) process.stdout.write(`    ${e}\n`);
      }
      if (!flags.json && baselines.length === 0) process.stdout.write('no baselines yet: none of the pods in scope has run a process since the agent started learning\n');
    });

  agentOption(cmd.command('lock'))
    .description('stop learning now: executables outside the baseline are anomalies from here on')
    .argument('[workload]', 'namespace/workload/container, or a prefix of it (default: every workload)')
    .action(async (workload: string | undefined, flags: Flags) => {
      const r = (await call(flags, 'POST', '/baselines/lock', workload)) as { locked: number };
      process.stdout.write(`locked ${r.locked} baseline${r.locked === 1 ? '' : 's'}\n`);
    });

  agentOption(cmd.command('reset'))
    .description('forget baselines: they learn again from the next exec')
    .argument('[workload]', 'namespace/workload/container, or a prefix of it (default: every workload)')
    .action(async (workload: string | undefined, flags: Flags) => {
      const r = (await call(flags, 'POST', '/baselines/reset', workload)) as { reset: number };
      process.stdout.write(`reset ${r.reset} baseline${r.reset === 1 ? '' : 's'}\n`);
    });

  agentOption(cmd.command('export'))
    .description('every baseline as one JSON document')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .action(async (flags: Flags & { output?: string }) => {
      const body = await call(flags, 'GET', '/baselines');
      const text = `${JSON.stringify({ exportedAt: new Date().toISOString(), agent: flags.agent, ...(body as object) }, null, 2)}\n`;
      if (flags.output) writeFileSync(flags.output, text);
      else process.stdout.write(text);
    });
  return cmd;
}
