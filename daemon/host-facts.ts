// The agent's host facts for SIEM host fields (OS, kernel, architecture, boot time, container
// runtime), gathered once at start and never in a hot path: the OS from the host root's os-release
// (in a container the agent's own /etc is the image's), the kernel, architecture and uptime from
// node:os; systeminformation is loaded only when os-release cannot name the OS. (Loading it costs
// the agent ~8 MB of memory it keeps, and its time() touches ICU's time zone data, ~8 MB more.)

import os from 'node:os';
import type { HostFacts } from '../core/host-facts.js';
import { describeError } from '../core/errors.js';
import type { HostFs } from '../collectors/host/host-fs.js';

/** What systeminformation's osInfo() says, as far as the facts use it. */
export interface OsInfo {
  distro: string;
  release: string;
  platform: string;
  kernel: string;
  arch: string;
}

async function systemOsInfo(): Promise<OsInfo> {
  const si = (await import('systeminformation')).default;
  return si.osInfo();
}

export async function gatherHostFacts(
  hostFs: HostFs | null,
  runtime: () => string,
  warn: (msg: string) => void,
  /** Asked only when os-release cannot name the OS (tests replace it). */
  osInfo: () => Promise<OsInfo> = systemOsInfo,
): Promise<HostFacts> {
  const facts: HostFacts = {
    hostname: os.hostname(),
    os: { name: '', version: '', family: '', platform: process.platform },
    kernel: os.release(),
    architecture: os.machine(),
    bootTime: Date.now() - os.uptime() * 1000,
    containerRuntime: runtime(),
  };
  const release = hostFs ? await readOsRelease(hostFs) : null;
  if (!release?.NAME || !release.VERSION_ID || !release.ID) {
    try {
      // systeminformation runs commands: one that hangs must not keep the agent from shipping.
      const info = await Promise.race([
        osInfo(),
        new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref()),
      ]);
      facts.os = { name: info.distro, version: info.release, family: '', platform: info.platform };
      facts.kernel = info.kernel || facts.kernel;
      facts.architecture = info.arch === 'x64' ? 'x86_64' : info.arch === 'arm64' ? 'aarch64' : info.arch || facts.architecture;
    } catch (err) {
      warn(`The host's OS facts could not be read (${describeError(err)}); events carry the kernel and architecture only.`);
    }
  }
  // The host's os-release under the host root wins over what systeminformation read.
  if (release) {
    facts.os.name = release.NAME ?? facts.os.name;
    facts.os.version = release.VERSION_ID ?? facts.os.version;
    facts.os.family = release.ID ?? facts.os.family;
  } else if (!facts.os.family) {
    facts.os.family = facts.os.name.split(/\s/)[0]?.toLowerCase() ?? '';
  }
  return facts;
}

async function readOsRelease(hostFs: HostFs): Promise<Record<string, string> | null> {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      const text = (await hostFs.readFile(p, 64 * 1024)).toString('utf8');
      const out: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
        if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
      }
      return out;
    } catch {
      // absent here: try the next
    }
  }
  return null;
}
