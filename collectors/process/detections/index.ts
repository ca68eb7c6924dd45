// The built-in exec detections, in the order they are evaluated. Each returns at most one
// detection per exec; an exec may match several detectors (a miner run from /tmp).

import type { Detection, Detector, ExecSubject } from './detector.js';
import { SHELLS, basename, commandLine } from './detector.js';
import { UNKNOWN_ID } from '../sources/exec-source.js';

const PACKAGE_MANAGERS = new Set(['apt', 'apt-get', 'aptitude', 'dpkg', 'yum', 'dnf', 'microdnf', 'rpm', 'apk', 'zypper', 'pacman', 'pip', 'pip3', 'gem', 'npm', 'yarn']);
const NETWORK_TOOLS = new Set(['nc', 'ncat', 'netcat', 'socat', 'nmap', 'masscan', 'zmap', 'telnet', 'tcpdump']);
const DOWNLOADERS = new Set(['curl', 'wget']);
const ADMIN_TOOLS = new Set(['kubectl', 'crictl', 'ctr', 'nerdctl', 'docker', 'runc', 'helm']);
const MINERS = new Set(['xmrig', 'xmr-stak', 'minerd', 'cpuminer', 'cgminer', 'bfgminer', 'ethminer', 'nbminer', 't-rex', 'lolminer', 'phoenixminer', 'nanominer', 'teamredminer', 'gminer', 'xmrig-notls']);
const MINER_ARGS = /stratum\+(tcp|ssl|tls):\/\/|--donate-level|--coin[= ](monero|xmr)|nicehash\.com|minexmr|supportxmr|moneroocean/i;
const WRITABLE_DIRS = ['/tmp/', '/dev/shm/', '/var/tmp/', '/run/user/', '/dev/mqueue/'];

/** In a container and not its entrypoint. Checked after the cheap name tests: it may read /proc. */
function inContainer(s: ExecSubject): boolean {
  return s.inContainer && !s.isContainerInit;
}

function where(s: ExecSubject): string {
  const c = s.container;
  if (c && c.namespace) return `in ${c.namespace}/${c.pod}/${c.name}`;
  if (s.containerId) return `in container ${s.containerId.slice(0, 12)}`;
  return 'on the host';
}

const shell: Detector = {
  id: 'exec-shell-in-container',
  detect(s) {
    if (!SHELLS.has(s.name) || !inContainer(s)) return null;
    return {
      ruleId: this.id, title: 'A shell started in a container', severity: 'medium', mitre: ['T1059.004'],
      message: `${s.name} started ${where(s)}: ${commandLine(s.exec)}. Containers rarely need an interactive shell; someone may be exploring or running commands.`,
      evidence: `exe ${s.exec.exe}, argv ${JSON.stringify(s.exec.argv.slice(0, 8))}, parent ${s.parent?.exe ?? `pid ${s.exec.ppid}`}`,
      remediation: 'Find who ran it (kubectl exec audit logs, the parent process); remove shells from production images.',
    };
  },
};

const packageManager: Detector = {
  id: 'exec-package-manager-in-container',
  detect(s) {
    if (!PACKAGE_MANAGERS.has(s.name) || !inContainer(s)) return null;
    return {
      ruleId: this.id, title: 'A package manager ran in a container', severity: 'medium', mitre: ['T1105'],
      message: `${s.name} ran ${where(s)}: ${commandLine(s.exec)}. Running containers should be immutable; installing software at run time is how tools get brought in.`,
      evidence: `argv ${JSON.stringify(s.exec.argv.slice(0, 8))}`,
      remediation: 'Build what the container needs into its image; investigate who installed what.',
    };
  },
};

const networkTool: Detector = {
  id: 'exec-network-tool-in-container',
  detect(s) {
    const tool = NETWORK_TOOLS.has(s.name);
    const downloader = DOWNLOADERS.has(s.name);
    if ((!tool && !downloader) || !inContainer(s)) return null;
    return {
      ruleId: this.id, title: tool ? 'A network tool ran in a container' : 'A downloader ran in a container',
      severity: tool ? 'high' : 'medium', mitre: s.name === 'nmap' || s.name === 'masscan' || s.name === 'zmap' ? ['T1046'] : ['T1105'],
      message: `${s.name} ran ${where(s)}: ${commandLine(s.exec)}. ${tool ? 'Raw network tools are used for reverse shells, scanning and tunnelling.' : 'Fetching files at run time is how attackers bring in tools.'}`,
      evidence: `argv ${JSON.stringify(s.exec.argv.slice(0, 8))}`,
      remediation: 'If this workload is expected to run it, add an allow entry for it; otherwise investigate and remove the tool from the image.',
    };
  },
};

