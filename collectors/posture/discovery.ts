// Discovery: where this node's kubelet, kube-proxy and etcd keep their configuration, found the
// way an administrator would: the running process's command line first (under the proc root),
// then the kubelet's systemd unit and its environment files, then kubeadm's default paths.
// Cheap enough to re-run whenever the kubelet restarts: one /proc scan and a few small reads.

import path from 'node:path';
import type { HostFs } from '../host/host-fs.js';
import { HostView } from './host-view.js';
import { findComponentProcesses } from './processes.js';
import { parseArgs, lastFlag } from './flags.js';
import { applyUnitText, emptyServiceSettings, expandExecStart, parseEnvironmentFile } from './systemd-unit.js';
import { loadKubeletConfig } from './kubelet-config.js';
import { loadKubeProxyConfig } from './kube-proxy-config.js';
import { loadYamlMapping, getPath } from './yaml-file.js';
import { discoverControlPlane } from './components.js';
import type {
  DiscoveredPath,
  Discovery,
  EtcdDiscovery,
  KubeletDiscovery,
  KubeProxyDiscovery,
  PathSource,
  ProcessRef,
} from './types.js';

/** Where systemd looks for units, highest priority first. */
const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
const KUBELET_UNIT = 'kubelet.service';

/** kubeadm's layout, used when neither a process nor a unit names a path. */
export const KUBEADM_DEFAULTS = {
  kubeletConfig: '/var/lib/kubelet/config.yaml',
  kubeletKubeconfig: '/etc/kubernetes/kubelet.conf',
  clientCAFile: '/etc/kubernetes/pki/ca.crt',
  kubeProxyConfig: '/var/lib/kube-proxy/config.conf',
  /** kube-proxy kubeconfig locations seen on kubeadm-like and hand-built nodes, first found wins. */
  kubeProxyKubeconfigs: ['/var/lib/kube-proxy/kubeconfig.conf', '/etc/kubernetes/proxy.conf', '/etc/kubernetes/kube-proxy.kubeconfig'],
  manifestDir: '/etc/kubernetes/manifests',
  etcdDataDir: '/var/lib/etcd',
} as const;

export interface DiscoverOptions {
  /**
   * Where to look for processes: a HostFs whose /proc is scanned. Defaults to the host root's
   * own /proc. Tests pass HostFs('/') to find a real spawned process while reading its files
   * from a fixture host root.
   */
  procFs?: HostFs;
}

/** Discovery alone, for a collector that wants to know whether anything moved. */
export async function discoverNode(fs: HostFs, options: DiscoverOptions = {}): Promise<Discovery> {
  return discover(new HostView(fs, options.procFs ?? fs));
}

/** A string that changes when any discovered process or path changes. */
export function discoveryKey(d: Discovery): string {
  const p = (x?: DiscoveredPath): string => (x ? `${x.hostPath}@${x.source}` : '-');
  return [
    d.kubelet.process?.pid ?? '-',
    d.kubelet.args.join(' '),
    p(d.kubelet.configFile),
    p(d.kubelet.configDir),
    p(d.kubelet.kubeconfig),
    p(d.kubelet.clientCAFile),
    d.kubelet.unitFiles.join(','),
    d.kubeProxy.process?.pid ?? '-',
    d.kubeProxy.args.join(' '),
    p(d.kubeProxy.configFile),
    p(d.kubeProxy.kubeconfig),
    d.etcd.process?.pid ?? '-',
    p(d.etcd.dataDir),
    ...Object.values(d.components).map((c) => `${c.name}:${c.process?.pid ?? '-'}`),
    p(d.manifestDir),
  ].join('\n');
}

export async function discover(view: HostView): Promise<Discovery> {
  return view.cached('discovery', async () => {
    const notes: string[] = [];
    const [procs, procfs] = await Promise.all([findComponentProcesses(view), view.procfs()]);
    const kubelet = await discoverKubelet(view, procs.kubelet, notes);
    const kubeProxy = await discoverKubeProxy(view, procs['kube-proxy']);

    // The kubelet's own configuration names the static pod directory and its client CA.
    const cfg = await loadKubeletConfig(view, kubelet);
    const staticPodPath = cfg.get('staticPodPath');
    const manifestDir =
      staticPodPath.ok && staticPodPath.setting.value !== ''
        ? hostPathOf(staticPodPath.setting.value, settingSource(staticPodPath.setting.source, kubelet))
        : hostPathOf(KUBEADM_DEFAULTS.manifestDir, 'default');
    const ca = cfg.get('clientCAFile');
    if (ca.ok && ca.setting.value !== '') {
      kubelet.clientCAFile = hostPathOf(ca.setting.value, settingSource(ca.setting.source, kubelet));
    } else if (ca.ok && cfg.present && (await view.stat(KUBEADM_DEFAULTS.clientCAFile)).kind !== 'missing') {
      kubelet.clientCAFile = hostPathOf(KUBEADM_DEFAULTS.clientCAFile, 'default');
    }
    if (!ca.ok) notes.push(ca.error);

    const [etcd, controlPlane, components] = await Promise.all([
      discoverEtcd(view, procs.etcd, manifestDir),
      isControlPlane(view, manifestDir),
      discoverControlPlane(view, procs, manifestDir),
    ]);
    return { kubelet, kubeProxy, etcd, components, manifestDir, controlPlane, procfs, notes };
  });
}

