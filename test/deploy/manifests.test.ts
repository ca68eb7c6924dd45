// The manifests in deploy/, as `kubectl kustomize` renders each overlay: every object valid against
// the Kubernetes 1.30 and 1.35 OpenAPI schemas of its kind (custom kinds against their upstream
// CRDs), strictly; the project's own policy (no privileged container, limits everywhere, read-only
// root filesystems, pinned image tags, every added capability explained in README.md); and the
// pieces agreeing with each other and with nodewarden itself (the shipped configuration loads
// with nodewarden's own loader, the files it names are mounted, the probes reach the listener).
import t from 'tap';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../core/config.js';
import { collectorFactories, splitEnabled } from '../../collectors/index.js';
import { sinkConfigs } from '../../central/sinks/config.js';
import { sinkFactories } from '../../central/sinks/index.js';
import { KubeOpenApi } from '../helpers/kube-openapi.js';
import { OVERLAYS, deployDir, findObject, kubectlPath, podSpecs, render } from '../helpers/kustomize.js';
import { cliPath, fixturesDir, repoRoot } from '../helpers/paths.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RELEASES = ['1.30', '1.35'];
const refDir = path.join(fixturesDir, 'ref', 'k8s');
const crdFiles = ['cert-manager.io_certificates.yaml', 'cert-manager.io_issuers.yaml', 'monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_podmonitors.yaml']
  .map((f) => path.join(refDir, 'crds', f));
const schemas = RELEASES.map((r) => new KubeOpenApi(path.join(refDir, 'openapi'), r, crdFiles));
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** The capabilities the agent adds, each of which README.md's "Privileges" section must explain. */
const AGENT_CAPABILITIES = ['AUDIT_CONTROL', 'AUDIT_READ', 'BPF', 'DAC_READ_SEARCH', 'PERFMON', 'SYS_PTRACE'];

// Without kubectl nothing here can run. Locally that is a skip; in CI (CI=true) a failure.
let noKubectl: string | undefined;
try {
  kubectlPath();
} catch (err) {
  noKubectl = (err as Error).message;
}
if (noKubectl && process.env.CI && process.env.CI !== 'false') {
  t.fail(`CI must render the manifests: ${noKubectl}`);
  t.end();
} else if (noKubectl) {
  t.plan(0, `no kubectl to render the manifests with: ${noKubectl}`);
} else {
  run();
}

/**
 * The certs overlay reads pki/ files the user makes with `nodewarden certs`: render it from a copy
 * of deploy/ whose pki/ is filled as its instructions say.
 */
