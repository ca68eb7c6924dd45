// A real Prometheus Alertmanager (Debian's prometheus-alertmanager) for the tests, on loopback,
// without gossip, routing every alert to a webhook receiver in the test process that records
// Alertmanager's own notifications (firing and, with send_resolved, resolved).
//
//   test ─POST /api/v2/alerts─▶ alertmanager (temp dir, free port) ─webhook─▶ recorder (notifications)
//
// Not installed: installed with apt-get as root; otherwise the tests skip, except in CI
// (CI=true), where a missing Alertmanager is a failure, not a reason to skip.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { SinkEvent } from '../../central/sinks/sink.js';
import { nodewarden } from '../../gen/nodewarden.js';
import { makeEvent, type EventSpec } from './event-log-fixtures.js';
import { stablePort, waitFor } from './pipeline.js';

const execFileP = promisify(execFile);
export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';

/** One alert in a webhook notification (Alertmanager's webhook payload, version 4). */
export interface NotifiedAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}

export interface Notification {
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  alerts: NotifiedAlert[];
  /** When the recorder received it (ms). */
  receivedAt: number;
}

/** An alert as GET /api/v2/alerts shows it. */
export interface HeldAlert {
  labels: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

export interface AlertmanagerOptions {
  /** global.resolve_timeout: what Alertmanager gives an alert posted without endsAt. */
  resolveTimeout?: string;
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
}

/**
 * Makes sure the binary is there: installs it as root when missing. Returns why the tests must
 * skip, or undefined when they can run; in CI it throws instead of returning a reason.
 */
export async function alertmanagerUnavailable(): Promise<string | undefined> {
  const reason = await ensureInstalled();
  if (reason && process.env.CI === 'true') throw new Error(`Alertmanager is required in CI: ${reason}`);
  return reason;
}

async function ensureInstalled(): Promise<string | undefined> {
  if (existsSync(ALERTMANAGER_BIN)) return undefined;
  if (process.platform !== 'linux') return 'prometheus-alertmanager is a Debian package: Linux only';
  if (process.getuid?.() !== 0) return `${ALERTMANAGER_BIN} is missing and only root can apt-get install prometheus-alertmanager`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileP('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus-alertmanager'], { env, timeout: 300_000 });
  try {
    await install().catch(async () => {
      // Package lists may be missing (a fresh container): fetch them once and try again.
      await execFileP('apt-get', ['update'], { env, timeout: 300_000 });
      await install();
    });
  } catch (err) {
    return `prometheus-alertmanager could not be installed: ${String((err as Error).message).trim()}`;
  }
  return existsSync(ALERTMANAGER_BIN) ? undefined : `${ALERTMANAGER_BIN} is still missing after apt-get install`;
}

export class AlertmanagerProcess {
  private stopped = false;

  constructor(
    /** The base URL to give the sink, e.g. http://127.0.0.1:40123. */
    readonly url: string,
    /** Every webhook notification received so far, in order. */
    readonly notifications: Notification[],
    private readonly child: ChildProcess,
    private readonly receiver: http.Server,
    private readonly dir: string,
    private readonly stderr: () => string,
  ) {}

  /** The alerts Alertmanager holds now (active, and resolved ones until garbage-collected). */
  async alerts(): Promise<HeldAlert[]> {
    const res = await fetch(`${this.url}/api/v2/alerts`);
    if (!res.ok) throw new Error(`GET /api/v2/alerts answered ${res.status}`);
    return (await res.json()) as HeldAlert[];
  }

  /** The first notification (already received or still to come) that `match` accepts. */
  async notification(what: string, match: (n: Notification) => boolean, timeoutMs = 15_000): Promise<Notification> {
    return waitFor(what, () => this.notifications.find(match), timeoutMs, 50);
  }

  /** Idempotent: stops Alertmanager and the receiver, removes the temporary folder. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    this.receiver.closeAllConnections();
    await new Promise<void>((resolve) => this.receiver.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** What Alertmanager wrote on stderr (its log), for failure messages. */
  log(): string {
    return this.stderr();
  }
}

/** Starts an Alertmanager with its own webhook recorder; the caller stops it (t.teardown). */
export async function startAlertmanager(opts: AlertmanagerOptions = {}): Promise<AlertmanagerProcess> {
  let lastError: unknown;
  // A free port can be taken between finding it and Alertmanager binding it: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(opts: AlertmanagerOptions): Promise<AlertmanagerProcess> {
  const notifications: Notification[] = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<Notification, 'receivedAt'>;
        notifications.push({ status: body.status, groupLabels: body.groupLabels, alerts: body.alerts, receivedAt: Date.now() });
      } catch {
        // Not a notification: answer anyway, the test sees nothing recorded.
      }
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookPort = (receiver.address() as AddressInfo).port;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-alertmanager-'));
  const config = path.join(dir, 'alertmanager.yml');
  writeFileSync(config, [
    'global:',
    `  resolve_timeout: ${opts.resolveTimeout ?? '5s'}`,
    'route:',
    '  receiver: recorder',
    '  group_by: [alertname, node]',
    `  group_wait: ${opts.groupWait ?? '1s'}`,
    `  group_interval: ${opts.groupInterval ?? '1s'}`,
    `  repeat_interval: ${opts.repeatInterval ?? '1h'}`,
    'receivers:',
    '  - name: recorder',
    '    webhook_configs:',
    `      - url: http://127.0.0.1:${hookPort}/hook`,
    '        send_resolved: true',
    '',
  ].join('\n'));

  // Below the ephemeral range: no outgoing connection takes it before Alertmanager binds it.
  const port = await stablePort();
  const child = spawn(ALERTMANAGER_BIN, [
    `--config.file=${config}`,
    `--storage.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=', // no gossip: nothing listens beyond this one port
    '--log.level=info',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    stderr = (stderr + s).slice(-16_384);
  });
  const am = new AlertmanagerProcess(`http://127.0.0.1:${port}`, notifications, child, receiver, dir, () => stderr);
  try {
    await waitFor('Alertmanager to be ready', async () => {
      if (spawnError) throw spawnError;
      if (child.exitCode !== null) throw new Error(`Alertmanager exited (${child.exitCode}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const res = await fetch(`${am.url}/-/ready`).catch(() => undefined);
      return res?.status === 200;
    }, 20_000, 50);
  } catch (err) {
    await am.stop();
    throw err;
  }
  return am;
}

/**
 * A SinkEvent as central hands it to a sink: `makeEvent`'s event with the extra fields given
 * (contexts, CIS id, remediation), at log position `rowid`.
 */
export function sinkEvent(rowid: number, spec: EventSpec, extra: nodewarden.v1.IEvent = {}): SinkEvent {
  const event = makeEvent('agent-a', rowid, spec).event;
  Object.assign(event, extra);
  return { rowid, event, bytes: Buffer.from(nodewarden.v1.Event.encode(event).finish()) };
}
