// A node in a box: a private containerd under a temporary folder, with kube-system pods created
// through the project's own CRI client exactly as the kubelet would (labels, cgroup parent,
// security contexts), plus `ctr run` for containers started behind the kubelet's back.
// Facts it relies on are in /work/shared/nodebox.md. Everything it starts is torn down by close(),
// which is safe after any failure and safe twice; tests call it from t.teardown.
//
//   startNodeBox() ─ tools? ─ no: apt-get install (root) ─ still no: { skip: why }
//        │
//        ▼  DIR/{config.toml, containerd.sock, root/, state/, runc/, cni/, logs/}
//   containerd ── CRI ──▶ box.cri (CriClient) ──▶ runPod / execSync / stopPod
//             └─ ctr ───▶ box.ctrRun (no CRI metadata: invisible to ListContainers)

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID, randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Long from 'long';
import { CriClient, isCriError, runtime } from '../../collectors/runtime/cri-client.js';
import { repoRoot } from '../helpers/paths.js';
import { buildBusyboxImage } from './oci-image.js';

const execFileP = promisify(execFile);

/** containerd 1.6 hard-codes this sandbox image name; our busybox image is tagged with it. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.6';
export const BUSYBOX_IMAGE = 'nodewarden.test/busybox:1';
const KUBE_SYSTEM = 'kube-system';

export interface MountSpec {
  hostPath: string;
  containerPath: string;
  readonly?: boolean;
  /** Kubernetes' mountPropagation; default private (None). */
  propagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

const PROPAGATION = {
  None: runtime.v1.MountPropagation.PROPAGATION_PRIVATE,
  HostToContainer: runtime.v1.MountPropagation.PROPAGATION_HOST_TO_CONTAINER,
  Bidirectional: runtime.v1.MountPropagation.PROPAGATION_BIDIRECTIONAL,
} as const;

export interface PodSpec {
  name: string;
  namespace?: string;
  /** Defaults to the pod name. */
  containerName?: string;
  uid?: string;
  privileged?: boolean;
  hostPid?: boolean;
  hostIpc?: boolean;
  /** Host network is the default: the box has no real CNI. false gives the pod its own netns. */
  hostNetwork?: boolean;
  capabilities?: { add?: string[]; drop?: string[] };
  mounts?: MountSpec[];
  runAsUser?: number;
  readonlyRootfs?: boolean;
  /** Unset leaves the CRI field empty, which runtimes read as unconfined. */
  seccomp?: 'runtime-default' | 'unconfined';
  noNewPrivs?: boolean;
  command?: string[];
  /** false: no io.kubernetes.* labels, as when a container is made with crictl by hand. */
  kubeLabels?: boolean;
  /** An image already in the box (see importImage); default the busybox test image. */
  image?: string;
  /** The image's arguments (Kubernetes' `args`): with `command` unset the image's entrypoint runs them. */
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  runAsGroup?: number;
  supplementalGroups?: number[];
}

export interface Pod {
  sandboxId: string;
  containerId: string;
  uid: string;
  name: string;
  namespace: string;
  containerName: string;
  sandboxConfig: runtime.v1.PodSandboxConfig.$Properties;
  containerConfig: runtime.v1.ContainerConfig.$Properties;
}