function renderCertsOverlay(): Obj[] {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'nw-deploy-'));
  try {
    cpSync(deployDir, path.join(tmp, 'deploy'), { recursive: true, filter: (src) => !src.includes(`${path.sep}pki`) });
    const pki = path.join(tmp, 'deploy', 'overlays', 'certs', 'pki');
    execFileSync(process.execPath, [cliPath, 'certs', 'init', '--dir', pki], { stdio: 'pipe' });
    const sans = ['nodewarden-central', 'nodewarden-central.nodewarden', 'nodewarden-central.nodewarden.svc', 'nodewarden-central.nodewarden.svc.cluster.local'];
    execFileSync(process.execPath, [cliPath, 'certs', 'server', '--dir', pki, ...sans.flatMap((s) => ['--san', s])], { stdio: 'pipe' });
    return render(path.join(tmp, 'deploy', 'overlays', 'certs'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function containersOf(spec: Obj): Obj[] {
  return [...((spec.initContainers ?? []) as Obj[]), ...((spec.containers ?? []) as Obj[])];
}

/** Each container of each workload, with the names a failure message needs. */
function everyContainer(objects: Obj[]): { where: string; spec: Obj; c: Obj; workload: Obj }[] {
  const out: { where: string; spec: Obj; c: Obj; workload: Obj }[] = [];
  for (const [key, spec] of podSpecs(objects)) {
    const workload = objects.find((o) => `${o.kind}/${o.metadata?.name}` === key)!;
    for (const c of containersOf(spec)) out.push({ where: `${key} container ${c.name}`, spec, c, workload });
  }
  return out;
}

/** The container's environment as the kubelet would give it, on a node called worker-1. */
function envOf(c: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (c.env ?? []) as Obj[]) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = 'worker-1';
    else throw new Error(`env ${e.name}: ${JSON.stringify(e.valueFrom)} is not resolved by this test`);
  }
  return env;
}

/**
 * The files a volume holds, when the rendered manifests say (a ConfigMap or Secret rendered
 * here, items, a projected token, a cert-manager Certificate's Secret); null for a folder whose
 * content is not known beforehand (hostPath, emptyDir, a claim).
 */
function volumeFiles(v: Obj, objects: Obj[]): string[] | null {
  const keysOf = (kind: string, name: string, items?: Obj[]): string[] => {
    if (items?.length) return items.map((i) => i.path as string);
    const o = objects.find((x) => x.kind === kind && x.metadata?.name === name);
    if (o) return Object.keys({ ...(o.data ?? {}), ...(o.stringData ?? {}) });
    // A Secret cert-manager makes: https://cert-manager.io/docs/usage/certificate/ (tls.crt, tls.key, ca.crt).
    if (kind === 'Secret' && objects.some((x) => x.kind === 'Certificate' && x.spec?.secretName === name)) return ['tls.crt', 'tls.key', 'ca.crt'];
    throw new Error(`${kind} ${name} is neither rendered nor made by a rendered Certificate`);
  };
  if (v.configMap) return keysOf('ConfigMap', v.configMap.name, v.configMap.items);
  if (v.secret) return keysOf('Secret', v.secret.secretName, v.secret.items);
  if (v.projected) {
    return (v.projected.sources as Obj[]).flatMap((s) => {
      if (s.serviceAccountToken) return [s.serviceAccountToken.path as string];
      if (s.configMap) return keysOf('ConfigMap', s.configMap.name, s.configMap.items);
      if (s.secret) return keysOf('Secret', s.secret.name, s.secret.items);
      throw new Error(`projected source ${Object.keys(s).join(',')} is not known to this test`);
    });
  }
  return null;
}

/** The mount a file or folder lives under (the deepest), and the path inside it. */
function mountFor(file: string, c: Obj): { mount: Obj; rest: string } | undefined {
  const mounts = ((c.volumeMounts ?? []) as Obj[]).filter((m) => file === m.mountPath || file.startsWith(`${String(m.mountPath).replace(/\/$/, '')}/`));
  const m = mounts.sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  return m ? { mount: m, rest: path.posix.relative(m.mountPath, file) } : undefined;
}

/** The configuration a nodewarden container starts with: its --config file (from the rendered ConfigMap) and env. */
function containerConfig(c: Obj, spec: Obj, objects: Obj[]): { cfg: Config; command: string } {
  const args = (c.args ?? []) as string[];
  const command = args[0]!;
  const at = args.indexOf('--config');
  if (at < 0) throw new Error(`${c.name}: no --config among ${JSON.stringify(args)}`);
  const file = args[at + 1]!;
  const found = mountFor(file, c);
  if (!found) throw new Error(`${c.name}: --config ${file} is on no volume`);
  const volume = (spec.volumes as Obj[]).find((v) => v.name === found.mount.name)!;
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata?.name === volume.configMap?.name);
  const text = cm?.data?.[found.rest] as string | undefined;
  if (text === undefined) throw new Error(`${c.name}: --config ${file} is not a key of a rendered ConfigMap`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nw-config-'));
  try {
    const local = path.join(dir, path.basename(file));
    writeFileSync(local, text);
    return { cfg: loadConfig({ file: local, env: envOf(c) }), command };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the agent and central check at start beyond the schema: collectors' and sinks' own options. */
function startChecks(cfg: Config, command: string): string[] {
  const errors: string[] = [];
  if (command === 'agent') {
    for (const [type, factory] of collectorFactories()) {
      const { enabled, rest } = splitEnabled(cfg.agent.collectors[type]);
      if (typeof enabled !== 'boolean') errors.push(`agent.collectors.${type}.enabled: expected true or false`);
      const r = factory.validate(rest);
      if (!r.ok) errors.push(...r.errors.map((e) => `agent.collectors.${type}.${e}`));
    }
    for (const type of Object.keys(cfg.agent.collectors)) if (!collectorFactories().has(type)) errors.push(`agent.collectors.${type}: no such collector`);
    if (!cfg.insecure && !cfg.agent.tls.cert && !cfg.agent.token) errors.push('the agent has no identity for central');
  } else if (command === 'central') {
    try {
      sinkConfigs(cfg.central, sinkFactories());
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return errors;
}

/** Every file or folder the configuration names, with whether the process writes there. */
function configPaths(cfg: Config, command: string): { key: string; file: string; writes: boolean }[] {
  const out: { key: string; file: string; writes: boolean }[] = [];
  const add = (key: string, file: string | undefined, writes = false) => {
    if (file && file !== '-') out.push({ key, file, writes });
  };
  add('kube.kubeconfig', cfg.kube.kubeconfig);
  cfg.rules.dirs.forEach((d, i) => add(`rules.dirs.${i}`, d));
  if (command === 'agent') {
    add('hostRoot', cfg.hostRoot);
    add('stateDir', cfg.stateDir, true);
    add('agent.token', cfg.agent.token);
    add('agent.tls.ca', cfg.agent.tls.ca);
    add('agent.tls.cert', cfg.agent.tls.cert);
    add('agent.tls.key', cfg.agent.tls.key);
  } else {
    add('central.dataDir', cfg.central.dataDir, true);
    add('central.jsonl', cfg.central.jsonl, true);
    add('central.tls.cert', cfg.central.tls.cert);
    add('central.tls.key', cfg.central.tls.key);
    add('central.tls.clientCa', cfg.central.tls.clientCa);
    // Sinks: secret files, CA files, and the files file sinks write.
    cfg.central.sinks.forEach((sink, i) => {
      const walk = (v: unknown, key: string): void => {
        if (v === null || typeof v !== 'object') return;
        for (const [k, x] of Object.entries(v as Obj)) {
          if (typeof x === 'string' && ['file', 'ca', 'cert', 'key', 'path'].includes(k) && x.startsWith('/')) add(`${key}.${k}`, x, k === 'path');
          else walk(x, `${key}.${k}`);
        }
      };
      walk(sink, `central.sinks.${i}`);
    });
  }
  return out;
}

function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hp.slice(i + 1)) };
}

/** README.md's "## Privileges" table: capability → reason. */
function readmePrivileges(): Map<string, string> | string {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.search(/^## Privileges\b/m);
  if (start < 0) return 'README.md has no "## Privileges" section (a table: capability | why the agent needs it | what stops working without it)';
  const rest = readme.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const table = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((s) => s.trim());
    const cap = /^`?(?:CAP_)?([A-Z][A-Z_]+)`?$/.exec(cells[1] ?? '');
    if (cap && cells.length >= 4) table.set(cap[1]!, cells[2] ?? '');
  }
  return table;
}

function run(): void {
  const rendered = new Map<string, Obj[]>();
  for (const overlay of OVERLAYS) rendered.set(overlay, overlay === 'certs' ? renderCertsOverlay() : render(overlay));
  const def = rendered.get('default')!;
  const agentDs = findObject(def, 'DaemonSet', 'nodewarden-agent');
  const central = findObject(def, 'StatefulSet', 'nodewarden-central');

  t.test('the validator refuses what the API server would refuse', async (t) => {
    const [v130] = schemas;
    const ds = structuredClone(agentDs);
    t.same(v130!.validate(ds), [], 'the rendered DaemonSet as it is');
    const broken = (mutate: (o: Obj) => void, base: Obj = agentDs): string[] => {
      const o = structuredClone(base);
      mutate(o);
      return v130!.validate(o);
    };
    const expect = (errors: string[], prefix: string, what: string) => t.ok(errors.some((e) => e.startsWith(prefix)), `${what}: ${errors.join('; ') || 'no error'}`);
    const c0 = 'spec.template.spec.containers[0]';
    expect(broken((o) => { o.spec.template.spec.containers[0].securityContext.readOnlyRootFS = true; }), `${c0}.securityContext.readOnlyRootFS: unknown field`, 'an unknown field');
    expect(broken((o) => { o.spec.template.spec.containers[0].ports[0].containerPort = '9464'; }), `${c0}.ports[0].containerPort: expected integer`, 'a wrong type');
    expect(broken((o) => { delete o.spec.template.spec.containers[0].name; }), `${c0}.name: required`, 'a missing required field');
    expect(broken((o) => { delete o.spec.selector; }), 'spec.selector: required', 'a missing selector');
    expect(broken((o) => { o.spec.template.spec.containers[0].resources.limits.memory = '384MB'; }), `${c0}.resources.limits.memory: "384MB" is not a quantity`, 'a malformed quantity');
    expect(broken((o) => { o.spec.updateStrategy.rollingUpdate.maxUnavailable = true; }), 'spec.updateStrategy.rollingUpdate.maxUnavailable: expected an integer or a string', 'int-or-string given a boolean');
    expect(broken((o) => { o.spec.template.spec.containers[0].env.push({ name: 'NODEWARDEN_NODE', value: 'x' }); }), `${c0}.env[`, 'a duplicate key in a list-type map');
    expect(broken((o) => { o.spec.template.spec.hostPID = 'true'; }), 'spec.template.spec.hostPID: expected boolean', 'a quoted boolean');
    expect(broken((o) => { o.spec.template.metadata.labels.x = 1; }), 'spec.template.metadata.labels.x: expected string', 'a label that is not a string');
    expect(broken((o) => { o.kind = 'DaemonSett'; }), 'apps/v1 DaemonSett: Kubernetes 1.30 has no such kind', 'an unknown kind');
    expect(broken((o) => { o.apiVersion = 'extensions/v1beta1'; }), 'extensions/v1beta1 DaemonSet: no schema', 'a removed API');
    expect(broken((o) => { o.data = { 'ca.crt': 'not base64!' }; }, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } }), 'data.ca.crt: not base64', 'Secret data that is not base64');
    // Pod-level resources came after 1.30: valid for 1.35 only.
    const podResources = (o: Obj) => { o.spec.template.spec.resources = { limits: { cpu: '1' } }; };
    expect(broken(podResources), 'spec.template.spec.resources: unknown field', 'a field Kubernetes 1.30 lacks');
    const newer = structuredClone(agentDs);
    podResources(newer);
    t.same(schemas[1]!.validate(newer), [], '… which 1.35 has');
    const cert = findObject(def, 'Certificate', 'nodewarden-central');
    t.same(v130!.validate(cert), [], 'the rendered Certificate as it is');
    expect(broken((o) => { o.spec.dnsName = ['x']; }, cert), 'spec.dnsName: unknown field', 'an unknown field in a custom object');
    expect(broken((o) => { o.spec.privateKey.algorithm = 'DSA'; }, cert), 'spec.privateKey.algorithm: "DSA" is not one of', 'a CRD enum');
    expect(broken((o) => { delete o.spec.issuerRef.name; }, cert), 'spec.issuerRef.name: required', 'a CRD required field');
    expect(broken((o) => { o.metadata.labelz = {}; }, cert), 'metadata.labelz: unknown field', 'custom objects\' metadata is ObjectMeta');
  });

  for (const [overlay, objects] of rendered) {
    t.test(`overlay ${overlay}: every object is valid in Kubernetes ${RELEASES.join(' and ')}`, async (t) => {
      t.ok(objects.length > 0, 'renders objects');
      for (const o of objects) {
        for (const s of schemas) t.same(s.validate(o), [], `${o.kind} ${o.metadata?.name} (${s.release})`);
      }
    });

    t.test(`overlay ${overlay}: our policy`, async (t) => {
      for (const { where, c } of everyContainer(objects)) {
        const sc = (c.securityContext ?? {}) as Obj;
        t.not(sc.privileged, true, `${where}: not privileged`);
        t.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation false`);
        t.equal(sc.readOnlyRootFilesystem, true, `${where}: read-only root filesystem`);
        t.same(sc.capabilities?.drop, ['ALL'], `${where}: drops every capability`);
        for (const r of ['cpu', 'memory']) {
          t.ok(c.resources?.limits?.[r], `${where}: a ${r} limit`);
          t.ok(c.resources?.requests?.[r], `${where}: a ${r} request`);
        }
        const image = String(c.image);
        t.notMatch(image, /:latest$/, `${where}: not latest`);
        t.match(image, /(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/, `${where}: ${image} has a tag or digest`);
        t.equal(image, `ghcr.io/nodewarden/nodewarden:${version}`, `${where}: the package's version`);
      }
      for (const [key, spec] of podSpecs(objects)) {
        const seccomp = spec.securityContext?.seccompProfile?.type;
        t.equal(seccomp, 'RuntimeDefault', `${key}: seccomp RuntimeDefault`);
      }
    });

    t.test(`overlay ${overlay}: the agent's namespace admits it (Pod Security labels)`, async (t) => {
      for (const [key, spec] of podSpecs(objects)) {
        const workload = objects.find((o) => `${o.kind}/${o.metadata?.name}` === key)!;
        const ns = findObject(objects, 'Namespace', workload.metadata.namespace);
        const needsPrivileged = spec.hostPID || spec.hostNetwork || spec.hostIPC || (spec.volumes ?? []).some((v: Obj) => v.hostPath)
          || containersOf(spec).some((c) => (c.securityContext?.capabilities?.add ?? []).length > 0);
        const labels = (ns.metadata.labels ?? {}) as Record<string, string>;
        t.ok(labels['pod-security.kubernetes.io/enforce'], `${ns.metadata.name}: an enforce level`);
        if (needsPrivileged) t.equal(labels['pod-security.kubernetes.io/enforce'], 'privileged', `${key} needs host access: its namespace enforces privileged`);
      }
    });

    t.test(`overlay ${overlay}: the configuration each process gets loads with nodewarden's own loader`, async (t) => {
      for (const { where, spec, c } of everyContainer(objects)) {
        let loaded: { cfg: Config; command: string };
        try {
          loaded = containerConfig(c, spec, objects);
        } catch (err) {
          t.fail(`${where}: ${(err as Error).message}`);
          continue;
        }
        const { cfg, command } = loaded;
        t.same(startChecks(cfg, command), [], `${where}: ${command} would start with it`);
        for (const p of configPaths(cfg, command)) {
          const found = mountFor(p.file, c);
          if (!found) {
            t.fail(`${where}: ${p.key} ${p.file} is on no volume`);
            continue;
          }
          t.equal(found.mount.readOnly === true, !p.writes, `${where}: ${p.key} ${p.file} is on a ${p.writes ? 'writable' : 'read-only'} mount`);
          const volume = (spec.volumes ?? []).find((v: Obj) => v.name === found.mount.name);
          const files = volume ? volumeFiles(volume, objects) : null;
          if (files && found.rest) t.ok(files.includes(found.rest), `${where}: ${p.key} ${p.file} is a file of volume ${found.mount.name} (${files.join(', ')})`);
        }
        // The kubelet's probes reach the listener the configuration opens.
        const listen = splitHostPort(command === 'agent' ? cfg.agent.http : cfg.central.http);
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          const get = c[probe]?.httpGet as Obj | undefined;
          if (!get) {
            t.fail(`${where}: no HTTP ${probe}`);
            continue;
          }
          const port = typeof get.port === 'number' ? get.port : (c.ports as Obj[] | undefined)?.find((p) => p.name === get.port)?.containerPort;
          t.equal(port, listen.port, `${where}: ${probe} on the HTTP port`);
          const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
          t.ok(wildcard || get.host === listen.host, `${where}: ${probe} reaches ${listen.host} (probe host ${get.host ?? 'the pod IP'})`);
          t.equal(get.path, probe === 'readinessProbe' ? '/readyz' : '/healthz', `${where}: ${probe} path`);
        }
      }
    });

    t.test(`overlay ${overlay}: references resolve`, async (t) => {
      for (const [key, spec] of podSpecs(objects)) {
        const workload = objects.find((o) => `${o.kind}/${o.metadata?.name}` === key)!;
        const labels = workload.spec.template.metadata.labels as Record<string, string>;
        for (const [k, v] of Object.entries(workload.spec.selector.matchLabels as Record<string, string>)) t.equal(labels[k], v, `${key}: the selector's ${k} is a template label`);
        const declared = new Set([...(spec.volumes ?? []).map((v: Obj) => v.name), ...(workload.spec.volumeClaimTemplates ?? []).map((v: Obj) => v.metadata.name)]);
        for (const v of spec.volumes ?? []) t.doesNotThrow(() => volumeFiles(v, objects), `${key}: volume ${v.name}'s ConfigMap or Secret is rendered or made`);
        for (const c of containersOf(spec)) {
          for (const m of c.volumeMounts ?? []) t.ok(declared.has(m.name), `${key} ${c.name}: mount ${m.mountPath} names a declared volume`);
        }
        const sa = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.name === spec.serviceAccountName);
        t.ok(sa, `${key}: its service account ${spec.serviceAccountName} is rendered`);
      }
      for (const svc of objects.filter((o) => o.kind === 'Service')) {
        const pods = [...podSpecs(objects)].filter(([key]) => {
          const w = objects.find((o) => `${o.kind}/${o.metadata?.name}` === key)!;
          return Object.entries(svc.spec.selector as Record<string, string>).every(([k, v]) => w.spec.template.metadata.labels[k] === v);
        });
        t.equal(pods.length, 1, `Service ${svc.metadata.name} selects one workload`);
        const ports = pods.flatMap(([, spec]) => containersOf(spec).flatMap((c) => (c.ports ?? []) as Obj[]));
        for (const p of svc.spec.ports as Obj[]) t.ok(ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort), `Service ${svc.metadata.name} port ${p.name} targets a container port`);
      }
    });
  }

  t.test('every capability added to a container is listed in README.md "Privileges" with its reason', async (t) => {
    const table = readmePrivileges();
    const added = new Set<string>();
    for (const objects of rendered.values()) for (const { c } of everyContainer(objects)) for (const cap of c.securityContext?.capabilities?.add ?? []) added.add(cap);
    t.same([...added].sort(), AGENT_CAPABILITIES, 'the overlays add exactly the agent\'s six capabilities');
    if (typeof table === 'string') {
      t.fail(`${table}; it must explain ${[...added].sort().join(', ')}`);
      return;
    }
    for (const cap of added) t.ok((table.get(cap) ?? '').length > 10, `README "Privileges" explains ${cap}`);
  });

  t.test('the agent DaemonSet runs as the README says: every node, host namespaces, read-only host, least privilege', async (t) => {
    const spec = agentDs.spec.template.spec as Obj;
    const c = (spec.containers as Obj[]).find((x) => x.name === 'agent')!;
    t.same(spec.tolerations, [{ operator: 'Exists' }], 'tolerates every taint');
    t.equal(spec.priorityClassName, 'system-node-critical');
    t.equal(spec.hostPID, true);
    t.equal(spec.hostNetwork, true);
    t.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet', 'resolves cluster names on the host network');
    t.equal(spec.automountServiceAccountToken, true, 'the API token for pods, nodes and the PolicyReport');
    t.equal(c.securityContext.runAsUser, 0);
    t.same([...c.securityContext.capabilities.add].sort(), AGENT_CAPABILITIES);
    const rollout = agentDs.spec.updateStrategy;
    t.equal(rollout.type, 'RollingUpdate');
    t.ok(rollout.rollingUpdate.maxUnavailable, 'maxUnavailable set');
    t.equal(rollout.rollingUpdate.maxSurge, 0, 'never two agents on a node');
    const vol = (name: string) => (spec.volumes as Obj[]).find((v) => v.name === name)!;
    const mount = (p: string) => (c.volumeMounts as Obj[]).find((m) => m.mountPath === p)!;
    t.same(vol(mount('/host').name).hostPath, { path: '/', type: 'Directory' }, 'the host root at /host');
    t.equal(mount('/host').readOnly, true, 'read-only');
    t.equal(mount('/host').mountPropagation, 'HostToContainer');
    t.same(vol(mount('/var/lib/nodewarden').name).hostPath, { path: '/var/lib/nodewarden', type: 'DirectoryOrCreate' }, 'the state dir on the node');
    const token = (vol('nodewarden-token').projected.sources as Obj[])[0]!.serviceAccountToken;
    t.same(token, { audience: 'nodewarden', expirationSeconds: 3600, path: 'token' }, 'a projected token for central');
    t.equal(mount('/var/run/secrets/nodewarden').name, 'nodewarden-token');
    const env = envOf(c);
    t.equal(env.NODEWARDEN_HOST_ROOT, '/host');
    t.equal(c.env.find((e: Obj) => e.name === 'NODEWARDEN_NODE').valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', 'the node name from the downward API');
  });

  t.test('central runs non-root with its event log on a volume', async (t) => {
    const spec = central.spec.template.spec as Obj;
    const c = (spec.containers as Obj[])[0]!;
    t.equal(central.spec.replicas, 1);
    t.equal(spec.securityContext.runAsNonRoot, true);
    t.equal(spec.securityContext.runAsUser, 65532);
    t.equal(c.securityContext.capabilities.add, undefined, 'no capabilities');
    t.ok((c.volumeMounts as Obj[]).some((m) => m.mountPath === '/tmp'), 'a writable /tmp beside the read-only root');
    t.equal(central.spec.volumeClaimTemplates[0].metadata.name, 'data');
    const { cfg } = containerConfig(c, spec, def);
    t.equal(cfg.central.tokenReview.enabled, true);
    t.equal(cfg.central.tokenReview.audience, 'nodewarden');
    t.same(cfg.central.tokenReview.serviceAccounts, ['nodewarden:nodewarden-agent']);
    t.ok(cfg.central.retention.maxBytes < 10 * 1024 ** 3, 'the event log cap is below the volume size');
  });

  t.test('RBAC is what the agent and central call, and nothing more', async (t) => {
    t.same(findObject(def, 'ClusterRole', 'nodewarden-agent').rules, [
      { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['list', 'watch'] },
      { apiGroups: ['wgpolicyk8s.io'], resources: ['clusterpolicyreports'], verbs: ['create', 'patch'] },
    ]);
    t.same(findObject(def, 'ClusterRole', 'nodewarden-central').rules, [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]);
    t.same(findObject(def, 'Role', 'nodewarden-central').rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }], 'the bound pod, in the agents\' namespace only');
    for (const kind of ['ClusterRoleBinding', 'RoleBinding']) {
      for (const b of def.filter((o) => o.kind === kind)) {
        for (const s of b.subjects as Obj[]) t.ok(def.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === s.name && o.metadata.namespace === s.namespace), `${kind} ${b.metadata.name}: ${s.namespace}/${s.name} is rendered`);
      }
    }
  });

  t.test('each overlay adds what it is for', async (t) => {
    const kinds = (o: string) => rendered.get(o)!.map((x) => `${x.kind}/${x.metadata.name}`);
    t.ok(kinds('default').includes('Certificate/nodewarden-central'), 'default: TLS from cert-manager');
    t.ok(kinds('certs').some((k) => k.startsWith('Secret/nodewarden-central-tls-')), 'certs: the Secret from nodewarden certs files');
    t.notOk(kinds('certs').some((k) => k.startsWith('Certificate/')), 'certs: no cert-manager objects');
    t.ok(kinds('prometheus').includes('ServiceMonitor/nodewarden-central') && kinds('prometheus').includes('PodMonitor/nodewarden-agent'), 'prometheus: monitors');
    const sinks = containerConfig(findObject(rendered.get('sinks-example')!, 'StatefulSet', 'nodewarden-central').spec.template.spec.containers[0], findObject(rendered.get('sinks-example')!, 'StatefulSet', 'nodewarden-central').spec.template.spec, rendered.get('sinks-example')!).cfg.central.sinks;
    t.same(sinks.map((s) => s.type), ['alertmanager', 'splunk-hec'], 'sinks-example: Alertmanager and a SIEM');
    t.ok(existsSync(path.join(deployDir, 'overlays', 'certs', '.gitignore')), 'certs: pki/ is kept out of git');
  });
}
