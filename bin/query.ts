// `nodewarden events` (stored events by time and filters) and `nodewarden findings` (what is
// open now, grouped per node), read from central's Query service. Output: table (readable lines),
// json (one array) or jsonl (one object a line). A refusal or an unreachable central is one line
// on stderr and exit code 1; a bad flag throws NW_ERR_CONFIG before anything is sent.

import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import { Command, Option } from 'commander';
import { nodewarden } from '../gen/nodewarden.js';
import { formatEvent } from './format-event.js';
import { eventToJson } from '../core/event.js';
import { NwError } from '../core/errors.js';
import { QueryClient } from '../core/wire/services.js';
import { addConnectionOptions, describeCallError, type ConnectFn, type ConnectionFlags } from './central-connection.js';
import { addFilterOptions, filterRequest, parseState, parseTime, STATES, type FilterFlags } from './event-filters.js';

type Event = nodewarden.v1.Event;
export type OutputFormat = 'table' | 'json' | 'jsonl';

/** Where a command writes; tests give their own. */
export interface CommandIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  setExitCode(code: number): void;
}

const processIo: CommandIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

/** A history query answers at once or not at all; a hung central must not hang the terminal. */
const CALL_TIMEOUT_MS = 60_000;
const MAX_LIMIT = 10_000;

interface CommonFlags extends FilterFlags {
  limit?: string;
  output: OutputFormat;
}
export interface EventsFlags extends CommonFlags {
  since?: string;
  until?: string;
  state?: string;
  deadLetter?: boolean;
  sink?: string;
}
export type FindingsFlags = CommonFlags;

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) throw new NwError('NW_ERR_CONFIG', `--limit: expected a whole number from 1 to ${MAX_LIMIT}, got ${JSON.stringify(text)}`);
  return n;
}

const toLong = (ns: bigint): Long => Long.fromString(ns.toString());

export function eventsRequest(flags: EventsFlags, nowMs = Date.now()): nodewarden.v1.IEventsRequest {
  const since = flags.since ? parseTime(flags.since, '--since', nowMs) : 0n;
  const until = flags.until ? parseTime(flags.until, '--until', nowMs) : 0n;
  if (since && until && since > until) throw new NwError('NW_ERR_CONFIG', `--since ${flags.since} is later than --until ${flags.until}`);
  return {
    ...filterRequest(flags),
    sinceUnixNano: toLong(since),
    untilUnixNano: toLong(until),
    state: flags.state ? parseState(flags.state) : 0,
    limit: parseLimit(flags.limit),
    ...(flags.deadLetter ? { deadLetter: true, sink: flags.sink ?? '' } : {}),
  };
}

export function findingsRequest(flags: FindingsFlags): nodewarden.v1.IFindingsRequest {
  return { ...filterRequest(flags), limit: parseLimit(flags.limit) };
}

function asJson(events: Event[], format: 'json' | 'jsonl'): string {
  if (format === 'json') return JSON.stringify(events.map(eventToJson), null, 2) + '\n';
  return events.map((e) => JSON.stringify(eventToJson(e)) + '\n').join('');
}

export function renderEvents(events: Event[], format: OutputFormat): string {
  if (format !== 'table') return asJson(events, format);
  if (events.length === 0) return 'No stored events match.\n';
  return events.map((e) => {
    const reason = e.attributes?.['dead_letter.reason'];
    const dead = reason ? `\n  refused for good by sink ${e.attributes['dead_letter.sink']} at ${e.attributes['dead_letter.at']}: ${reason}` : '';
    return formatEvent(e) + dead + '\n';
  }).join('');
}

