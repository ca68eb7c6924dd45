// Which CIS Kubernetes Benchmark version a node is judged against. Asked for by name
// (`check --benchmark`, the posture collector's `benchmark` setting), or picked from the node's
// Kubernetes version as kube-bench does: the control plane's image tag in the API server's static
// pod manifest, else what the kubelet binary says of itself (`kubelet --version`, run through
// /proc/<pid>/exe with a short timeout and a bounded output), else the newest version carried.

import { execFile } from 'node:child_process';
import path from 'node:path';
import type { HostView } from './host-view.js';
import { BENCHMARKS, type Benchmark, type Discovery } from './types.js';

export type BenchmarkChoice = Benchmark | 'auto';

const NEWEST: Benchmark = 'cis-1.12';
const VERSION_TIMEOUT_MS = 2000;
const VERSION_MAX_BYTES = 4096;

/** Kubernetes minor version → benchmark: 1.32 and later are CIS 1.12; earlier ones CIS 1.10. */
export function benchmarkForVersion(major: number, minor: number): Benchmark {
  return major > 1 || minor >= 32 ? 'cis-1.12' : 'cis-1.10';
}

export function isBenchmark(s: string): s is Benchmark {
  return (BENCHMARKS as readonly string[]).includes(s);
}

/** "v1.33.0" (or "1.33") in a text → [major, minor]. */
export function parseKubeVersion(text: string): [number, number] | undefined {
  const m = /\bv?(\d+)\.(\d+)(?:\.\d+)?/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** kubelet --version answers per process (pid and command line), asked once. */
const kubeletVersions = new Map<string, Promise<string | undefined>>();

export async function chooseBenchmark(view: HostView, discovery: Discovery, requested: BenchmarkChoice = 'auto'): Promise<{ id: Benchmark; reason: string }> {
  if (requested !== 'auto') return { id: requested, reason: `${requested} as configured` };
  const api = discovery.components['kube-apiserver'].manifest;
  if (api.state === 'ok') {
    const tag = /:(v\d+\.\d+[^@\s]*)/.exec(api.image)?.[1];
    const v = tag ? parseKubeVersion(tag) : undefined;
    if (v) return { id: benchmarkForVersion(...v), reason: `Kubernetes ${tag} (the API server's image in ${api.hostPath})` };
  }
  const kubelet = discovery.kubelet.process;
  if (kubelet && (await view.procfs())) {
    const key = `${kubelet.pid}\0${kubelet.argv.join('\0')}`;
    let asked = kubeletVersions.get(key);
    if (!asked) {
      if (kubeletVersions.size > 16) kubeletVersions.clear();
      asked = askVersion(path.join(view.procFs.root, 'proc', String(kubelet.pid), 'exe'));
      kubeletVersions.set(key, asked);
    }
    const text = await asked;
    const v = text ? parseKubeVersion(text) : undefined;
    if (text && v) return { id: benchmarkForVersion(...v), reason: `Kubernetes ${text} (kubelet --version)` };
  }
  return { id: NEWEST, reason: `the node's Kubernetes version is unknown: the newest benchmark carried, ${NEWEST}` };
}

/** `<exe> --version` → "v1.30.2" when it answers like a kubelet ("Kubernetes v1.30.2"). */
function askVersion(exe: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(exe, ['--version'], { timeout: VERSION_TIMEOUT_MS, maxBuffer: VERSION_MAX_BYTES, env: {}, windowsHide: true }, (err, stdout) => {
      if (err) return resolve(undefined);
      resolve(/^Kubernetes (v\d+\.\d+\.\d+\S*)/m.exec(String(stdout))?.[1]);
    });
  });
}