const miner: Detector = {
  id: 'exec-crypto-miner',
  detect(s) {
    const byName = MINERS.has(s.name) || MINERS.has(s.exeName);
    const args = s.exec.argv.slice(1).join(' ');
    const byArgs = MINER_ARGS.test(args);
    if (!byName && !byArgs) return null;
    return {
      ruleId: this.id, title: 'A crypto miner started', severity: 'critical', mitre: ['T1496'],
      message: `A process that looks like a crypto miner started ${where(s)}: ${commandLine(s.exec)}.`,
      evidence: byName ? `known miner name ${s.name}` : `mining pool arguments: ${args.match(MINER_ARGS)?.[0] ?? ''}`,
      remediation: 'Kill the workload, find how it got there (image, exec, compromised credentials), and rotate credentials it could reach.',
    };
  },
};

const writablePath: Detector = {
  id: 'exec-from-writable-path',
  detect(s) {
    const exe = s.exec.exe;
    const dir = WRITABLE_DIRS.find((d) => exe.startsWith(d));
    if (!dir) return null;
    return {
      ruleId: this.id, title: 'A program ran from a writable temporary directory', severity: 'high', mitre: ['T1059', 'T1036.005'],
      message: `${exe} ran ${where(s)}. Programs are installed in read-only system paths; one run from ${dir} was most likely dropped there at run time.`,
      evidence: `exe ${exe}, argv ${JSON.stringify(s.exec.argv.slice(0, 8))}`,
      remediation: `Inspect and remove the file; mount ${dir} noexec where possible.`,
    };
  },
};

const drift: Detector = {
  id: 'exec-binary-not-in-image',
  detect(s) {
    if (!inContainer(s)) return null;
    if (s.binaryDrift() !== true) return null;
    return {
      ruleId: this.id, title: 'A program that is not part of the image ran in a container', severity: 'high', mitre: ['T1105', 'T1525'],
      message: `${s.exec.exe} ran ${where(s)}, and the file was written after the container started: it is not part of the image.`,
      evidence: `exe ${s.exec.exe} changed after the container's start`,
      remediation: 'Make the root filesystem read-only (readOnlyRootFilesystem: true); investigate how the file was written.',
    };
  },
};

const reverseShell: Detector = {
  id: 'exec-reverse-shell',
  detect(s) {
    if (!SHELLS.has(s.name) || !s.exec.stdio) return null;
    const { stdin, stdout } = s.exec.stdio;
    if (!stdin.startsWith('socket:') && !stdout.startsWith('socket:')) return null;
    return {
      ruleId: this.id, title: 'A shell with its input or output on a network socket (reverse shell)', severity: 'critical', mitre: ['T1059.004', 'T1071'],
      message: `${s.name} started ${where(s)} with stdin ${stdin} and stdout ${stdout}: a shell wired to a socket is the signature of a reverse shell.`,
      evidence: `stdin ${stdin}, stdout ${stdout}, argv ${JSON.stringify(s.exec.argv.slice(0, 8))}`,
      remediation: 'Isolate the pod, capture its network connections, and find the entry point.',
    };
  },
};

const containerAdmin: Detector = {
  id: 'exec-container-admin-tool-in-container',
  detect(s) {
    if (!ADMIN_TOOLS.has(s.name) || !inContainer(s)) return null;
    return {
      ruleId: this.id, title: 'A cluster or runtime admin tool ran in a container', severity: 'high', mitre: ['T1609', 'T1613'],
      message: `${s.name} ran ${where(s)}: ${commandLine(s.exec)}. From inside a container these tools are used to reach the API server or the runtime and move laterally.`,
      evidence: `argv ${JSON.stringify(s.exec.argv.slice(0, 8))}`,
      remediation: "Check the pod's service account permissions and whether the runtime socket is mounted; remove the tool from the image.",
    };
  },
};

const privilegeGain: Detector = {
  id: 'exec-privilege-escalation',
  detect(s) {
    const e = s.exec;
    if (e.euid !== 0) return null;
    // An id the kernel or /proc did not give us (4294967295) proves nothing either way.
    const known = (id: number | undefined): id is number => id !== undefined && id >= 0 && id !== UNKNOWN_ID;
    const parentEuid = s.parent?.euid;
    const fromUser = (known(e.uid) && e.uid !== 0) || (known(parentEuid) && parentEuid !== 0);
    if (!fromUser) return null;
    return {
      ruleId: this.id, title: 'A process gained root (effective uid 0) from a non-root user', severity: 'high', mitre: ['T1548.001'],
      message: `${e.exe} ran ${where(s)} with effective uid 0 while ${e.uid !== 0 ? `its real uid is ${e.uid}` : `its parent ran as uid ${parentEuid}`}: a setuid binary or an exploit raised its privileges.`,
      evidence: `uid ${e.uid}, euid ${e.euid}, parent euid ${parentEuid ?? 'unknown'}, exe ${e.exe}`,
      remediation: 'Set allowPrivilegeEscalation: false and drop setuid binaries from images; investigate the parent process.',
    };
  },
};

export const DETECTORS: readonly Detector[] = [miner, reverseShell, shell, packageManager, networkTool, containerAdmin, writablePath, drift, privilegeGain];

export function detectAll(s: ExecSubject): Detection[] {
  const out: Detection[] = [];
  for (const d of DETECTORS) {
    const hit = d.detect(s);
    if (hit) out.push(hit);
  }
  return out;
}

export { basename };
