// State rules: a collector offers the whole state of a scope (the runtime and every container;
// every posture check result), and every rule of the observation's source that holds is a problem
// of its own — unlike an exec, where the matches are one event. A rule with `each: LIST` is
// evaluated once per element of the list (a container's mounts), each match its own problem.
// The findings made here go through the open/resolved lifecycle (lifecycle.ts).
//
// Fingerprints name the object, not the instance: `<source>:<rule name>:<key>[:<element>]`, where
// the collector's key for a container is namespace/pod/container, so a restarted container (new
// id, same problem) keeps its finding open instead of resolving and re-opening it.

import type { Finding, FindingSource, Severity } from '../core/finding.js';
import { UNKNOWN_ID, type KubeObservation, type MountObservation, type PostureObservation, type RuntimeObservation, type StateObservation } from '../core/observation.js';
import { type CompiledRule, type MatchHooks, type Ruleset } from './ruleset.js';

export interface StateMatch {
  rule: CompiledRule;
  /** The observation as the rule saw it (with its element, for `each` rules). */
  seen: object;
  /** The element's key in the fingerprint, for `each` rules. */
  element?: string;
}

/** Every rule that holds for a state observation (exceptions applied), per element for `each` rules. */
export function matchState(rs: Ruleset, obs: StateObservation, hooks: MatchHooks = {}): StateMatch[] {
  const ix = rs.index.get(obs.kind);
  if (!ix) return [];
  const out: StateMatch[] = [];
  let act: object | null = null;
  const consider = (r: CompiledRule, seen: object, activation: () => object, element?: string) => {
    for (const g of r.guards) if (!g(seen)) return;
    let hit: boolean;
    try {
      hit = r.test(activation());
    } catch (err) {
      hooks.failed?.(r, err);
      return;
    }
    if (!hit) return;
    hooks.matched?.(r);
    if (r.exceptions.some((x) => x.matches(seen))) {
      hooks.excepted?.(r);
      return;
    }
    out.push({ rule: r, seen, element });
  };
  for (const r of ix.always) {
    if (!r.each) {
      consider(r, obs, () => (act ??= rs.prepare(obs.kind, obs)));
      continue;
    }
    const items = (obs as unknown as Record<string, unknown>)[r.each.list];
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      const seen = { ...obs, [r.each.as]: item };
      consider(r, seen, () => rs.prepare(obs.kind, seen), elementKey(item));
    }
  }
  return out;
}

/** What names an element in a fingerprint: a mount by its host path. */
function elementKey(item: unknown): string {
  const m = item as Partial<MountObservation>;
  return typeof m.source === 'string' ? m.source : JSON.stringify(item).slice(0, 256);
}

export function stateFingerprint(rule: CompiledRule, key: string, element?: string): string {
  const name = rule.id.slice(rule.id.indexOf('.') + 1);
  return `${rule.source}:${name}:${key}${element === undefined ? '' : `:${element}`}`;
}

/** The finding a state match is: the rule's words, the observation's facts. */
export function stateFinding(m: StateMatch, obs: StateObservation): Finding {
  const r = m.rule;
  const f: Finding = {
    source: r.source as FindingSource,
    ruleId: r.id,
    severity: r.severity as Severity,
    title: r.title,
    message: r.output(m.seen),
    fingerprint: stateFingerprint(r, obs.key, m.element),
    evidence: r.evidence?.(m.seen) ?? '',
    expected: r.expected?.(m.seen) ?? '',
    remediation: r.remediation(m.seen),
    tags: [...r.tags],
    attributes: { node: obs.node },
  };
  if (r.mitre.length > 0) f.mitre = [...r.mitre];
  if (r.cis) f.cisId = r.cis;
  if (obs.kind === 'runtime') shapeRuntime(f, obs, m);
  else if (obs.kind === 'kube') shapeKube(f, obs);
  else {
    if (obs.file.path) {
      f.file = { path: obs.file.path, exists: obs.file.exists, kind: obs.file.kind as NonNullable<Finding['file']>['kind'] };
      if (obs.file.exists) Object.assign(f.file, { mode: obs.file.mode, uid: obs.file.uid, gid: obs.file.gid });
    }
    shapeChange(f, obs.change);
  }
  return f;
}

