#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --single-threaded-gc --max-semi-space-size=2 --heap-growing-percent=50
// The `nodewarden` command: agent, central, run (both in one process: the quick start), tail
// (live events from central), events and findings (history and what is open, from central),
// check (every posture check once, kube-bench style) and certs (a CA and certificates for mTLS).
// Logs are JSON (pino) on stderr; what a person reads goes to stdout.

import './v8-settings.js'; // first: it may restart node with the flags the agent needs
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../core/config.js';
import { formatEvent } from './format-event.js';
import { eventToJson } from '../core/event.js';
import { FeedClient } from '../core/wire/services.js';
import { addConnectionOptions, connect, describeCallError, type ConnectionFlags } from './central-connection.js';
import { certsCommand } from './certs.js';
import { eventsCommand, findingsCommand } from './query.js';
import { rulesCommand } from './rules.js';
import { baselinesCommand } from './baselines.js';
import { filterRequest, addFilterOptions, parseState, type FilterFlags } from './event-filters.js';
import { nodewarden } from '../gen/nodewarden.js';
import { VERSION } from '../core/version.js';
import { NwError, describeError } from '../core/errors.js';


interface CommonFlags {
  config?: string;
  hostRoot?: string;
  stateDir?: string;
  node?: string;
  logLevel?: string;
  insecure?: boolean;
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML configuration file')
    .option('--host-root <dir>', 'where the host filesystem is mounted (default /)')
    .option('--state-dir <dir>', 'spool, identity and finding state')
    .option('--node <name>', 'node name put on every event (default: hostname)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']));
}

/** User rule folders, read after the built-in packs (repeatable; added to rules.dirs). */
function rulesOption(cmd: Command): Command {
  return cmd.option('--rules <dir>', 'a folder of rule packs, read after the built-in ones (repeatable)', (v: string, prev: string[] = []) => [...prev, v]);
}

/** Plaintext gRPC, only when asked for by name. */
function insecureOption(cmd: Command): Command {
  return cmd.option('--insecure', 'plaintext gRPC without identities (logged as a warning and shown in /readyz)');
}

function config(flags: CommonFlags, overrides: Record<string, unknown>): Config {
  return loadConfig({
    file: flags.config,
    env: process.env,
    overrides: { hostRoot: flags.hostRoot, stateDir: flags.stateDir, node: flags.node, logLevel: flags.logLevel, insecure: flags.insecure, ...overrides },
  });
}

function logger(cfg: Config): Logger {
  return pino({ level: cfg.logLevel, base: { node: cfg.node } }, pino.destination({ dest: 2, sync: false }));
}