function settingSource(source: 'flag' | 'file' | 'default', k: KubeletDiscovery): PathSource {
  if (source === 'flag') return k.argsSource === 'unit' ? 'unit' : 'cmdline';
  return source === 'file' ? 'config' : 'default';
}

/** A path named by a host process: absolute (relative ones are taken from /), read as is. */
function hostPathOf(p: string, source: PathSource): DiscoveredPath {
  const abs = path.posix.resolve('/', p);
  return { path: abs, hostPath: abs, source };
}

async function discoverKubelet(view: HostView, proc: ProcessRef | undefined, notes: string[]): Promise<KubeletDiscovery> {
  const unitFiles = await findUnitFiles(view, KUBELET_UNIT);
  const d: KubeletDiscovery = { args: [], argsSource: 'none', unitFiles, envFiles: [] };
  if (proc) {
    d.process = proc;
    d.args = argsAfterExecutable(proc.argv);
    d.argsSource = 'cmdline';
  } else if (unitFiles.length > 0) {
    // No kubelet running: what would the unit start? (kubeadm keeps most flags in an env file.)
    const settings = emptyServiceSettings();
    for (const f of unitFiles) {
      const text = await view.readText(f);
      if (text.kind === 'ok') applyUnitText(settings, text.text);
      else if (text.kind === 'error') notes.push(`cannot read kubelet unit file ${f}: ${text.message}`);
    }
    const env = new Map<string, string>(settings.environment);
    for (const ef of settings.environmentFiles) {
      d.envFiles.push(ef.path);
      view.watch(ef.path);
      const text = await view.readText(ef.path);
      if (text.kind === 'ok') for (const [k, v] of parseEnvironmentFile(text.text)) env.set(k, v);
      else if (text.kind === 'error') notes.push(`cannot read kubelet environment file ${ef.path}: ${text.message}`);
      else if (!ef.optional) notes.push(`kubelet environment file ${ef.path} is missing (systemd would refuse to start the unit)`);
    }
    if (settings.execStart) {
      d.args = argsAfterExecutable(expandExecStart(settings.execStart, env));
      d.argsSource = 'unit';
    }
  }
  const source: PathSource = d.argsSource === 'unit' ? 'unit' : 'cmdline';
  const args = parseArgs(d.args);
  const config = lastFlag(args, 'config');
  const configDir = lastFlag(args, 'config-dir');
  const kubeconfig = lastFlag(args, 'kubeconfig');
  if (config) d.configFile = hostPathOf(config, source);
  if (configDir) d.configDir = hostPathOf(configDir, source);
  if (kubeconfig) d.kubeconfig = hostPathOf(kubeconfig, source);
  if (d.argsSource === 'none') {
    // Nothing says how a kubelet would run: assume kubeadm's layout, if it is there.
    d.configFile = hostPathOf(KUBEADM_DEFAULTS.kubeletConfig, 'default');
    d.kubeconfig = hostPathOf(KUBEADM_DEFAULTS.kubeletKubeconfig, 'default');
  }
  return d;
}

/** The hyperkube form carries the component's name as argv[1]. */
function argsAfterExecutable(argv: readonly string[]): string[] {
  return path.posix.basename(argv[0] ?? '') === 'hyperkube' ? argv.slice(2) : argv.slice(1);
}

/**
 * The unit file systemd would load (the first found in priority order) and its drop-ins
 * (*.conf from every <unit>.d directory; a name in a higher-priority directory hides the same
 * name below), drop-ins sorted by file name as systemd applies them.
 */
async function findUnitFiles(view: HostView, unit: string): Promise<string[]> {
  const files: string[] = [];
  for (const dir of UNIT_DIRS) view.watch(path.posix.join(dir, unit));
  const mains = await Promise.all(UNIT_DIRS.map((dir) => view.stat(path.posix.join(dir, unit))));
  const mainIndex = mains.findIndex((s) => s.kind !== 'missing');
  if (mainIndex >= 0) files.push(path.posix.join(UNIT_DIRS[mainIndex]!, unit));
  const listings = await Promise.all(
    UNIT_DIRS.map(async (dir) => {
      const d = path.posix.join(dir, `${unit}.d`);
      view.watch(d);
      return { d, names: (await view.list(d)).filter((n) => n.endsWith('.conf')) };
    }),
  );
  const byName = new Map<string, string>();
  for (const { d, names } of listings) {
    for (const n of names) if (!byName.has(n)) byName.set(n, path.posix.join(d, n));
  }
  for (const n of [...byName.keys()].sort()) files.push(byName.get(n)!);
  return files;
}