/** A posture finding whose verdict a known process changed names it: its process, container and pod. */
function shapeChange(f: Finding, c: PostureObservation['change'] | undefined): void {
  if (!c?.note) return;
  f.attributes!.change = c.note.trim();
  if (!c.known) return;
  Object.assign(f.attributes!, { changedBy: c.syscall, changedPath: c.path, changedAt: c.time });
  f.process = {
    pid: c.pid, ppid: 0, uid: c.uid < 0 ? UNKNOWN_ID : c.uid, euid: UNKNOWN_ID, gid: UNKNOWN_ID, egid: UNKNOWN_ID,
    auid: c.auid < 0 ? UNKNOWN_ID : c.auid, exe: c.exe, comm: c.comm, argv: [], argvTruncated: false, cwd: '', ancestors: [], capture: 'audit-watch',
  };
  if (c.container) f.container = { name: c.container };
  if (c.pod) f.kubernetes = { namespace: c.namespace, pod: c.pod, container: c.container };
}

function shapeRuntime(f: Finding, obs: RuntimeObservation, m: StateMatch): void {
  f.attributes!.socket = obs.runtime.socket;
  if (obs.subject === 'runtime') {
    // The facts a rule judged go with its finding: the socket file's, when it read them.
    if (obs.runtime.socketFound && m.rule.condition.includes('runtime.socket')) {
      f.file = { path: obs.runtime.socket, exists: true, mode: obs.runtime.socketMode, uid: obs.runtime.socketUid, gid: obs.runtime.socketGid, kind: 'socket' };
    }
    return;
  }
  const c = obs.container;
  f.container = {
    id: c.id, name: c.name, image: c.image, imageDigest: c.imageDigest, runtime: obs.runtime.name,
    state: c.state, pid: c.pid, privileged: obs.security.privileged, sandboxId: c.sandboxId,
  };
  if (c.origin === 'cri') f.kubernetes = { ...obs.kubernetes };
  const seen = m.seen as { mount?: MountObservation };
  if (m.rule.each?.as === 'mount' && seen.mount) {
    Object.assign(f.attributes!, { hostPath: seen.mount.source, containerPath: seen.mount.destination, readonly: String(seen.mount.readonly) });
  }
  if (obs.security.capabilities.length > 0 && m.rule.condition.includes('security.capabilities')) f.attributes!.capabilities = obs.security.capabilities.join(',');
}

/** A kube finding carries the container and pod it is about, or the manifest file. */
function shapeKube(f: Finding, obs: KubeObservation): void {
  if (obs.subject === 'container') {
    const c = obs.container;
    f.container = { id: c.id, name: c.name, image: c.image, imageDigest: c.imageDigest, state: c.state };
    if (obs.kubernetes.namespace) f.kubernetes = { ...obs.kubernetes };
    const p = obs.pod;
    if (p.workloadKind) Object.assign(f.attributes!, { workloadKind: p.workloadKind, workloadName: p.workloadName });
    if (p.serviceAccount) f.attributes!.serviceAccount = p.serviceAccount;
    if (obs.image.spec) Object.assign(f.attributes!, { specImage: obs.image.spec, apiImageId: obs.image.apiImageId, runtimeImageRef: c.imageDigest });
  } else if (obs.subject === 'static-pod') {
    f.file = { path: obs.manifest.path, exists: obs.manifest.change !== 'removed', kind: 'file' };
    Object.assign(f.attributes!, { sha256: obs.manifest.sha256, acceptedSha256: obs.manifest.acceptedSha256, changedAt: obs.manifest.changedAt });
  } else if (obs.subject === 'node') {
    f.attributes!.kubeletVersion = obs.kubelet.version;
  }
}

/**
 * For a fingerprint that resolves while its object is still observed: what is true now (the rule's
 * evidence, read from the current observation), so the resolution says why. Per-element
 * fingerprints and vanished objects get the lifecycle's plain resolution.
 */
export function resolvedNow(rs: Ruleset, observations: readonly StateObservation[]): (fingerprint: string) => Partial<Finding> | undefined {
  return (fp) => {
    for (const obs of observations) {
      if (!fp.endsWith(`:${obs.key}`)) continue;
      for (const r of rs.index.get(obs.kind)?.always ?? []) {
        if (r.each || stateFingerprint(r, obs.key) !== fp) continue;
        const evidence = r.evidence?.(obs);
        if (!evidence) return undefined;
        const gone = obs.kind === 'posture' && obs.check.status === 'na';
        const message = gone ? `Resolved: ${r.title}: the check no longer applies: ${evidence}.` : `Resolved: ${r.title}: ${evidence}.`;
        if (obs.kind !== 'posture' || !obs.change.note) return { evidence, message };
        // Who fixed it, when the audit record says.
        const who = { attributes: { node: obs.node } } as unknown as Finding;
        shapeChange(who, obs.change);
        return { evidence, message: message + obs.change.note, attributes: who.attributes, ...(who.process ? { process: who.process } : {}), ...(who.kubernetes ? { kubernetes: who.kubernetes } : {}), ...(who.container ? { container: who.container } : {}) };
      }
    }
    return undefined;
  };
}
