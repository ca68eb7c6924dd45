// What the kubelet would do with a rendered pod template, done for the node-box: the security
// context, host namespaces, command, args, environment and volumes of one container become a
// node-box PodSpec. Volumes are materialised the way the kubelet materialises them (a ConfigMap or
// Secret as a folder of files, a projected service account token as a file, an emptyDir or a
// claim as a fresh folder owned by the pod's fsGroup); a hostPath is handed to `hostPath()`, so a
// test can point the node's root at a host tree of its own. Anything this does not know is an
// error, never silently dropped: a manifest that needs it must be supported here first.

import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MountSpec, PodSpec } from './node-box.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface Materialise {
  /** Where the pod's files go (volumes as folders). */
  dir: string;
  /** Every rendered object, to find the ConfigMaps and Secrets volumes and env refer to. */
  objects: Obj[];
  /** The host path a hostPath volume names, as the test's node has it. */
  hostPath(manifestPath: string): string;
  /** The value of a downward API field (`spec.nodeName`, `metadata.namespace`…). */
  fieldRef(fieldPath: string): string;
  /** The content of a projected service account token with this audience. */
  token(audience: string | undefined): string;
  /** Environment the test adds after the manifest's own (e.g. central's address on this box). */
  extraEnv?: Record<string, string>;
  /** Secrets the rendered objects do not hold (a Secret the user or cert-manager creates). */
  secrets?: Record<string, Record<string, string | Buffer>>;
}

/** The node-box PodSpec of one container of a rendered DaemonSet, StatefulSet or Deployment. */
export function manifestPod(workload: Obj, containerName: string, m: Materialise): PodSpec {
  const pod = workload.spec?.template?.spec as Obj;
  const namespace = (workload.metadata?.namespace as string | undefined) ?? 'default';
  const container = (pod.containers as Obj[]).find((c) => c.name === containerName);
  if (!container) throw new Error(`${workload.kind} ${workload.metadata?.name}: no container ${containerName}`);
  const podSc = (pod.securityContext ?? {}) as Obj;
  const sc = (container.securityContext ?? {}) as Obj;
  const runAsUser = (sc.runAsUser ?? podSc.runAsUser) as number | undefined;
  const runAsGroup = (sc.runAsGroup ?? podSc.runAsGroup) as number | undefined;
  const fsGroup = podSc.fsGroup as number | undefined;
  const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type as string | undefined;
  if (seccomp !== undefined && seccomp !== 'RuntimeDefault' && seccomp !== 'Unconfined') throw new Error(`seccomp profile ${seccomp} is not supported here`);
  if (pod.initContainers?.length) throw new Error('init containers are not supported here');

  const volumes = new Map<string, Obj>(((pod.volumes ?? []) as Obj[]).map((v) => [v.name as string, v]));
  for (const claim of (workload.spec?.volumeClaimTemplates ?? []) as Obj[]) volumes.set(claim.metadata.name, { name: claim.metadata.name, emptyDir: {} });
  const folders = new Map<string, string>();
  const volumeFolder = (name: string): string => {
    const known = folders.get(name);
    if (known) return known;
    const v = volumes.get(name);
    if (!v) throw new Error(`volume ${name} is mounted but not declared`);
    const made = materialiseVolume(v, namespace, m, fsGroup ?? runAsUser);
    folders.set(name, made);
    return made;
  };

  const mounts: MountSpec[] = ((container.volumeMounts ?? []) as Obj[]).map((vm) => {
    let hostPath = volumeFolder(vm.name);
    if (vm.subPath) hostPath = path.join(hostPath, vm.subPath);
    return { hostPath, containerPath: vm.mountPath, readonly: vm.readOnly === true, propagation: vm.mountPropagation };
  });

  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as Obj[]) env[e.name] = envValue(e, namespace, m);
  if (container.envFrom?.length) throw new Error('envFrom is not supported here');
  Object.assign(env, m.extraEnv ?? {});

  const caps = sc.capabilities as Obj | undefined;
  const spec: PodSpec = {
    name: `${workload.metadata.name}-${Math.random().toString(36).slice(2, 7)}`,
    namespace,
    containerName,
    image: container.image,
    command: container.command,
    args: container.args,
    env,
    workingDir: container.workingDir,
    hostPid: pod.hostPID === true,
    hostIpc: pod.hostIPC === true,
    hostNetwork: pod.hostNetwork === true,
    privileged: sc.privileged === true,
    capabilities: caps ? { add: caps.add ?? [], drop: caps.drop ?? [] } : undefined,
    runAsUser,
    runAsGroup,
    supplementalGroups: fsGroup !== undefined ? [fsGroup] : undefined,
    readonlyRootfs: sc.readOnlyRootFilesystem === true,
    noNewPrivs: sc.allowPrivilegeEscalation === false,
    seccomp: seccomp === 'RuntimeDefault' ? 'runtime-default' : seccomp === 'Unconfined' ? 'unconfined' : undefined,
    mounts,
  };
  return spec;
}

