// A private, real rsyslogd for tests of the syslog sink: imtcp on a loopback port (plain TCP, or
// TLS through the OpenSSL netstream driver), every message it receives written as it was sent
// (`%rawmsg%`, one per line) to a file in a temporary folder.
//
// It never touches a system rsyslog: its own config, pid file (-i) and $WorkDirectory, no
// imuxsock (/dev/log) or imklog, a port chosen free. Where rsyslogd is missing, root installs it
// (Debian's rsyslog and rsyslog-openssl); otherwise the tests skip, except in CI (CI=true),
// where a missing receiver is a failure, not a skip.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { stablePort, tempDir, waitFor } from './pipeline.js';

const run = promisify(execFile);

export type Availability = { ok: true; rsyslogd: string } | { ok: false; reason: string };

function findRsyslogd(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin'];
  return dirs.map((d) => path.join(d, 'rsyslogd')).find((p) => existsSync(p));
}

/** Whether rsyslog has the OpenSSL netstream driver (Debian's rsyslog-openssl). */
function hasOsslDriver(): boolean {
  const roots = ['/usr/lib', '/usr/lib64', '/lib'];
  const candidates = roots.flatMap((r) => {
    const direct = path.join(r, 'rsyslog', 'lmnsd_ossl.so');
    let arch: string[] = [];
    try {
      arch = readdirSync(r).map((d) => path.join(r, d, 'rsyslog', 'lmnsd_ossl.so'));
    } catch {
      // no such root
    }
    return [direct, ...arch];
  });
  return candidates.some((p) => existsSync(p));
}

async function aptInstall(packages: string[]): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Others may hold the dpkg lock (parallel installs): wait for it rather than fail.
  const install = () => run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', ...packages], { env, timeout: 900_000 });
  try {
    await install();
  } catch {
    // A fresh machine (CI) may have no package lists yet.
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], { env, timeout: 900_000 });
    await install();
  }
}

function unavailable(reason: string): Availability {
  if (process.env.CI === 'true') throw new Error(`a real rsyslogd is required in CI: ${reason}`);
  return { ok: false, reason };
}

/**
 * rsyslogd (with the OpenSSL driver when `tls`), installed when missing if we are root.
 * Not ok (a reason to skip) when it cannot be had; throws instead in CI.
 */
export async function ensureRsyslog(opts: { tls?: boolean } = {}): Promise<Availability> {
  const wanted = (): boolean => findRsyslogd() !== undefined && (!opts.tls || hasOsslDriver());
  if (!wanted()) {
    if (process.getuid?.() !== 0) return unavailable('rsyslogd (Debian packages rsyslog, rsyslog-openssl) is not installed and installing it needs root');
    try {
      await aptInstall(['rsyslog', 'rsyslog-openssl']);
    } catch (err) {
      return unavailable(`apt-get install rsyslog rsyslog-openssl failed: ${(err as Error).message}`);
    }
    if (!wanted()) return unavailable('rsyslog was installed but rsyslogd or its OpenSSL driver is still missing');
  }
  return { ok: true, rsyslogd: findRsyslogd()! };
}

export interface RsyslogTls {
  /** PEM files: the CA, the receiver's certificate and key. */
  ca: string;
  cert: string;
  key: string;
}

export interface RsyslogOptions {
  rsyslogd: string;
  /** Listen with TLS (the ossl driver, anonymous clients) using these files. */
  tls?: RsyslogTls;
}

/** A running private rsyslogd and the messages it received. */
export class RsyslogReceiver {
  readonly dir: string;
  /** Every message received, as sent, one per line. */
  readonly file: string;
  port = 0;
  private child: ChildProcess | null = null;
  private output = '';

  constructor(private readonly opts: RsyslogOptions) {
    this.dir = tempDir('rsyslog');
    this.file = path.join(this.dir, 'messages.log');
  }

  get running(): boolean {
    return this.child !== null;
  }

  private config(): string {
    const q = (s: string) => JSON.stringify(s);
    const tls = this.opts.tls;
    const global = [
      `workDirectory=${q(path.join(this.dir, 'work'))}`,
      // rsyslog's default is 8k: the sink sends up to 64 KiB, as receivers are told to allow.
      'maxMessageSize="64k"',
      // rsyslog's default, stated: a control character sent would show as #ooo and fail a test.
      'parser.escapeControlCharactersOnReceive="on"',
      ...(tls ? [`defaultNetstreamDriverCAFile=${q(tls.ca)}`, `defaultNetstreamDriverCertFile=${q(tls.cert)}`, `defaultNetstreamDriverKeyFile=${q(tls.key)}`] : []),
    ];
    const imtcp = tls ? 'module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")' : 'module(load="imtcp")';
    return [
      `global(${global.join(' ')})`,
      imtcp,
      'template(name="nwRaw" type="string" string="%rawmsg%\\n")',
      `ruleset(name="nw") { action(type="omfile" file=${q(this.file)} template="nwRaw") }`,
      `input(type="imtcp" address="127.0.0.1" port="${this.port}" ruleset="nw")`,
      // rsyslogd's own messages go to their own file, never into the received ones.
      `action(type="omfile" file=${q(path.join(this.dir, 'rsyslogd.log'))})`,
      '',
    ].join('\n');
  }

  /** Starts rsyslogd (again on the same port after stop()) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    // Below the ephemeral range: free again for the restart after stop().
    if (this.port === 0) this.port = await stablePort();
    mkdirSync(path.join(this.dir, 'work'), { recursive: true });
    const conf = path.join(this.dir, 'rsyslog.conf');
    writeFileSync(conf, this.config());
    const child = spawn(this.opts.rsyslogd, ['-n', '-f', conf, '-i', path.join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      if (this.child === child) this.child = null;
    });
    try {
      await waitFor('rsyslogd to accept connections', async () => {
        if (exited) throw new Error(`rsyslogd exited at start: ${this.output.trim()}`);
        return accepts(this.port);
      }, 15_000, 50);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** SIGTERM, and waits for it to exit (SIGKILL after 10 s). Safe when not running. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.child = null;
  }

  /** The complete lines received so far, as bytes. */
  lines(): Buffer[] {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch {
      return [];
    }
    const out: Buffer[] = [];
    let start = 0;
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, start)) {
      out.push(buf.subarray(start, i));
      start = i + 1;
    }
    return out;
  }

  async waitForLines(n: number, timeoutMs = 10_000): Promise<Buffer[]> {
    try {
      return await waitFor(`${n} lines from rsyslogd`, () => {
        const lines = this.lines();
        return lines.length >= n ? lines : undefined;
      }, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message} (got ${this.lines().length}); rsyslogd said: ${this.output.trim() || 'nothing'}`);
    }
  }

  /** Stops it and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A started receiver, stopped and removed when the test ends. */
export async function startRsyslog(t: { teardown(fn: () => unknown): void }, opts: RsyslogOptions): Promise<RsyslogReceiver> {
  const r = new RsyslogReceiver(opts);
  t.teardown(() => r.dispose());
  await r.start();
  return r;
}