const indent = (text: string): string => text.split('\n').map((l) => '  ' + l).join('\n');
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Table: one block per node (nodes by name), its most severe findings first. */
export function renderFindings(events: Event[], format: OutputFormat): string {
  if (format !== 'table') return asJson(events, format);
  if (events.length === 0) return 'No open findings.\n';
  const byNode = new Map<string, Event[]>();
  for (const e of events) byNode.set(e.node, [...(byNode.get(e.node) ?? []), e]);
  const blocks = [...byNode.keys()].sort().map((node) => {
    const list = byNode.get(node)!.sort((a, b) => b.severity - a.severity || Number(a.timeUnixNano) - Number(b.timeUnixNano));
    return `${node}: ${plural(list.length, 'open finding')}\n${list.map((e) => indent(formatEvent(e))).join('\n')}\n`;
  });
  return `${blocks.join('\n')}\n${plural(events.length, 'open finding')} on ${plural(byNode.size, 'node')}.\n`;
}

type QueryStub = grpc.Client & {
  Events: (req: nodewarden.v1.IEventsRequest, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<Event>;
  Findings: (req: nodewarden.v1.IFindingsRequest, md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientReadableStream<Event>;
};

/** Read a whole answer; on failure print one line and set exit code 1 (undefined returned). */
async function collect(name: string, flags: ConnectionFlags, io: CommandIo, call: (c: QueryStub, opts: grpc.CallOptions) => grpc.ClientReadableStream<Event>, connect: ConnectFn): Promise<Event[] | undefined> {
  const conn = connect(flags as Record<string, unknown>);
  const Ctor = QueryClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => QueryStub;
  const client = new Ctor(conn.address, conn.credentials, conn.options);
  const events: Event[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const stream = call(client, { deadline: Date.now() + CALL_TIMEOUT_MS });
      stream.on('data', (e: Event) => events.push(e));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    return events;
  } catch (err) {
    const e = err as grpc.ServiceError;
    const line = e.code === grpc.status.DEADLINE_EXCEEDED
      ? `central at ${conn.address} did not answer within ${CALL_TIMEOUT_MS / 1000} s`
      : describeCallError(e, { ...flags, central: conn.address });
    io.stderr.write(`nodewarden ${name}: ${line}\n`);
    io.setExitCode(1);
    return undefined;
  } finally {
    client.close();
  }
}

function outputOption(): Option {
  return new Option('-o, --output <format>', 'table (readable lines), json (one array) or jsonl (one object a line)').choices(['table', 'json', 'jsonl']).default('table');
}

export function eventsCommand(connect: ConnectFn, io: CommandIo = processIo): Command {
  const cmd = addFilterOptions(addConnectionOptions(new Command('events').description('print stored events from central, oldest first')))
    .option('--since <when>', 'from this time: a duration ago (1h, 7d) or an RFC 3339 time')
    .option('--until <when>', 'up to this time: a duration ago or an RFC 3339 time')
    .option('--state <state>', `only finding events in this state (${STATES.join(', ')})`)
    .option('--limit <n>', `the newest N matching (default 1000, at most ${MAX_LIMIT})`)
    .option('--dead-letter', "instead of the log: the events sinks' receivers refused for good, newest first, with the sink and the reason")
    .option('--sink <name>', 'with --dead-letter: only this sink')
    .addOption(outputOption());
  return cmd.action(async (flags: EventsFlags & ConnectionFlags) => {
    const req = eventsRequest(flags);
    const events = await collect('events', flags, io, (c, opts) => c.Events(req, new grpc.Metadata(), opts), connect);
    if (!events) return;
    io.stdout.write(renderEvents(events, flags.output));
    const limit = Number(req.limit) || 1000;
    if (flags.output === 'table' && events.length === limit) io.stderr.write(`nodewarden events: showing the newest ${limit}; narrow the filters or raise --limit to see more\n`);
  });
}

export function findingsCommand(connect: ConnectFn, io: CommandIo = processIo): Command {
  const cmd = addFilterOptions(addConnectionOptions(new Command('findings').description('print the findings open now, per node')))
    .option('--limit <n>', `the newest N open findings (default 1000, at most ${MAX_LIMIT})`)
    .addOption(outputOption());
  return cmd.action(async (flags: FindingsFlags & ConnectionFlags) => {
    const req = findingsRequest(flags);
    const events = await collect('findings', flags, io, (c, opts) => c.Findings(req, new grpc.Metadata(), opts), connect);
    if (events) io.stdout.write(renderFindings(events, flags.output));
  });
}
