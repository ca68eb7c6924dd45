// The agent's host facts for SIEM host fields (OS, kernel, architecture, boot time, container
// runtime), gathered once at start with systeminformation, read from the host root's os-release
// when the agent runs in a container (its own /etc is the image's), and never in a hot path.

import os from 'node:os';
import type { HostFacts } from '../core/host-facts.js';
import { describeError } from '../core/errors.js';
import type { HostFs } from '../collectors/host/host-fs.js';

export async function gatherHostFacts(hostFs: HostFs | null, runtime: () => string, warn: (msg: string) => void): Promise<HostFacts> {
  const facts: HostFacts = {
    hostname: os.hostname(),
    os: { name: '', version: '', family: '', platform: process.platform },
    kernel: os.release(),
    architecture: os.machine(),
    bootTime: Date.now() - os.uptime() * 1000,
    containerRuntime: runtime(),
  };
  try {
    // Loaded here only: it is large, and nothing else in the agent needs it.
    const si = (await import('systeminformation')).default;
    // systeminformation runs commands: one that hangs must not keep the agent from shipping.
    const info = await Promise.race([
      si.osInfo(),
      new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5_000).unref()),
    ]);
    facts.os = { name: info.distro, version: info.release, family: '', platform: info.platform };
    facts.kernel = info.kernel || facts.kernel;
    facts.architecture = info.arch === 'x64' ? 'x86_64' : info.arch === 'arm64' ? 'aarch64' : info.arch || facts.architecture;
    const time = si.time();
    if (Number(time.uptime) > 0) facts.bootTime = Date.now() - Number(time.uptime) * 1000;
  } catch (err) {
    warn(`The host's OS facts could not be read (${describeError(err)}); events carry the kernel and architecture only.`);
  }
  // In a DaemonSet the container's /etc describes the image, not the node: the host's
  // os-release under the host root wins when it can be read.
  const release = hostFs ? await readOsRelease(hostFs) : null;
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
