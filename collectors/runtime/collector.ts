// The runtime collector: keeps the container inventory in step with the runtime and offers what it
// sees (the runtime and every container, as observations) per scope; the rules (runtime.yaml)
// decide which are problems, and the lifecycle opens and resolves them. A periodic collector
// with an optional push hint:
//
//   GetContainerEvents ──(any event: refresh soon)──┐
//   timer (pollIntervalMs; backoff when unreachable) ┴─▶ refresh ─▶ snapshot ─▶ inventory.replace
//                                                                 └▶ observations ─▶ sink.state
//
// Refreshes never overlap. While the runtime is unreachable, only the availability scope is
// offered (the runtime, unreachable) and the container scope is left as it was (nothing is known
// to have changed); the gRPC channel reconnects by itself and the next successful refresh
// offers everything again.

import path from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Collector, CollectorContext, CollectorStatus } from '../collector.js';
import { HostFs } from '../host/host-fs.js';
import { describeError } from '../../core/errors.js';
import type { RuntimeObservation, StateChange } from '../../core/observation.js';
import { containerObservation, runtimeFacts, runtimeObservation } from './observe.js';
import { type ContainerEventStream, CriClient, CriErrorReason, isCriError } from './cri-client.js';
import type { RuntimeConfig } from './factory.js';
import { type ContainerRecord, Inventory } from './inventory.js';
import { findRuntimeSocket, statSocket, type ResolvedSocket } from './socket.js';
import { takeSnapshot } from './snapshot.js';
import { ContainerdTasksClient } from './containerd-tasks.js';

const SCOPE_CONTAINERS = 'runtime:containers';
const SCOPE_NODE = 'runtime:node';
const SCOPE_AVAILABILITY = 'runtime:availability';
const MIN_BACKOFF_MS = 250;
/** An event burst (a pod of five containers starting) becomes one refresh. */
const EVENT_DEBOUNCE_MS = 100;
/** Refreshes asked for by execs in containers not in the inventory: at most one per this gap. */
const UNKNOWN_REFRESH_GAP_MS = 500;

interface RuntimeMetrics {
  containers: Gauge<'state'>;
  sandboxes: Gauge;
  up: Gauge;
  refresh: Histogram;
  errors: Counter<'reason'>;
  events: Counter;
}

/** prom-client refuses a second registration of a name: reuse the first (several collectors in tests). */
function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

