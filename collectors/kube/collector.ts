// The kube collector: what the API server says should run on this node, beside what runs. It
// list-watches this node's Node object and the pods bound to it (reflector.ts), fills the shared
// pod directory (owner workload, service account, labels), and offers the comparison as states
// for the rules in rules/packs/kube.yaml:
//
//   Node reflector ─┐                                          ┌─ kube:api          the API itself
//   Pod reflector ──┼─▶ (debounced) compare ─▶ sink.state ──────┼─ kube:node         kubelet version
//   inventory change┤     with the CRI inventory               ├─ kube:containers   hidden containers, images
//   manifest dir ───┤     and the static pod folder            └─ kube:static-pods  manifests added/changed/removed
//   timer (resyncMs)┘
//
// Without API access only the static pod manifests are checked, and that is logged once. While
// the API server is away the container scope is left as it was (nothing is known to have
// changed), and the pod directory keeps the last pods it knew; without the runtime collector
// (no inventory) the container comparison is skipped, also said once.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { Gauge } from 'prom-client';
import type { Collector, CollectorContext, CollectorStatus } from '../collector.js';
import { HostFs } from '../host/host-fs.js';
import { DirWatcher } from '../host/dir-watcher.js';
import { discoverNode } from '../posture/discovery.js';
import { describeError } from '../../core/errors.js';
import type { KubeObservation, StateChange } from '../../core/observation.js';
import type { ContainerRecord } from '../runtime/inventory.js';
import type { KubeApiClient } from './api-client.js';
import type { KubeConfig } from './factory.js';
import { type NodeInfo, type PodInfo, decodeNode, decodePod, digestOf, olderThan, parseVersion } from './pod-info.js';
import { Reflector } from './reflector.js';
import { StaticPodManifests } from './static-pods.js';

const DEBOUNCE_MS = 200;
/** The checks that need the API server, as the no-access log line names them. */
export const API_CHECKS = ['kube.hidden-container', 'kube.image-mismatch', 'kube.kubelet-outdated', 'kube.api-unreachable', 'the PolicyReport'];

/** Every field empty: what each observation starts from (a test checks it has exactly the schema's fields). */
export const EMPTY: Omit<KubeObservation, 'key' | 'subject' | 'node'> = Object.freeze({
  kind: 'kube' as const,
  api: { reachable: false, error: '', server: '' },
  kubelet: { version: '', minimumVersion: '', belowMinimum: false },
  container: { id: '', name: '', image: '', imageDigest: '', origin: '', runtimeNamespace: '', state: '', ageSeconds: 0 },
  kubernetes: { namespace: '', pod: '', podUid: '', container: '' },
  pod: { status: '', phase: '', workloadKind: '', workloadName: '', serviceAccount: '', static: false },
  image: { spec: '', specDigest: '', statusImage: '', apiImageId: '', apiDigest: '', runtimeDigest: '' },
  manifest: { path: '', change: '', sha256: '', acceptedSha256: '', changedAt: '', dir: '', error: '' },
});

export class KubeCollector implements Collector {
  readonly name = 'kube';
  private readonly fs: HostFs;
  private readonly client: KubeApiClient | null;
  private readonly pods: Reflector<PodInfo> | null = null;
  private readonly nodes: Reflector<NodeInfo> | null = null;
  private readonly manifests: StaticPodManifests;
  private readonly minVersion: [number, number, number] | null;
  private watcher: DirWatcher | null = null;
  private manifestDir = '';
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private started = false;
  private stopped = false;
  private lastError = '';
  private saidNoInventory = false;
  /** When each pod uid was last in the API's list: a pod just deleted is "settling", not unknown. */
  private readonly lastSeen = new Map<string, number>();