export interface CtrRunSpec {
  id?: string;
  privileged?: boolean;
  hostNetwork?: boolean;
  mounts?: MountSpec[];
  command?: string[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * The node-box for a whole test file: started, closed when the file ends. Where none can run
 * (not root, no apt-get), the file is skipped with the reason and exits here.
 */
export async function nodeBoxForFile(tap: { plan(n: number, why: string): void; teardown(fn: () => unknown): void }): Promise<NodeBox> {
  const started = await startNodeBox();
  if ('skip' in started) {
    tap.plan(0, started.skip);
    process.exit(0);
  }
  tap.teardown(() => started.close());
  return started;
}

export class NodeBox {
  readonly dir: string;
  readonly socket: string;
  readonly rootDir: string;
  readonly stateDir: string;
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly cri: CriClient;
  private proc: ChildProcess | null = null;
  private readonly podUids = new Set<string>();
  private readonly ctrIds = new Set<string>();
  private closed = false;
  private readonly onExit = (): void => {
    // Last resort when the test process dies without teardown: do not leave a daemon behind.
    if (this.proc?.pid) {
      try {
        process.kill(this.proc.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  };

  constructor(dir: string) {
    this.dir = dir;
    this.socket = path.join(dir, 'containerd.sock');
    this.rootDir = path.join(dir, 'root');
    this.stateDir = path.join(dir, 'state');
    this.runcRoot = path.join(dir, 'runc');
    this.cniConfDir = path.join(dir, 'cni', 'conf');
    this.cri = new CriClient(this.socket, { maxReconnectBackoffMs: 500 });
    process.on('exit', this.onExit);
  }

  get containerdPid(): number | undefined {
    return this.proc?.pid;
  }

  /** The containerd namespace the CRI uses; ctr runs there too so the CRI could see it if it would. */
  get namespace(): string {
    return 'k8s.io';
  }

  async startContainerd(): Promise<void> {
    if (this.proc) return;
    const log = openSync(path.join(this.dir, 'containerd.log'), 'a');
    const proc = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.proc = proc;
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      if (this.proc === proc) this.proc = null;
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited) throw new Error(`containerd exited at start; log:\n${this.logTail()}`);
      try {
        await this.cri.version();
        return;
      } catch (err) {
        if (!isCriError(err) || Date.now() > deadline) throw new Error(`containerd did not answer in 30 s: ${String(err)}\n${this.logTail()}`);
      }
      await sleep(100);
    }
  }

  /** Stops containerd as a node's service manager would; its shims keep the containers running. */
  async stopContainerd(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) {
      this.proc = null;
      return;
    }
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const killed = await Promise.race([gone.then(() => true), sleep(10_000).then(() => false)]);
    if (!killed) {
      proc.kill('SIGKILL');
      await gone;
    }
    this.proc = null;
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(path.join(this.dir, 'containerd.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async importImage(): Promise<void> {
    const busybox = await fsp.readFile(findBusybox()!);
    const { tar } = buildBusyboxImage(busybox, [PAUSE_IMAGE, BUSYBOX_IMAGE]);
    const file = path.join(this.dir, 'busybox-oci.tar');
    await fsp.writeFile(file, tar);
    await this.importArchive(file, BUSYBOX_IMAGE);
  }

  /**
   * Imports an image archive (docker-archive or OCI layout tar) and waits until the CRI knows
   * `ref`: it learns of images through containerd's event stream.
   */
  async importArchive(file: string, ref: string): Promise<void> {
    await this.ctr(['images', 'import', file]);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const st = await this.cri.imageStatus(ref);
      if (st.image?.id) return;
      await sleep(100);
    }
    throw new Error(`imported image ${ref} never appeared in the CRI image store`);
  }

  /** What a pod's container wrote to stdout and stderr so far (the CRI log file), or ''. */
  async containerLog(pod: Pod): Promise<string> {
    const file = path.join(pod.sandboxConfig.logDirectory ?? '', pod.containerConfig.logPath ?? '');
    return fsp.readFile(file, 'utf8').catch(() => '');
  }

  /** Creates a pod sandbox and one started container in it, the way the kubelet does. */
  async runPod(spec: PodSpec): Promise<Pod> {
    const namespace = spec.namespace ?? KUBE_SYSTEM;
    const uid = spec.uid ?? randomUUID();
    const containerName = spec.containerName ?? spec.name;
    const kubeLabels = spec.kubeLabels ?? true;
    const hostNetwork = spec.hostNetwork ?? true;
    const nsOptions = (pidDefault: runtime.v1.NamespaceMode): runtime.v1.NamespaceOption.$Properties => ({
      network: hostNetwork ? runtime.v1.NamespaceMode.NODE : runtime.v1.NamespaceMode.POD,
      pid: spec.hostPid ? runtime.v1.NamespaceMode.NODE : pidDefault,
      ipc: spec.hostIpc ? runtime.v1.NamespaceMode.NODE : runtime.v1.NamespaceMode.POD,
    });
    const podLabels: Record<string, string> = kubeLabels
      ? { 'io.kubernetes.pod.name': spec.name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid }
      : {};
    const logDir = path.join(this.dir, 'logs', `${namespace}_${spec.name}_${uid}`);
    await fsp.mkdir(path.join(logDir, containerName), { recursive: true });
    const sandboxConfig: runtime.v1.PodSandboxConfig.$Properties = {
      metadata: { name: spec.name, namespace, uid, attempt: 0 },
      hostname: hostNetwork ? '' : spec.name,
      logDirectory: logDir,
      labels: podLabels,
      linux: {
        cgroupParent: `/kubepods/besteffort/pod${uid}`,
        securityContext: {
          privileged: spec.privileged ?? false,
          namespaceOptions: nsOptions(runtime.v1.NamespaceMode.CONTAINER),
        },
      },
    };
    this.podUids.add(uid);
    const sandboxId = await this.cri.runPodSandbox(sandboxConfig);
    const seccomp =
      spec.seccomp === 'runtime-default'
        ? { profileType: runtime.v1.SecurityProfile.ProfileType.RuntimeDefault }
        : spec.seccomp === 'unconfined'
          ? { profileType: runtime.v1.SecurityProfile.ProfileType.Unconfined }
          : undefined;
    const config: runtime.v1.ContainerConfig.$Properties = {
      metadata: { name: containerName, attempt: 0 },
      image: { image: spec.image ?? BUSYBOX_IMAGE },
      // The CRI's command and args are Kubernetes' command and args: the image's entrypoint runs
      // when command is empty.
      command: spec.command ?? (spec.image ? [] : ['/bin/sleep', '3600']),
      args: spec.args ?? [],
      envs: Object.entries(spec.env ?? {}).map(([key, value]) => ({ key, value })),
      workingDir: spec.workingDir ?? '',
      labels: kubeLabels ? { ...podLabels, 'io.kubernetes.container.name': containerName } : {},
      logPath: `${containerName}/0.log`,
      mounts: (spec.mounts ?? []).map((m) => ({
        hostPath: m.hostPath, containerPath: m.containerPath, readonly: m.readonly ?? false, propagation: PROPAGATION[m.propagation ?? 'None'],
      })),
      linux: {
        securityContext: {
          privileged: spec.privileged ?? false,
          namespaceOptions: nsOptions(runtime.v1.NamespaceMode.CONTAINER),
          capabilities: spec.capabilities ? { addCapabilities: spec.capabilities.add ?? [], dropCapabilities: spec.capabilities.drop ?? [] } : undefined,
          runAsUser: spec.runAsUser !== undefined ? { value: Long.fromNumber(spec.runAsUser) } : undefined,
          runAsGroup: spec.runAsGroup !== undefined ? { value: Long.fromNumber(spec.runAsGroup) } : undefined,
          supplementalGroups: (spec.supplementalGroups ?? []).map((g) => Long.fromNumber(g)),
          readonlyRootfs: spec.readonlyRootfs ?? false,
          noNewPrivs: spec.noNewPrivs ?? false,
          seccomp,
        },
      },
    };
    const containerId = await this.cri.createContainer(sandboxId, config, sandboxConfig);
    await this.cri.startContainer(containerId);
    return { sandboxId, containerId, uid, name: spec.name, namespace, containerName, sandboxConfig, containerConfig: config };
  }

  /** Another container in an existing pod (same security settings), as a multi-container pod has. */
  async addContainer(pod: Pod, containerName: string): Promise<string> {
    await fsp.mkdir(path.join(pod.sandboxConfig.logDirectory ?? this.dir, containerName), { recursive: true });
    const labels = { ...(pod.containerConfig.labels ?? {}) };
    if ('io.kubernetes.container.name' in labels) labels['io.kubernetes.container.name'] = containerName;
    const config = { ...pod.containerConfig, metadata: { name: containerName, attempt: 0 }, labels, logPath: `${containerName}/0.log` };
    const id = await this.cri.createContainer(pod.sandboxId, config, pod.sandboxConfig);
    await this.cri.startContainer(id);
    return id;
  }

  /** What the kubelet does when a container dies: a new container (new id, next attempt) in the same sandbox. */
  async restartContainer(pod: Pod): Promise<Pod> {
    await this.cri.stopContainer(pod.containerId, 0);
    const attempt = (pod.containerConfig.metadata?.attempt ?? 0) + 1;
    const config = { ...pod.containerConfig, metadata: { name: pod.containerName, attempt }, logPath: `${pod.containerName}/${attempt}.log` };
    const containerId = await this.cri.createContainer(pod.sandboxId, config, pod.sandboxConfig);
    await this.cri.startContainer(containerId);
    return { ...pod, containerId, containerConfig: config };
  }

  async stopPod(pod: Pick<Pod, 'sandboxId'>): Promise<void> {
    await this.cri.stopPodSandbox(pod.sandboxId);
    await this.cri.removePodSandbox(pod.sandboxId);
  }

  async execSync(containerId: string, cmd: string[], timeoutSeconds = 10): Promise<ExecResult> {
    const res = await this.cri.execSync(containerId, cmd, timeoutSeconds);
    return {
      stdout: Buffer.from(res.stdout).toString('utf8'),
      stderr: Buffer.from(res.stderr).toString('utf8'),
      exitCode: res.exitCode,
    };
  }

  /** `ctr run -d` in the CRI's namespace: a container the kubelet never asked for. Returns its id. */
  async ctrRun(spec: CtrRunSpec = {}): Promise<string> {
    const id = spec.id ?? `hidden-${randomBytes(4).toString('hex')}`;
    const args = ['run', '-d', '--runc-root', this.runcRoot];
    if (spec.privileged) args.push('--privileged');
    if (spec.hostNetwork) args.push('--net-host');
    for (const m of spec.mounts ?? []) {
      args.push('--mount', `type=bind,src=${m.hostPath},dst=${m.containerPath},options=rbind:${m.readonly ? 'ro' : 'rw'}`);
    }
    args.push(BUSYBOX_IMAGE, id, ...(spec.command ?? ['/bin/sleep', '3600']));
    this.ctrIds.add(id);
    await this.ctr(args);
    return id;
  }

  async ctrRemove(id: string): Promise<void> {
    await this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
    // The task needs a moment to reach "stopped" after the kill before it can be deleted.
    for (let i = 0; i < 50; i++) {
      try {
        await this.ctr(['tasks', 'delete', id]);
        break;
      } catch (err) {
        if (/not found/i.test(String(err))) break;
        await sleep(100);
      }
    }
    await this.ctr(['containers', 'delete', id]).catch(() => undefined);
    this.ctrIds.delete(id);
  }

  async ctr(args: string[]): Promise<string> {
    const { stdout } = await execFileP('ctr', ['--address', this.socket, '--namespace', this.namespace, ...args], { timeout: 60_000 });
    return stdout;
  }

  /** Tears everything down; each step runs even when an earlier one fails. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${String(err)}`);
      }
    };
    // The runtime must be up to stop pods through it (a test may have left it stopped).
    if (!this.proc && existsSync(path.join(this.dir, 'config.toml'))) await step('restart containerd', () => this.startContainerd());
    if (this.proc) {
      await step('remove pods', async () => {
        for (const s of await this.cri.listPodSandbox()) {
          await this.cri.stopPodSandbox(s.id).catch(() => undefined);
          await this.cri.removePodSandbox(s.id).catch(() => undefined);
        }
      });
      for (const id of [...this.ctrIds]) await step(`remove ctr container ${id}`, () => this.ctrRemove(id));
    }
    this.cri.close();
    await step('stop containerd', () => this.stopContainerd());
    await step('delete leftover runc containers', () => this.deleteLeftoverContainers());
    await step('kill leftover shims', () => this.killLeftoverShims());
    await step('unmount', () => this.unmountAll());
    await step('remove pod cgroups', () => this.removePodCgroups());
    await step('remove folder', () => fsp.rm(this.dir, { recursive: true, force: true }));
    process.off('exit', this.onExit);
    if (errors.length > 0) throw new Error(`node-box teardown: ${errors.join('; ')}`);
  }

  private async deleteLeftoverContainers(): Promise<void> {
    const root = path.join(this.runcRoot, this.namespace);
    if (!existsSync(root)) return;
    const { stdout } = await execFileP('runc', ['--root', root, 'list', '-q'], { timeout: 20_000 });
    for (const id of stdout.split('\n').filter(Boolean)) {
      await execFileP('runc', ['--root', root, 'delete', '-f', id], { timeout: 20_000 }).catch(() => undefined);
    }
  }

  /** Shims outlive containerd by design; ours are the ones whose -address is our socket. */
  private async killLeftoverShims(): Promise<void> {
    for (const pid of await fsp.readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let cmdline: string;
      try {
        cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      const argv = cmdline.split('\0');
      if (!argv[0]?.includes('containerd-shim')) continue;
      const at = argv.indexOf('-address');
      if (at >= 0 && argv[at + 1] === this.socket) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }

  private async unmountAll(): Promise<void> {
    const mountinfo = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    const points = mountinfo
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((p): p is string => !!p)
      .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((p) => p.startsWith(this.dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const p of points) await execFileP('umount', ['-l', p]).catch(() => undefined);
  }

  private async removePodCgroups(): Promise<void> {
    let controllers: string[];
    try {
      controllers = await fsp.readdir('/sys/fs/cgroup');
    } catch {
      return;
    }
    for (const c of controllers) {
      for (const uid of this.podUids) {
        await rmdirTree(path.join('/sys/fs/cgroup', c, 'kubepods', 'besteffort', `pod${uid}`));
      }
    }
  }
}

/** cgroup folders hold only pseudo-files: remove children first, then rmdir. */
async function rmdirTree(dir: string): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await rmdirTree(path.join(dir, e.name));
  await fsp.rmdir(dir).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d, cmd);
    if (existsSync(p)) return p;
  }
  return null;
}

function findBusybox(): string | null {
  // The image needs a static busybox: a dynamic one would miss its libc inside the container.
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (existsSync(p) && isStatic(p)) return p;
  }
  return null;
}

function isStatic(file: string): boolean {
  try {
    // An ELF with no PT_INTERP program header is statically linked.
    const b = readFileSync(file);
    if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
    const phoff = Number(b.readBigUInt64LE(0x20));
    const phentsize = b.readUInt16LE(0x36);
    const phnum = b.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false;
    return true;
  } catch {
    return false;
  }
}

function missingTools(): string[] {
  const missing = ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2'].filter((t) => !which(t));
  if (!findBusybox()) missing.push('busybox (static)');
  return missing;
}

function configToml(dir: string): string {
  const q = (p: string): string => JSON.stringify(p);
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  return `version = 2
root = ${q(path.join(dir, 'root'))}
state = ${q(path.join(dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(path.join(dir, 'containerd.sock'))}

[ttrpc]
  address = ${q(path.join(dir, 'containerd.sock.ttrpc'))}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(path.join(dir, 'opt'))}

${cri}
  # The machine lacks CAP_SYS_RESOURCE: without this, sandboxes fail to set oom_score_adj.
  restrict_oom_score_adj = true
  sandbox_image = ${q(PAUSE_IMAGE)}
  # A random port, so boxes in concurrent tests never collide.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

${cri.slice(0, -1)}.cni]
  bin_dir = ${q(path.join(dir, 'cni', 'bin'))}
  conf_dir = ${q(path.join(dir, 'cni', 'conf'))}

${cri.slice(0, -1)}.containerd]
  default_runtime_name = "runc"

${cri.slice(0, -1)}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

${cri.slice(0, -1)}.containerd.runtimes.runc.options]
  Root = ${q(path.join(dir, 'runc'))}
`;
}

/**
 * A CNI plugin that answers ADD with an address but configures nothing: a pod with its own network
 * namespace then has only its loopback. Enough for containerd to run non-host-network sandboxes
 * (it requires an eth0 result), which tests need to show a hardened pod raising no host-network alarm.
 */
const NULL_CNI = `#!/bin/sh
case "$CNI_COMMAND" in
  ADD)
    if [ "$CNI_IFNAME" = lo ]; then addr=127.0.0.1/8; else addr=10.88.0.2/24; fi
    nsenter --net="$CNI_NETNS" ip link set lo up >/dev/null 2>&1 || true
    printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"%s","interface":0}]}' "$CNI_IFNAME" "$CNI_NETNS" "$addr"
    ;;
  VERSION)
    printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}'
    ;;
esac
exit 0
`;
export const NULL_CNI_CONFLIST = JSON.stringify({ cniVersion: '0.4.0', name: 'nodewarden-null', plugins: [{ type: 'nw-null' }] });

/**
 * Starts a node-box, or says why it cannot (not root, tools missing and not installable).
 * The caller must `await box.close()` (t.teardown).
 */
export async function startNodeBox(): Promise<NodeBox | { skip: string }> {
  if (process.platform !== 'linux') return { skip: 'node-box needs Linux' };
  if (process.getuid?.() !== 0) return { skip: 'node-box needs root (to run containerd and runc)' };
  let missing = missingTools();
  if (missing.length > 0) {
    try {
      await execFileP('sh', [path.join(repoRoot, 'scripts', 'install-node-box.sh')], { timeout: 300_000 });
    } catch (err) {
      return { skip: `node-box: ${missing.join(', ')} missing and could not be installed: ${String((err as Error).message).trim()}` };
    }
    missing = missingTools();
    if (missing.length > 0) return { skip: `node-box: still missing after install: ${missing.join(', ')}` };
  }
  // Short path: unix socket paths are limited to 108 bytes.
  const dir = await fsp.mkdtemp('/tmp/nwbox-');
  const box = new NodeBox(dir);
  try {
    await fsp.mkdir(path.join(dir, 'cni', 'bin'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'cni', 'conf'), { recursive: true });
    await fsp.mkdir(path.join(dir, 'logs'), { recursive: true });
    for (const name of ['nw-null', 'loopback']) await fsp.writeFile(path.join(dir, 'cni', 'bin', name), NULL_CNI, { mode: 0o755 });
    await fsp.writeFile(path.join(dir, 'cni', 'conf', '10-nodewarden-null.conflist'), NULL_CNI_CONFLIST);
    await fsp.writeFile(path.join(dir, 'config.toml'), configToml(dir));
    await box.startContainerd();
    await box.importImage();
    return box;
  } catch (err) {
    const log = box.logTail();
    await box.close().catch(() => undefined);
    throw new Error(`node-box failed to start: ${(err as Error).message}\ncontainerd log:\n${log}`);
  }
}