/** Start parts in order, stop them in reverse on SIGINT/SIGTERM; a second signal exits at once. */
function runUntilSignal(log: Logger, parts: { stop: () => Promise<void> }[]): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(130);
    stopping = true;
    log.info({ signal }, 'Stopping.');
    void (async () => {
      for (const p of [...parts].reverse()) await p.stop().catch((err) => log.error({ err: describeError(err) }, 'A part failed to stop cleanly.'));
      log.flush();
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('nodewarden')
    .description('Node-level runtime security monitor for Kubernetes.')
    .version(VERSION);

  rulesOption(insecureOption(commonOptions(program.command('agent').description('run the node agent: collectors → spool → central')))
    .option('--central <host:port>', "central's Ingest address")
    .option('--http <host:port>', 'listen address for /metrics, /healthz, /readyz')
    .option('--cri-socket <path>', 'container runtime socket, as a host path (default: found automatically)')
    .option('--tls-ca <file>', "CA bundle that signed central's certificate")
    .option('--tls-cert <file>', "this node's client certificate (its CN or DNS name is the node name)")
    .option('--tls-key <file>', "the client certificate's key")
    .option('--tls-server-name <name>', "the name central's certificate carries, when it differs from --central's host")
    .option('--token <file>', 'projected service account token file (audience nodewarden): the node proven through Kubernetes')
    .option('--kubeconfig <file>', 'kubeconfig for the API server: this node\'s pods and Node object, the PolicyReport (default: in-cluster, then $KUBECONFIG)'))
    .action(async (flags: CommonFlags & { central?: string; http?: string; criSocket?: string; tlsCa?: string; tlsCert?: string; tlsKey?: string; tlsServerName?: string; token?: string; kubeconfig?: string; rules?: string[] }) => {
      const cfg = config(flags, {
        'kube.kubeconfig': flags.kubeconfig,
        'agent.central': flags.central, 'agent.http': flags.http, 'agent.collectors.runtime.socket': flags.criSocket,
        'agent.tls.ca': flags.tlsCa, 'agent.tls.cert': flags.tlsCert, 'agent.tls.key': flags.tlsKey, 'agent.tls.serverName': flags.tlsServerName, 'agent.token': flags.token,
      });
      cfg.rules.dirs.push(...(flags.rules ?? []));
      const log = logger(cfg);
      // Each command loads only what it runs: the agent never loads SQLite or central's code.
      const { Agent } = await import('../daemon/agent.js');
      const agent = new Agent(cfg, log);
      await agent.start();
      runUntilSignal(log, [agent]);
    });

  insecureOption(commonOptions(program.command('central').description('run the central collector: ingest → event log → sinks, feed, query')))
    .option('--listen <host:port>', 'Ingest (and, without --read-listen, Feed and Query) gRPC listen address')
    .option('--read-listen <host:port>', 'Feed and Query on an address of their own')
    .option('--http <host:port>', 'listen address for /metrics, /healthz, /readyz')
    .option('--data-dir <dir>', 'where the event log lives')
    .option('--jsonl <file>', "append every stored event to FILE as JSON lines ('-' for stdout)")
    .option('--tls-cert <file>', "central's certificate (nodewarden certs server)")
    .option('--tls-key <file>', "its key")
    .option('--tls-client-ca <file>', 'CA of the client certificates of nodes and operators')
    .option('--kubeconfig <file>', 'kubeconfig for TokenReview (default: in-cluster, then $KUBECONFIG)')
    .option('--token-review', 'verify agent and reader tokens with the TokenReview API (default: on in a cluster or with a kubeconfig)')
    .option('--no-token-review', 'do not verify tokens: only client certificates identify peers')
    .option('--token-audience <audience>', 'the audience agent tokens must carry (default nodewarden)')
    .option('--token-service-account <namespace:name...>', "the agents' service accounts (repeatable; replaces the configured list)")
    .option('--token-reader <who...>', 'who may read with a token: a user, NAMESPACE:NAME or group:NAME (repeatable; replaces the configured list)')
    .action(async (flags: CommonFlags & {
      listen?: string; readListen?: string; http?: string; dataDir?: string; jsonl?: string; tlsCert?: string; tlsKey?: string; tlsClientCa?: string; kubeconfig?: string;
      tokenReview?: boolean; tokenAudience?: string; tokenServiceAccount?: string[]; tokenReader?: string[];
    }) => {
      const cfg = config(flags, {
        'central.listen': flags.listen, 'central.readListen': flags.readListen, 'central.http': flags.http, 'central.dataDir': flags.dataDir, 'central.jsonl': flags.jsonl,
        'central.tls.cert': flags.tlsCert, 'central.tls.key': flags.tlsKey, 'central.tls.clientCa': flags.tlsClientCa, 'kube.kubeconfig': flags.kubeconfig,
        'central.tokenReview.enabled': flags.tokenReview, 'central.tokenReview.audience': flags.tokenAudience,
        'central.tokenReview.serviceAccounts': flags.tokenServiceAccount, 'central.tokenReview.readers': flags.tokenReader,
      });
      const log = logger(cfg);
      const { Central } = await import('../central/central.js');
      const central = new Central(cfg, log);
      await central.start();
      runUntilSignal(log, [central]);
    });

  rulesOption(insecureOption(commonOptions(program.command('run').description('agent and an embedded central in one process, printing findings to the terminal (the quick start)')))
    .option('--listen <host:port>', 'embedded central listen address', '127.0.0.1:7443')
    .option('--http <host:port>', "the agent's /metrics, /healthz, /readyz", '127.0.0.1:9464')
    .option('--central-http <host:port>', "central's /metrics, /healthz, /readyz", '127.0.0.1:9465')
    .option('--jsonl <file>', "append every stored event to FILE as JSON lines ('-' for stdout)")
    .option('--cri-socket <path>', 'container runtime socket, as a host path (default: found automatically)')
    .option('--kubeconfig <file>', 'kubeconfig for the API server (default: in-cluster, then $KUBECONFIG)')
    .option('--quiet', 'do not print events to the terminal'))
    .action(async (flags: CommonFlags & { listen: string; http: string; centralHttp: string; jsonl?: string; quiet?: boolean; criSocket?: string; kubeconfig?: string; rules?: string[] }) => {
      const stateDir = flags.stateDir ?? process.env.NODEWARDEN_STATE_DIR ?? path.resolve('.nodewarden');
      const cfg = config({ ...flags, stateDir }, {
        'central.listen': flags.listen,
        'central.http': flags.centralHttp,
        'central.dataDir': path.join(stateDir, 'central'),
        'central.jsonl': flags.jsonl,
        'agent.http': flags.http,
        'agent.collectors.runtime.socket': flags.criSocket,
        'kube.kubeconfig': flags.kubeconfig,
      });
      cfg.rules.dirs.push(...(flags.rules ?? []));
      // Agent and central share this process and talk over loopback: plaintext is safe there and
      // nowhere else, so a wider --listen needs TLS configured or an explicit --insecure.
      if (!cfg.insecure && !isLoopback(cfg.central.listen)) {
        throw new NwError('NW_ERR_CONFIG', `run listens on ${cfg.central.listen} in plaintext; keep it on 127.0.0.1 or pass --insecure to mean it`);
      }
      cfg.insecure = true;
      const log = logger(cfg);
      const [{ Agent }, { Central }] = await Promise.all([import('../daemon/agent.js'), import('../central/central.js')]);
      const central = new Central(cfg, log, {
        onEvent: flags.quiet ? undefined : (events) => {
          for (const e of events) process.stdout.write(formatEvent(e.event) + '\n');
        },
      });
      await central.start();
      const port = central.port;
      const agent = new Agent({ ...cfg, agent: { ...cfg.agent, central: `127.0.0.1:${port}` } }, log);
      await agent.start();
      process.stdout.write(`nodewarden ${VERSION} watching node ${cfg.node} (host root ${cfg.hostRoot}); findings appear below. Ctrl-C stops.\n`);
      for (const s of agent.collectorStatuses()) process.stdout.write(`  ${s.name}: ${s.healthy ? '' : 'NOT HEALTHY: '}${s.detail}\n`);
      runUntilSignal(log, [central, agent]);
    });

  addFilterOptions(addConnectionOptions(program.command('tail').description('print live events from central as they are stored')))
    .addOption(new Option('--min-severity <level>', 'the older name of --severity').choices(['info', 'low', 'medium', 'high', 'critical']).hideHelp())
    .option('--state <state>', 'only findings in this state (open, resolved)')
    .option('--replay <n>', 'first print the last N stored matching events', '0')
    .option('--json', 'print each event as one JSON line')
    .action((flags: TailFlags) => tail(flags));

  program.addCommand(eventsCommand(connect));
  program.addCommand(findingsCommand(connect));
  program.addCommand(certsCommand());
  program.addCommand(rulesCommand());
  program.addCommand(baselinesCommand());

  rulesOption(program.command('check'))
    .description('run every posture check once and print the result; exits 1 when a check fails')
    .option('--host-root <dir>', 'where the host filesystem is mounted', '/')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'junit']).default('table'))
    .option('--cri-socket <path>', 'container runtime socket, as a host path (default: found automatically)')
    .option('--node <name>', 'node name used in findings', os.hostname())
    .option('--strict', 'warnings (Manual checks not met, certificates about to expire) make the exit code 1 too')
    .addOption(new Option('--benchmark <version>', "CIS benchmark version (default: the one for the node's Kubernetes version)").choices(['auto', 'cis-1.10', 'cis-1.12']).default('auto'))
    .action(async (flags: { hostRoot: string; format: 'table' | 'json' | 'junit'; criSocket?: string; node: string; rules?: string[]; strict?: boolean; benchmark: 'auto' | 'cis-1.10' | 'cis-1.12' }) => {
      const { runCheck } = await import('./check.js');
      process.exitCode = await runCheck(flags);
    });

  await program.parseAsync(argv);
}