function makeMetrics(registry: Registry): RuntimeMetrics {
  const registers = [registry];
  return {
    containers: metric(registry, 'nodewarden_runtime_containers', () => new Gauge({ name: 'nodewarden_runtime_containers', help: 'Containers in the runtime inventory, by state.', labelNames: ['state'] as const, registers })),
    sandboxes: metric(registry, 'nodewarden_runtime_sandboxes', () => new Gauge({ name: 'nodewarden_runtime_sandboxes', help: 'Pod sandboxes in the runtime inventory.', registers })),
    up: metric(registry, 'nodewarden_runtime_up', () => new Gauge({ name: 'nodewarden_runtime_up', help: '1 when the container runtime answered the last refresh.', registers })),
    refresh: metric(registry, 'nodewarden_runtime_refresh_seconds', () => new Histogram({ name: 'nodewarden_runtime_refresh_seconds', help: 'Duration of one inventory refresh through the CRI.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers })),
    errors: metric(registry, 'nodewarden_runtime_errors_total', () => new Counter({ name: 'nodewarden_runtime_errors_total', help: 'Runtime collector errors, by reason.', labelNames: ['reason'] as const, registers })),
    events: metric(registry, 'nodewarden_runtime_events_total', () => new Counter({ name: 'nodewarden_runtime_events_total', help: 'Container events received from the CRI event stream.', registers })),
  };
}

export class RuntimeCollector implements Collector {
  readonly name = 'runtime';
  /** The node's shared inventory (ctx.facts), which this collector alone writes. */
  readonly inventory: Inventory;
  private readonly hostFs: HostFs;
  private readonly log: Logger;
  private readonly metrics: RuntimeMetrics;
  private client: CriClient | null = null;
  /** containerd's own API, once the runtime said it is containerd; null otherwise. */
  private tasksClient: ContainerdTasksClient | null = null;
  private tasksApiFailed = false;
  private socket: ResolvedSocket | null = null;
  private runtimeName = '';
  private runtimeVersion = '';
  private lastFacts: ReturnType<typeof runtimeFacts> | null = null;
  private runtimeMemo: RuntimeObservation | null = null;
  private apparmorEnabled = false;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private rerun = false;
  private started = false;
  private stopped = false;
  private failures = 0;
  private reachable = false;
  private detail = 'not started';
  private events: ContainerEventStream | null = null;
  /** undefined: not probed on this connection; false: the runtime has no event stream. */
  private eventsSupported: boolean | undefined;
  private eventFailures = 0;
  private eventTimer: NodeJS.Timeout | null = null;
  private observationMemo = new Map<string, MemoEntry>();
  /** The last running observation of each workload, kept for restartGraceMs after it stops. */
  private lingering = new Map<string, { observation: RuntimeObservation; until: number }>();
  private lastAskedRefresh = 0;
  private soonTimer: NodeJS.Timeout | null = null;
  private unknownTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: RuntimeConfig,
    private readonly ctx: CollectorContext,
  ) {
    this.hostFs = new HostFs(ctx.hostRoot);
    this.inventory = ctx.facts?.inventory ?? new Inventory();
    this.log = ctx.logger;
    this.metrics = makeMetrics(ctx.metrics);
  }

  /** Makes the first refresh; an absent runtime is a finding, not an error. */
  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    try {
      this.apparmorEnabled = (await this.hostFs.readText('/sys/module/apparmor/parameters/enabled', 16)).trim().startsWith('Y');
    } catch {
      this.apparmorEnabled = false; // no AppArmor in this kernel
    }
    this.ctx.facts?.on('container-unknown', this.onUnknownContainer);
    await this.refreshNow();
  }

  /**
   * A process ran in a container we do not know: a new one, most likely. Refresh now, or, within
   * half a second of the last such refresh, once that half second is over (the last refresh may
   * have listed the runtime before this container existed).
   */
  private readonly onUnknownContainer = (): void => {
    if (this.stopped || this.unknownTimer) return;
    const wait = this.lastAskedRefresh + UNKNOWN_REFRESH_GAP_MS - Date.now();
    const ask = (): void => {
      this.unknownTimer = null;
      this.lastAskedRefresh = Date.now();
      void this.refreshNow();
    };
    if (wait <= 0) return ask();
    this.unknownTimer = setTimeout(ask, wait);
    this.unknownTimer.unref?.();
  };

  /** Refresh at once (or right after the refresh in flight) and resolve when done. */
  refreshNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = (async () => {
      do {
        this.rerun = false;
        await this.refresh();
      } while (this.rerun && !this.stopped);
    })().finally(() => {
      this.running = null;
      this.schedule();
    });
    return this.running;
  }

  async stop(deadlineMs = 5_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ctx.facts?.off('container-unknown', this.onUnknownContainer);
    if (this.soonTimer) clearTimeout(this.soonTimer);
    if (this.unknownTimer) clearTimeout(this.unknownTimer);
    this.soonTimer = this.unknownTimer = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.eventTimer) clearTimeout(this.eventTimer);
    this.timer = this.eventTimer = null;
    this.events?.cancel();
    this.events = null;
    if (this.running) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.running, new Promise<void>((r) => (t = setTimeout(r, deadlineMs)))]);
      clearTimeout(t);
    }
    this.client?.close();
    this.client = null;
    this.tasksClient?.close();
    this.tasksClient = null;
    this.detail = 'stopped';
  }

  status(): CollectorStatus {
    return { name: this.name, healthy: this.started && !this.stopped && this.reachable, detail: this.detail };
  }

  /** The socket in use (host path), once found. */
  get socketPath(): string | undefined {
    return this.socket?.hostPath;
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    let delay = this.config.pollIntervalMs;
    if (!this.reachable) {
      // Exponential backoff with ±20% jitter, never slower than the normal period.
      const base = Math.min(this.config.pollIntervalMs, MIN_BACKOFF_MS * 2 ** Math.min(this.failures, 10));
      delay = Math.round(base * (0.8 + Math.random() * 0.4));
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refreshNow();
    }, delay);
    this.timer.unref?.();
  }

  private async connect(): Promise<CriClient> {
    if (this.client) return this.client;
    const found = await findRuntimeSocket(this.hostFs, this.config.socket);
    if (!found.ok) throw new NoSocketError(found.error);
    this.socket = found.socket;
    this.client = new CriClient(found.socket.realPath, { callTimeoutMs: this.config.callTimeoutMs });
    this.log.info({ socket: found.socket.hostPath }, 'Using the container runtime socket found on the host.');
    return this.client;
  }

  private async refresh(): Promise<void> {
    const endTimer = this.metrics.refresh.startTimer();
    try {
      const client = await this.connect();
      if (!this.runtimeName) {
        const v = await client.version();
        this.runtimeName = v.runtimeName || 'unknown';
        this.runtimeVersion = v.runtimeVersion ?? '';
        if (this.ctx.facts) this.ctx.facts.runtime = `${this.runtimeName} ${v.runtimeVersion}`.trim();
        this.log.info({ runtime: v.runtimeName, version: v.runtimeVersion, api: v.runtimeApiVersion }, 'Connected to the container runtime.');
        if (this.config.containerdApi && this.runtimeName === 'containerd' && !this.tasksClient && this.socket) {
          this.tasksClient = new ContainerdTasksClient(this.socket.realPath, this.config.callTimeoutMs);
        }
      }
      const st = await client.status();
      const listedAt = Date.now();
      const snap = await takeSnapshot(client, this.inventory, {
        hostFs: this.hostFs,
        containerdStateDir: this.config.containerdStateDir || null,
        containerd: this.tasksClient,
        onContainerdApiError: (err) => {
          this.metrics.errors.inc({ reason: 'containerd-api' });
          if (!this.tasksApiFailed) this.log.warn({ err: describeError(err) }, 'containerd\'s own API did not list its tasks; scanning its state folder instead.');
          this.tasksApiFailed = true;
        },
      });
      if (this.stopped) return;
      this.inventory.replace(snap.containers, snap.sandboxes, listedAt);
      if (snap.detailErrors > 0) this.metrics.errors.inc({ reason: 'container-detail' }, snap.detailErrors);

      const conditions = (st.status?.conditions ?? []).map((c) => ({ type: c.type ?? '', status: c.status === true, reason: c.reason ?? '', message: c.message ?? '' }));
      const sockStat = this.socket ? await statSocket(this.hostFs, this.socket.hostPath) : null;
      const facts = runtimeFacts({
        name: this.runtimeName, version: this.runtimeVersion, socket: this.socket?.hostPath ?? '', conditions,
        socketStat: sockStat, apparmorEnforced: this.apparmorEnabled,
      });
      // The same facts give the same observation object: the rule engine judges it once, not on
      // every refresh (judging is half the cost of a steady-state refresh otherwise).
      const factsChanged = !this.lastFacts || JSON.stringify(this.lastFacts) !== JSON.stringify(facts);
      const runtime = factsChanged ? facts : this.lastFacts!;
      this.lastFacts = runtime;
      const containers: RuntimeObservation[] = [];
      const memo = new Map<string, MemoEntry>();
      for (const c of snap.containers) {
        const prev = this.observationMemo.get(c.id);
        const fresh = prev && !factsChanged && prev.security === c.security && prev.state === c.state && prev.pid === c.pid && prev.detailError === c.detailError;
        const entry = fresh ? prev : { security: c.security, state: c.state, pid: c.pid, detailError: c.detailError, observation: containerObservation(c, this.ctx.node, runtime) };
        memo.set(c.id, entry);
        containers.push(entry.observation);
      }
      this.observationMemo = memo;
      // A workload whose container stopped is still offered as it last ran for restartGraceMs:
      // a restart (new container, same workload) within it keeps its findings open instead of
      // resolving and opening them again when a refresh falls between the stop and the start.
      const now = Date.now();
      const running = new Set<string>();
      for (const o of containers) {
        if (o.container.state !== 'running') continue;
        running.add(o.key);
        this.lingering.set(o.key, { observation: o, until: now + this.config.restartGraceMs });
      }
      for (const [k, l] of this.lingering) {
        if (running.has(k)) continue;
        if (l.until <= now) this.lingering.delete(k);
        else containers.push(l.observation);
      }
      if (!this.runtimeMemo || factsChanged) this.runtimeMemo = runtimeObservation(this.ctx.node, runtime);

      const wasReachable = this.reachable;
      this.reachable = true;
      this.failures = 0;
      const notReady = conditions.filter((c) => !c.status).map((c) => c.type);
      this.detail = `${this.runtimeName} at ${this.socket?.hostPath}: ${snap.containers.length} containers in ${snap.sandboxes.length} sandboxes${notReady.length ? `; not ready: ${notReady.join(', ')}` : ''}`;
      if (!wasReachable && this.started) this.log.info({ socket: this.socket?.hostPath }, 'The container runtime is reachable.');
      this.updateGauges();
      await this.emit([
        { scope: SCOPE_AVAILABILITY, observations: [] },
        { scope: SCOPE_NODE, observations: [this.runtimeMemo] },
        { scope: SCOPE_CONTAINERS, observations: containers },
      ]);
      this.ensureEvents(client);
    } catch (err) {
      if (this.stopped) return;
      await this.onFailure(err);
    } finally {
      endTimer();
    }
  }

  private async onFailure(err: unknown): Promise<void> {
    const reason = err instanceof NoSocketError ? 'no-socket' : isCriError(err) ? err.reason : 'internal';
    this.metrics.errors.inc({ reason });
    this.failures++;
    const wasReachable = this.reachable;
    this.reachable = false;
    this.metrics.up.set(0);
    this.detail = `container runtime unreachable: ${describeError(err)}`;
    const unreachable = reason === 'no-socket' || reason === CriErrorReason.Unavailable || reason === CriErrorReason.Timeout;
    if (unreachable) {
      if (wasReachable || this.failures === 1) this.log.warn({ err: describeError(err) }, 'The container runtime is unreachable; retrying with backoff.');
      // The runtime may come back as a new process: re-probe its name and event support then.
      this.runtimeName = '';
      this.dropEvents();
      const down = runtimeFacts({ name: '', version: '', socket: this.socket?.hostPath ?? this.config.socket ?? '', error: describeError(err), apparmorEnforced: this.apparmorEnabled });
      await this.emit([{ scope: SCOPE_AVAILABILITY, observations: [runtimeObservation(this.ctx.node, down)] }]);
    } else if (this.failures === 1 || wasReachable) {
      this.log.error({ err: describeError(err), reason }, 'A runtime refresh failed; keeping the last inventory.');
    }
  }

  /** Hand on each scope's problems; the sink records the new state only if it could emit the transitions. */
  private async emit(changes: StateChange[]): Promise<void> {
    // A refresh that outlived stop() must not write to a sink that is closing; nothing is
    // recorded, so the next start works the same transitions out again.
    if (this.stopped) return;
    try {
      await this.ctx.sink.state(changes);
    } catch (err) {
      // Not recorded: the same transitions are worked out and sent again on the next refresh.
      this.metrics.errors.inc({ reason: 'sink' });
      this.log.error({ err: describeError(err) }, 'The sink refused runtime findings; they will be sent with the next refresh.');
    }
  }

  private updateGauges(): void {
    this.metrics.up.set(1);
    this.metrics.sandboxes.set(this.inventory.sandboxes().length);
    const byState: Record<string, number> = { created: 0, running: 0, exited: 0, unknown: 0 };
    for (const c of this.inventory.containers()) byState[c.state] = (byState[c.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(byState)) this.metrics.containers.set({ state }, n);
  }

  /** Open the event stream once per connection where the runtime supports it. */
  private ensureEvents(client: CriClient): void {
    if (!this.config.useEvents || this.events || this.eventsSupported === false || this.stopped || this.eventTimer) return;
    this.events = client.containerEvents({
      onEvent: () => {
        this.eventsSupported = true;
        this.eventFailures = 0;
        this.metrics.events.inc();
        this.requestSoon();
      },
      onEnd: (err) => {
        this.events = null;
        if (!err || this.stopped) return;
        if (err.reason === CriErrorReason.Unimplemented) {
          this.eventsSupported = false;
          this.log.info({ period: this.config.pollIntervalMs }, 'The runtime has no container event stream; polling instead.');
          return;
        }
        this.metrics.errors.inc({ reason: `events-${err.reason}` });
        // Reopen after a backoff; meanwhile the timer keeps the inventory right.
        this.eventFailures++;
        const delay = Math.min(this.config.pollIntervalMs, MIN_BACKOFF_MS * 2 ** Math.min(this.eventFailures, 10));
        this.eventTimer = setTimeout(() => {
          this.eventTimer = null;
          if (this.client && this.reachable) this.ensureEvents(this.client);
        }, delay);
        this.eventTimer.unref?.();
        // Events may have been missed while the stream was down.
        this.requestSoon();
      },
    });
  }

  private dropEvents(): void {
    this.events?.cancel();
    this.events = null;
    this.eventsSupported = undefined;
  }

  /**
   * Refresh soon after a container event. Events arriving meanwhile join the pending refresh
   * (never re-arm it: a steady stream of events would otherwise postpone it forever), and the
   * periodic poll timer is left alone.
   */
  private requestSoon(): void {
    if (this.stopped || this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      void this.refreshNow();
    }, EVENT_DEBOUNCE_MS);
    this.soonTimer.unref?.();
  }
}

class NoSocketError extends Error {}

interface MemoEntry {
  security: ContainerRecord['security'];
  state: ContainerRecord['state'];
  pid: number;
  detailError: string | undefined;
  observation: RuntimeObservation;
}
