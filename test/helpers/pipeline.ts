// Builds configs and waits for conditions in tests of the agent → central pipeline.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../core/config.js';
import { nodewarden } from '../../gen/nodewarden.js';
import type { EventLog } from '../../central/event-log.js';

export const quietLogger = pino({ level: process.env.NW_TEST_LOG ?? 'silent' });

/** Temporary folders made by this test process, removed when it exits (tests leave nothing behind). */
const made = new Set<string>();
process.once('exit', () => {
  for (const d of made) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // still in use (a mount a test left behind): the next boot's tmp cleaning takes it
    }
  }
});

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `nw-${prefix}-`));
  made.add(dir);
  return dir;
}

/** A config for tests: loopback ports chosen by the kernel, every collector off unless enabled. */
export function testConfig(overrides: Record<string, unknown>): Config {
  const off = { posture: { enabled: false }, runtime: { enabled: false }, process: { enabled: false }, kube: { enabled: false } };
  const collectors = { ...off, ...(overrides['agent.collectors'] as Record<string, unknown> | undefined) };
  return loadConfig({ env: {}, overrides: { node: 'test-node', insecure: true, 'central.http': '127.0.0.1:0', 'agent.http': '127.0.0.1:0', ...overrides, 'agent.collectors': collectors } });
}

/** A test config for agent and central on loopback: state under `dir`, central on `port`. */
export function pipelineConfig(dir: string, port: number, overrides: Record<string, unknown> = {}): Config {
  return testConfig({
    stateDir: path.join(dir, 'agent'), 'central.dataDir': path.join(dir, 'central'),
    'central.listen': `127.0.0.1:${port}`, 'agent.central': `127.0.0.1:${port}`,
    ...overrides,
  });
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every stored event, decoded, oldest first. */
export function storedEvents(log: EventLog, q: Parameters<EventLog['query']>[0] = {}): nodewarden.v1.Event[] {
  return log.query({ limit: 1_000_000, ...q }).map((r) => nodewarden.v1.Event.decode(r.body));
}

/**
 * Listen on a port below the kernel's ephemeral range (32768 and up by default), which no
 * outgoing connection is ever given: for a receiver that goes down and comes back on the same
 * port. A port from the ephemeral range was once taken meanwhile by an outgoing connection, and
 * listening again failed with EADDRINUSE.
 */
export async function listenOnStablePort(listen: (port: number) => Promise<unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      await listen(port);
      return port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
    }
  }
}

/** A port below the ephemeral range that is free now, for a server another process will start (and may restart). */
export async function stablePort(): Promise<number> {
  const net = await import('node:net');
  const s = net.createServer();
  const port = await listenOnStablePort((p) => new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(p, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  }));
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A free loopback port (bound and released). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as import('node:net').AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A small kubeadm-like worker tree (a host root) with kubelet.conf at mode 600 and a kubelet config file. */
export function kubeletHostTree(prefix = 'host'): string {
  const root = tempDir(prefix);
  mkdirSync(path.join(root, 'etc/kubernetes/pki'), { recursive: true });
  mkdirSync(path.join(root, 'var/lib/kubelet'), { recursive: true });
  writeFileSync(path.join(root, 'etc/kubernetes/kubelet.conf'), 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n', { mode: 0o600 });
  writeFileSync(path.join(root, 'var/lib/kubelet/config.yaml'), 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n', { mode: 0o600 });
  chmodSync(path.join(root, 'etc/kubernetes/kubelet.conf'), 0o600);
  return root;
}