async function discoverKubeProxy(view: HostView, proc: ProcessRef | undefined): Promise<KubeProxyDiscovery> {
  if (!proc) {
    const d: KubeProxyDiscovery = { args: [], argsSource: 'none', root: '/' };
    if ((await view.stat(KUBEADM_DEFAULTS.kubeProxyConfig)).kind !== 'missing') {
      d.configFile = hostPathOf(KUBEADM_DEFAULTS.kubeProxyConfig, 'default');
    }
    await resolveKubeProxyKubeconfig(view, d);
    if (!d.kubeconfig) {
      for (const p of KUBEADM_DEFAULTS.kubeProxyKubeconfigs) {
        view.watch(p);
        if ((await view.stat(p)).kind !== 'missing') {
          d.kubeconfig = hostPathOf(p, 'default');
          break;
        }
      }
    }
    return d;
  }
  // kube-proxy usually runs in a pod: the paths on its command line are inside its own root.
  const root = `/proc/${proc.pid}/root`;
  const d: KubeProxyDiscovery = { process: proc, args: argsAfterExecutable(proc.argv), argsSource: 'cmdline', root };
  const config = lastFlag(parseArgs(d.args), 'config');
  if (config) d.configFile = inRoot(root, config, 'cmdline');
  await resolveKubeProxyKubeconfig(view, d);
  return d;
}

async function resolveKubeProxyKubeconfig(view: HostView, d: KubeProxyDiscovery): Promise<void> {
  const cfg = await loadKubeProxyConfig(view, d);
  const kc = cfg.kubeconfig();
  if (kc.ok && kc.setting.value) {
    d.kubeconfig = inRoot(d.root, kc.setting.value, kc.setting.source === 'file' ? 'config' : 'cmdline');
  }
}

function inRoot(root: string, p: string, source: PathSource): DiscoveredPath {
  const abs = path.posix.resolve('/', p);
  return { path: abs, hostPath: root === '/' ? abs : `${root}${abs}`, source };
}

/** Static pod manifests that only a control-plane node has. */
export const CONTROL_PLANE_MANIFESTS = ['kube-apiserver.yaml', 'kube-controller-manager.yaml', 'kube-scheduler.yaml', 'etcd.yaml'];
export const ADMIN_KUBECONFIG = '/etc/kubernetes/admin.conf';

async function isControlPlane(view: HostView, manifestDir: DiscoveredPath): Promise<boolean> {
  const paths = [...CONTROL_PLANE_MANIFESTS.map((m) => path.posix.join(manifestDir.hostPath, m)), ADMIN_KUBECONFIG];
  const stats = await Promise.all(paths.map((p) => view.stat(p)));
  return stats.some((s) => s.kind !== 'missing');
}

async function discoverEtcd(view: HostView, proc: ProcessRef | undefined, manifestDir: DiscoveredPath): Promise<EtcdDiscovery> {
  const d: EtcdDiscovery = {};
  if (proc) {
    d.process = proc;
    const dir = lastFlag(parseArgs(proc.argv.slice(1)), 'data-dir');
    // kubeadm mounts the data directory at the same path inside etcd's pod: the host path.
    if (dir) d.dataDir = hostPathOf(dir, 'cmdline');
  }
  if (!d.dataDir) {
    const manifest = path.posix.join(manifestDir.hostPath, 'etcd.yaml');
    const out = await loadYamlMapping(view, manifest, 'etcd manifest');
    if (out.kind === 'ok') {
      const dir = dataDirFromManifest(out.data);
      if (dir) d.dataDir = hostPathOf(dir, 'config');
    }
  }
  if (!d.dataDir) d.dataDir = hostPathOf(KUBEADM_DEFAULTS.etcdDataDir, 'default');
  return d;
}

/** --data-dir from the command and args of the etcd static pod's containers. */
function dataDirFromManifest(pod: Record<string, unknown>): string | undefined {
  const containers = getPath(pod, ['spec', 'containers']);
  if (!Array.isArray(containers)) return undefined;
  for (const c of containers) {
    if (c === null || typeof c !== 'object') continue;
    const words = [
      ...((c as { command?: unknown }).command instanceof Array ? ((c as { command: unknown[] }).command) : []),
      ...((c as { args?: unknown }).args instanceof Array ? ((c as { args: unknown[] }).args) : []),
    ].filter((w): w is string => typeof w === 'string');
    const dir = lastFlag(parseArgs(words), 'data-dir');
    if (dir) return dir;
  }
  return undefined;
}