  constructor(private readonly config: KubeConfig, private readonly ctx: CollectorContext) {
    this.fs = new HostFs(ctx.hostRoot);
    this.client = ctx.kubeApi?.client ?? null;
    this.minVersion = parseVersion(config.minKubeletVersion);
    this.manifests = new StaticPodManifests(this.fs, ctx.stateDir ? path.join(ctx.stateDir, 'kube', 'static-pods.json') : null, config.acceptManifestAfterMs);
    if (this.client) {
      const node = ctx.node;
      this.pods = new Reflector<PodInfo>({
        client: this.client, path: '/api/v1/pods', fieldSelector: `spec.nodeName=${node}`,
        decode: decodePod, key: (p) => p.uid, onChange: () => this.schedule(),
      });
      this.nodes = new Reflector<NodeInfo>({
        client: this.client, path: '/api/v1/nodes', fieldSelector: `metadata.name=${node}`,
        decode: decodeNode, key: (n) => n.uid, onChange: () => this.schedule(),
      });
      const self = this;
      const reg = ctx.metrics;
      if (!reg.getSingleMetric('nodewarden_kube_api_up')) {
        new Gauge({ name: 'nodewarden_kube_api_up', help: '1 when the last list or watch of this node\'s pods got an answer from the API server.', registers: [reg], collect() { this.set(self.pods?.reachable ? 1 : 0); } });
        new Gauge({
          name: 'nodewarden_kube_watch', help: 'List and watch activity since start, by resource and what: lists, watches, events, bookmarks, gone (410: listed again), errors.',
          labelNames: ['resource', 'what'], registers: [reg],
          collect() {
            for (const [resource, r] of [['pods', self.pods], ['nodes', self.nodes]] as const) {
              for (const [what, n] of Object.entries(r?.stats ?? {})) this.set({ resource, what }, n);
            }
          },
        });
        new Gauge({ name: 'nodewarden_kube_pods', help: 'Pods the API server binds to this node, as last listed and watched.', registers: [reg], collect() { this.set(self.pods?.items.size ?? 0); } });
      }
    }
  }

  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    const access = this.ctx.kubeApi;
    if (!this.client) {
      const why = access && access.client === null ? access.why : 'no API access was given to the collector';
      this.ctx.logger.warn({ why, skipped: API_CHECKS }, `No Kubernetes API access (${why}): skipping ${API_CHECKS.join(', ')}; static pod manifests are still checked.`);
    } else {
      this.ctx.logger.info({ server: this.client.server, via: access && access.client ? access.source : '' }, 'Watching this node and its pods on the Kubernetes API server.');
      this.pods?.start();
      this.nodes?.start();
    }
    this.ctx.facts.on('component-exec', this.onComponentExec);
    this.ctx.facts.inventory.on('change', this.onInventory);
    await this.locateManifests();
    await this.evaluate();
    if (this.stopped) return;
    this.timer = setInterval(() => void this.evaluate(), this.config.resyncMs);
    this.timer.unref();
  }

  private readonly onComponentExec = (c: { component: string }): void => {
    if (c.component === 'kubelet' && !this.config.manifestDir) void this.locateManifests().then(() => this.schedule());
  };

  private readonly onInventory = (): void => this.schedule();

  /** The static pod folder: configured, else the kubelet's staticPodPath (posture discovery). */
  private async locateManifests(): Promise<void> {
    let dir = this.config.manifestDir ?? '';
    if (!dir) {
      try {
        dir = (await discoverNode(this.fs)).manifestDir.hostPath;
      } catch (err) {
        this.ctx.logger.warn({ err: describeError(err) }, 'The kubelet\'s static pod folder could not be discovered; using /etc/kubernetes/manifests.');
        dir = '/etc/kubernetes/manifests';
      }
    }
    if (this.stopped) return;
    if (dir !== this.manifestDir) this.ctx.logger.info({ dir }, 'Watching the static pod manifests.');
    this.manifestDir = dir;
    // inotify on the folder (or its nearest existing parent), for a change within a second.
    let real = '';
    try {
      real = await this.fs.resolve(dir);
    } catch {
      real = '';
    }
    this.watcher ??= new DirWatcher(() => this.schedule(), () => this.schedule());
    const dirs: string[] = [];
    if (real) {
      let d = real;
      while (d.length > this.fs.root.length && !existsSync(d)) d = path.dirname(d);
      dirs.push(d);
    }
    this.watcher.set(dirs);
  }

  /** Compare soon: changes arriving meanwhile join the pending comparison. */
  private schedule(): void {
    if (this.stopped || this.debounce || !this.started) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.evaluate();
    }, DEBOUNCE_MS);
    this.debounce.unref?.();
  }

  /** Run one comparison now (or right after the one in flight). */
  evaluate(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.rerun = false;
        try {
          await this.evaluateOnce();
          this.lastError = '';
        } catch (err) {
          this.lastError = describeError(err);
          this.ctx.logger.error({ err: this.lastError }, 'A Kubernetes comparison failed; the next one tries again.');
        }
      } while (this.rerun && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async evaluateOnce(): Promise<void> {
    const now = Date.now();
    const node = this.ctx.node;
    const changes: StateChange[] = [];
    const manifests = await this.manifests.scan(this.manifestDir, now);
    changes.push({
      scope: 'kube:static-pods',
      observations: manifests.map((m): KubeObservation => ({ ...EMPTY, key: m.path, subject: 'static-pod', node, manifest: m })),
    });
    if (this.pods && this.nodes && this.client) {
      const reachable = this.pods.reachable || (!this.pods.lastError && !this.pods.synced);
      changes.push({
        scope: 'kube:api',
        observations: [{ ...EMPTY, key: node, subject: 'api', node, api: { reachable, error: this.pods.lastError, server: this.client.server } }],
      });
      if (this.pods.synced) {
        this.ctx.facts.pods.replace(this.pods.items.values(), true);
        for (const p of this.pods.items.values()) this.lastSeen.set(p.uid, now).set(p.mirrorOf || p.uid, now);
        for (const [uid, t] of this.lastSeen) if (now - t > 2 * this.config.podGraceMs + 60_000) this.lastSeen.delete(uid);
      }
      if (this.nodes.synced && this.nodes.reachable) {
        const n = [...this.nodes.items.values()].find((x) => x.name === node);
        const v = n ? parseVersion(n.kubeletVersion) : null;
        if (n) this.ctx.facts.nodeUid = n.uid;
        changes.push({
          scope: 'kube:node',
          observations: n ? [{
            ...EMPTY, key: node, subject: 'node', node,
            kubelet: { version: n.kubeletVersion, minimumVersion: this.config.minKubeletVersion, belowMinimum: !!(v && this.minVersion && olderThan(v, this.minVersion)) },
          }] : [],
        });
      }
      const inv = this.ctx.facts.inventory;
      if (this.pods.synced && this.pods.reachable) {
        if (inv.listedAt === 0) {
          if (!this.saidNoInventory) this.ctx.logger.warn('The container inventory is empty (the runtime collector is off or has not answered yet): containers are not compared with the API\'s pods until it fills.');
          this.saidNoInventory = true;
        } else {
          changes.push({ scope: 'kube:containers', observations: inv.containers().filter((c) => c.state === 'running').map((c) => this.containerObservation(c, now)) });
        }
      }
    }
    if (this.stopped) return;
    try {
      await this.ctx.sink.state(changes);
    } catch (err) {
      // Not recorded: the next comparison works the same transitions out and sends them again.
      this.ctx.logger.error({ err: describeError(err) }, 'Kubernetes findings could not be spooled; they will be sent after the next comparison.');
    }
  }

  private containerObservation(c: ContainerRecord, now: number): KubeObservation {
    const node = this.ctx.node;
    const ageMs = c.createdAtNs > 0n ? Math.max(0, now - Number(c.createdAtNs / 1_000_000n)) : 0;
    const obs: KubeObservation = {
      ...EMPTY, key: c.origin === 'cri' ? `${c.namespace}/${c.pod}/${c.name}` : `outside-cri/${c.runtimeNamespace ?? ''}/${c.id}`, subject: 'container', node,
      container: { id: c.id, name: c.name, image: c.image, imageDigest: c.imageDigest, origin: c.origin, runtimeNamespace: c.runtimeNamespace ?? '', state: c.state, ageSeconds: Math.floor(ageMs / 1000) },
      kubernetes: c.origin === 'cri' ? { namespace: c.namespace, pod: c.pod, podUid: c.podUid, container: c.name } : EMPTY.kubernetes,
    };
    if (c.origin !== 'cri') return obs;
    const pod = this.ctx.facts.pods.byPodUid(c.podUid);
    if (!pod) {
      // No pod with this uid: unknown once both the container and the pod's last sight are older than the grace.
      const since = Math.max(now - ageMs, this.lastSeen.get(c.podUid) ?? 0);
      obs.pod = { ...EMPTY.pod, status: now - since < this.config.podGraceMs ? 'settling' : 'unknown' };
      return obs;
    }
    obs.pod = { status: 'known', phase: pod.phase, workloadKind: pod.workloadKind, workloadName: pod.workloadName, serviceAccount: pod.serviceAccount, static: pod.mirrorOf !== '' };
    const spec = pod.containers.get(c.name);
    if (spec) {
      // The API's status describes one container instance: compare its imageID only with that one.
      const same = spec.containerId === c.id;
      obs.image = {
        spec: spec.spec, specDigest: spec.spec.includes('@') ? digestOf(spec.spec) : '', statusImage: same ? spec.statusImage : '',
        apiImageId: same ? spec.imageId : '', apiDigest: same ? digestOf(spec.imageId) : '', runtimeDigest: digestOf(c.imageDigest),
      };
    }
    return obs;
  }

  status(): CollectorStatus {
    if (this.lastError) return { name: this.name, healthy: false, detail: `the last comparison failed: ${this.lastError}` };
    if (!this.client) return { name: this.name, healthy: true, detail: `no API access: only static pod manifests are checked (${this.manifestDir || 'folder not found yet'})` };
    const p = this.pods!;
    if (!p.reachable) return { name: this.name, healthy: false, detail: `API server ${this.client.server} unreachable: ${p.lastError || 'not answered yet'}` };
    return { name: this.name, healthy: true, detail: `${p.items.size} pods bound to this node at ${this.client.server}; static pods in ${this.manifestDir}` };
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ctx.facts.off('component-exec', this.onComponentExec);
    this.ctx.facts.inventory.off('change', this.onInventory);
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = this.debounce = null;
    this.watcher?.close();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([this.pods?.stop(), this.nodes?.stop(), this.running]),
      new Promise<void>((r) => (t = setTimeout(r, deadlineMs))),
    ]);
    clearTimeout(t);
  }
}