type TailFlags = ConnectionFlags & FilterFlags & { minSeverity?: string; state?: string; replay: string; json?: boolean };

function tail(flags: TailFlags): void {
  const Ctor = FeedClient as unknown as new (a: string, c: grpc.ChannelCredentials, o: grpc.ChannelOptions) => grpc.Client & {
    Subscribe: (req: nodewarden.v1.ISubscribeRequest) => grpc.ClientReadableStream<nodewarden.v1.FeedMessage>;
  };
  const filters = filterRequest({ ...flags, severity: flags.severity ?? flags.minSeverity });
  const conn = connect(flags as unknown as Record<string, unknown>);
  const client = new Ctor(conn.address, conn.credentials, conn.options);
  const stream = client.Subscribe({
    minSeverity: filters.minSeverity,
    sources: filters.sources,
    ruleIds: filters.ruleIds,
    namespaces: filters.namespaces,
    nodes: filters.nodes,
    state: flags.state ? parseState(flags.state) : 0,
    replay: Number(flags.replay) || 0,
  });
  stream.on('data', (m: nodewarden.v1.FeedMessage) => {
    if (m.event) {
      const ev = m.event as nodewarden.v1.Event;
      process.stdout.write((flags.json ? JSON.stringify(eventToJson(ev)) : formatEvent(ev)) + '\n');
    } else if (m.dropped) {
      process.stderr.write(`nodewarden tail: ${String(m.dropped.count)} events were dropped because this terminal could not keep up\n`);
    }
  });
  stream.on('error', (err: grpc.ServiceError) => {
    if (err.code === grpc.status.CANCELLED) return;
    process.stderr.write(`nodewarden tail: ${describeCallError(err, flags)}\n`);
    process.exitCode = 1;
  });
  stream.on('end', () => client.close());
  process.on('SIGINT', () => {
    stream.cancel();
    client.close();
  });
}

function isLoopback(listen: string): boolean {
  const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`nodewarden: ${err instanceof NwError ? err.message : (err as Error).stack ?? describeError(err)}\n`);
  process.exit(2);
});