function envValue(e: Obj, namespace: string, m: Materialise): string {
  if (typeof e.value === 'string') return e.value;
  const from = e.valueFrom as Obj | undefined;
  if (from?.fieldRef) return m.fieldRef(from.fieldRef.fieldPath);
  if (from?.configMapKeyRef) return String(keyOf('ConfigMap', from.configMapKeyRef.name, namespace, m)[from.configMapKeyRef.key] ?? '');
  if (from?.secretKeyRef) return String(keyOf('Secret', from.secretKeyRef.name, namespace, m)[from.secretKeyRef.key] ?? '');
  if (e.value === undefined && !from) return '';
  throw new Error(`env ${e.name}: ${JSON.stringify(from)} is not supported here`);
}

/** A ConfigMap's data or a Secret's decoded data, from the rendered objects or the test's own. */
function keyOf(kind: 'ConfigMap' | 'Secret', name: string, namespace: string, m: Materialise): Record<string, string | Buffer> {
  if (kind === 'Secret' && m.secrets?.[name]) return m.secrets[name]!;
  const o = m.objects.find((x) => x.kind === kind && x.metadata?.name === name && (x.metadata?.namespace ?? namespace) === namespace);
  if (!o) throw new Error(`${kind} ${namespace}/${name} is neither rendered nor given by the test`);
  if (kind === 'ConfigMap') return { ...(o.data ?? {}) };
  const out: Record<string, string | Buffer> = { ...(o.stringData ?? {}) };
  for (const [k, v] of Object.entries((o.data ?? {}) as Record<string, string>)) out[k] = Buffer.from(v, 'base64');
  return out;
}

function materialiseVolume(v: Obj, namespace: string, m: Materialise, owner: number | undefined): string {
  if (v.hostPath) return m.hostPath(v.hostPath.path);
  const dir = path.join(m.dir, 'volumes', v.name);
  mkdirSync(dir, { recursive: true });
  const write = (items: Record<string, string | Buffer>, select?: Obj[]): void => {
    const pairs = select?.length ? select.map((i) => [i.path as string, items[i.key as string]] as const) : Object.entries(items);
    for (const [rel, value] of pairs) {
      if (value === undefined) throw new Error(`volume ${v.name}: key ${rel} is missing`);
      const file = path.join(dir, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, value, { mode: 0o644 });
    }
  };
  if (v.emptyDir) {
    if (owner !== undefined) chownSync(dir, owner, owner);
  } else if (v.configMap) {
    write(keyOf('ConfigMap', v.configMap.name, namespace, m), v.configMap.items);
  } else if (v.secret) {
    write(keyOf('Secret', v.secret.secretName, namespace, m), v.secret.items);
  } else if (v.projected) {
    for (const s of v.projected.sources as Obj[]) {
      if (s.serviceAccountToken) write({ [s.serviceAccountToken.path]: m.token(s.serviceAccountToken.audience) });
      else if (s.configMap) write(keyOf('ConfigMap', s.configMap.name, namespace, m), s.configMap.items);
      else if (s.secret) write(keyOf('Secret', s.secret.name, namespace, m), s.secret.items);
      else if (s.downwardAPI) write(Object.fromEntries((s.downwardAPI.items as Obj[]).map((i) => [i.path, m.fieldRef(i.fieldRef.fieldPath)])));
      else throw new Error(`volume ${v.name}: projected source ${Object.keys(s).join(',')} is not supported here`);
    }
  } else {
    throw new Error(`volume ${v.name}: ${Object.keys(v).filter((k) => k !== 'name').join(',')} is not supported here`);
  }
  return dir;
}
