// The process collector: every exec on the node from the best exec source available (audit,
// else the process connector, else a /proc poller), attributed to its container and pod, and
// handed on as an exec observation (core/observation.ts); the rules (rules/) decide what is a
// finding. Nothing is missed silently: every loss the kernel, the socket or the agent reports
// becomes a counter and an event.
//
//   ExecSource ─batches─▶ enrich (cgroup → container → pod, parent chain) ─▶ scope ─▶ observe ─▶ rules
//        │
//        └─notices (loss, rules restored)─▶ agent events + nodewarden_events_dropped_total

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Counter, Gauge } from 'prom-client';
import type { Collector, CollectorContext, CollectorStatus } from '../collector.js';
import type { Finding } from '../../core/finding.js';
import type { AncestorObservation, ContainerObservation, ExecObservation, KubernetesObservation, ProcessObservation } from '../../core/observation.js';
import { ExecContainer, LazyExecObservation } from './exec-observation.js';
import type { ContainerRecord } from '../runtime/inventory.js';
import { UNKNOWN_ID, type ExecEvent, type ExecSource, type SourceNotice } from './sources/exec-source.js';
import { SOURCE_ORDER, openExecSource } from './sources/select.js';
import { parseCgroup, lastComponent, type CgroupInfo } from './cgroup.js';
import { containerFromRuntimeParent } from './runtime-parent.js';
import { ProcessTable, type ProcessRecord } from './process-table.js';
import { droppedCounter } from '../../core/metrics.js';
import { describeError } from '../../core/errors.js';
import type { ProcessConfig } from './factory.js';

const MAX_PENDING = 10_000;
/** How long after a shim's `runc exec` a re-parented, already-gone child is taken to be its command. */
const RUNTIME_EXEC_WINDOW_MS = 5_000;

/** An exec in a container the inventory does not know yet, waiting briefly for its pod's name. */
interface PendingExec {
  obs: ExecObservation;
  facts: ExecFacts;
  containerId: string;
  /** When it began to wait (at most enrichWaitMs): a snapshot of the runtime listed later that lacks the container ends the wait. */
  heldAt: number;
}

/** What the exec source read of the process at exec time for container.init and container.drift. */
interface ExecFacts {
  nsInit: boolean | null | undefined;
  exeCtimeSec: number | null | undefined;
  exeCtimeNsec: number;
}

const HOST_COMPONENTS = new Set(['kubelet', 'kube-proxy', 'containerd', 'crio', 'dockerd']);
/** Placeholders an observation holds only until its container part is made. */
const NO_CONTAINER: ContainerObservation = Object.freeze({ id: '', name: '', image: '', imageDigest: '', origin: '', privileged: false, init: false, drift: false });
const NO_POD: KubernetesObservation = Object.freeze({ namespace: '', pod: '', podUid: '', container: '' });
const ANCESTOR_DEPTH = 5;

export class ProcessCollector implements Collector {
  readonly name = 'process';
  private source: ExecSource | null = null;
  private skipped: { name: string; reason: string }[] = [];
  private readonly table: ProcessTable;
  private readonly procRoot: string;
  private stopped = false;
  private startError: string | null = null;
  private readonly execs: Counter<'source' | 'scope'>;
  private readonly gone: Counter;
  private readonly execChildren = new Map<string, Counter.Internal>();
  private readonly interned = new Map<string, string>();
  /** Parsed /proc/PID/cgroup texts: the execs of one container share theirs. */
  private readonly cgroups = new Map<string, CgroupInfo>();
  /** shim pid → the container its latest `runc exec` entered, and when. */
  private readonly runtimeExecs = new Map<number, { containerId: string; at: number }>();
  private readonly lost: Counter<'component' | 'reason'>;
  private readonly sourceInfo: Gauge<'source'>;
  private readonly namespaces: Set<string>;
  private pending: PendingExec[] = [];
  private pendingTimer: NodeJS.Timeout | null = null;
  private readonly onInventoryChange = () => this.settlePending();
  /** The parent chain of an exec, read by an observation when a rule or a finding wants it. */
  private readonly chainOf = (e: ExecEvent) => this.ancestors(e);

  constructor(
    private readonly config: ProcessConfig,
    private readonly ctx: CollectorContext,
    /** Where exec sources come from; tests of enrichment hand in a scripted source. */
    private readonly openSource: typeof openExecSource = openExecSource,
  ) {
    this.procRoot = path.join(ctx.hostRoot, 'proc');
    this.table = new ProcessTable(config.maxProcesses);
    this.namespaces = new Set(['kube-system', ...config.namespaces]);
    const reg = ctx.metrics;
    this.execs = new Counter({ name: 'nodewarden_exec_events_total', help: 'Execs received from the exec source, by source and whether they were in scope.', labelNames: ['source', 'scope'], registers: [reg] });
    this.gone = new Counter({
      name: 'nodewarden_exec_gone_before_read_total', registers: [reg],
      help: 'Execs whose process was exiting or gone when its /proc entry was read (its container then comes from the parent; stdio, exe and namespace are not known).',
    });
    this.sourceInfo = new Gauge({ name: 'nodewarden_exec_source', help: 'The active exec source (1) and the others (0).', labelNames: ['source'], registers: [reg] });
    this.lost = droppedCounter(reg);
    // The source's own counters, read when Prometheus scrapes (no work per exec).
    const stats = () => this.source?.stats();
    new Gauge({
      name: 'nodewarden_exec_kernel_backlog', help: "The kernel audit backlog at the last status read (audit source).", registers: [reg],
      collect() { this.set(stats()?.kernelBacklog ?? 0); },
    });
    new Gauge({
      name: 'nodewarden_exec_source_lost', help: 'Execs lost since start, by where: kernel (audit lost counter; eBPF ring buffer full), socket (overruns), agent (queue full).', labelNames: ['where'], registers: [reg],
      collect() {
        const s = stats();
        this.set({ where: 'kernel' }, s?.lostKernel ?? 0);
        this.set({ where: 'socket' }, s?.lostSocket ?? 0);
        this.set({ where: 'agent' }, s?.lostAgent ?? 0);
      },
    });
    new Gauge({
      name: 'nodewarden_exec_source_received', help: 'Execs received by the exec source since start.', registers: [reg],
      collect() { this.set(stats()?.received ?? 0); },
    });
  }

  async start(): Promise<void> {
    let src: ExecSource;
    try {
      const opened = await this.openSource({
        procRoot: this.procRoot,
        auditMode: this.config.auditMode,
        ruleKey: this.config.ruleKey,
        pollIntervalMs: this.config.pollIntervalMs,
        bpfRingBytes: this.config.bpfRingBytes,
      }, this.config.source === 'auto' ? undefined : this.config.source);
      src = opened.source;
      this.source = src;
      this.skipped = opened.skipped;
    } catch (err) {
      this.startError = describeError(err);
      this.ctx.logger.error({ err: this.startError }, 'No exec source could start: exec capture is OFF.');
      await this.ctx.sink.report([this.agentFinding('agent.exec-capture-off', 'high', 'Exec capture is off',
        `No exec source could start on this node: ${this.startError}. Processes started in pods are not seen.`, this.startError)]);
      return;
    }
    for (const name of SOURCE_ORDER) this.sourceInfo.set({ source: name }, name === src.name ? 1 : 0);
    this.ctx.facts.inventory.on('change', this.onInventoryChange);
    await src.start((batch) => this.onBatch(batch), (n) => this.onNotice(n));
    this.startFileWatch(src);
    this.ctx.logger.info({ source: src.name, skipped: this.skipped, limits: src.limits }, `Exec capture uses the ${src.name} source.`);
    if (src.name !== 'bpf' && src.name !== 'audit') {
      const why = this.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
      await this.ctx.sink.report([this.agentFinding('agent.exec-source-degraded', 'medium', `Exec capture fell back to the ${src.name} source`,
        `Exec capture uses the ${src.name} source: ${src.limits}${why ? ` Skipped: ${why}.` : ''}`, why || src.limits)]);
    }
  }

  status(): CollectorStatus {
    if (this.startError) return { name: this.name, healthy: false, detail: `exec capture is off: ${this.startError}` };
    if (!this.source) return { name: this.name, healthy: false, detail: 'not started' };
    const s = this.source.stats();
    return {
      name: this.name, healthy: true,
      detail: `source ${this.source.name} (${this.source.limits}); ${s.received} execs, lost kernel ${s.lostKernel} socket ${s.lostSocket} agent ${s.lostAgent}`,
    };
  }

  /** The exec source in use, for status and tests. */
  activeSource(): ExecSource | null {
    return this.source;
  }

  /**
   * The files the posture checks read, watched through the exec source's audit rules; each
   * change goes back to the node's facts with the container and pod of the process that made it.
   */
  private startFileWatch(src: ExecSource): void {
    const facts = this.ctx.facts;
    const fw = src.fileWatch;
    if (!fw) {
      facts.fileWatch = src.name === 'bpf'
        ? 'files cannot be watched: audit, which holds the watch rules beside the eBPF source, cannot run here'
        : `the ${src.name} exec source cannot watch files (only audit can, alone or beside the eBPF source)`;
      return;
    }
    fw.onChange((c) => {
      // The cgroup read when the record arrived; a process gone by then (chmod lives a
      // millisecond) is found in the process table, from its exec.
      const cg = c.cgroup ? parseCgroup(c.cgroup) : null;
      const id = cg?.containerId ?? this.table.get(c.pid)?.containerId ?? '';
      const rec = id ? facts.inventory.lookup(id) : undefined;
      const { cgroup: _cgroup, ...change } = c;
      facts.emit('file-change', { ...change, containerId: id, container: rec?.name ?? '', namespace: rec?.namespace ?? '', pod: rec?.pod ?? '' });
    });
    this.onWatchFiles = (files: string[]) => fw.watch(files.map((hostPath) => ({ hostPath, path: path.join(this.ctx.hostRoot, hostPath) })));
    facts.on('watch-files', this.onWatchFiles);
    if (facts.watchFiles.length > 0) this.onWatchFiles(facts.watchFiles);
    facts.fileWatch = 'active';
  }

  private onWatchFiles: ((files: string[]) => void) | null = null;

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.onWatchFiles) this.ctx.facts.off('watch-files', this.onWatchFiles);
    if (this.ctx.facts.fileWatch === 'active') this.ctx.facts.fileWatch = 'exec capture stopped';
    await this.source?.stop();
    this.ctx.facts.inventory.off('change', this.onInventoryChange);
    this.settlePending(true);
    if (this.pendingTimer) clearInterval(this.pendingTimer);
    this.pendingTimer = null;
  }

  private onBatch(batch: ExecEvent[]): void {
    const out: ExecObservation[] = [];
    for (const e of batch) {
      try {
        this.handle(e, out);
      } catch (err) {
        // A bug or a hostile record must not stop capture: count it and go on.
        this.ctx.logger.warn({ err: describeError(err), pid: e.pid }, 'An exec event could not be processed.');
      }
    }
    if (out.length > 0) this.ctx.sink.observe(out);
  }

  private send(findings: Finding[]): void {
    this.ctx.sink.report(findings).catch((err) => this.ctx.logger.error({ err: describeError(err) }, 'Agent findings could not be spooled.'));
  }

  private handle(e: ExecEvent, out: ExecObservation[]): void {
    const cg = e.cgroup !== null ? this.cgroupOf(e.cgroup) : null;
    const parent = this.table.parentOf(e.ppid, e.startTime);
    // `runc exec … ID` run by a shim: remember which container that shim just entered.
    const entered = containerFromRuntimeParent(e);
    if (entered) this.noteRuntimeExec(e.ppid, entered);
    // A process gone before its /proc entry was read runs where its parent runs, or, when the
    // parent is `runc exec` (kubectl exec), in the container runc names.
    let containerId = cg ? cg.containerId : parent?.containerId ?? null;
    let cgroupPath = cg ? cg.path : parent?.cgroupPath ?? '';
    // runc's own stages sit in between (`runc exec` → `runc init` → the command): look a few
    // generations up.
    for (let p = parent, depth = 0; !cg && !containerId && p && depth < 4; depth++) {
      containerId = p.containerId ?? containerFromRuntimeParent(p);
      if (containerId) cgroupPath = p.cgroupPath;
      p = this.table.parentOf(p.ppid, p.startTime);
    }
    if (!cg && !containerId && e.ppid > 0) {
      // runc exec --detach exits at once, so its command is often re-parented to the shim before
      // it execs: the container is the one that shim's latest `runc exec` entered.
      containerId = this.recentRuntimeExec(e.ppid);
      if (containerId) cgroupPath = '';
    }
    if (!cg && !parent && !containerId && e.ppid > 0) {
      const pcg = this.readCgroup(e.ppid);
      if (pcg) {
        containerId = pcg.containerId;
        cgroupPath = pcg.path;
      }
    }
    // What the table keeps is small and owns its strings: a regex match or slice of the cgroup
    // text would otherwise keep the whole /proc/PID/cgroup text alive for every process remembered.
    this.table.put({
      pid: e.pid, ppid: e.ppid, startTime: e.startTime, exe: e.exe, comm: e.comm, argv: boundArgv(e.argv),
      uid: e.uid, euid: e.euid,
      containerId: containerId === null ? null : this.intern(containerId),
      cgroupPath: containerId === null && cgroupPath ? this.intern(cgroupPath) : '',
    });
    const inv = this.ctx.facts.inventory;
    let container: ContainerRecord | null = containerId ? inv.lookup(containerId) ?? null : null;
    if (!container && !containerId && cgroupPath && cgroupPath !== '/') {
      // Containers with a name instead of a hex id (ctr run) are matched by their cgroup path.
      container = inv.lookup(lastComponent(cgroupPath)) ?? null;
      if (container) containerId = container.id;
    }
    const inContainer = containerId !== null || (cg?.kubepods ?? false);
    const name = basename(e.argv[0] ?? '') || e.comm || basename(e.exe);

    if (!inContainer) {
      const component = [basename(e.exe), basename(e.argv[0] ?? '')].find((n) => HOST_COMPONENTS.has(n));
      if (component) this.ctx.facts.emit('component-exec', { component, pid: e.pid, argv: e.argv });
    }
    const namespace = container?.namespace ?? '';
    const inScope = inContainer
      ? this.namespaces.has(namespace) || this.namespaces.has('*') || !container || container.origin === 'outside-cri' || !namespace
      : this.config.hostProcesses;
    this.execCounter(e.source, inScope).inc();
    if (e.cgroup === null) this.gone.inc();
    if (!inScope || !e.success) return;
    const unknownContainer = inContainer && containerId !== null && container === null;
    if (unknownContainer) this.ctx.facts.emit('container-unknown', containerId!);

    // Put into the container from outside: its parent runs elsewhere (on the host, as runc and the
    // shims do). The parent's own cgroup is read only when the table does not know the parent.
    let enteredFromHost = false;
    if (inContainer) {
      if (parent) enteredFromHost = parent.containerId !== containerId;
      else if (e.ppid > 0) {
        const pcg = this.readCgroup(e.ppid);
        enteredFromHost = pcg !== null && pcg.containerId !== containerId;
      }
    }
    const facts: ExecFacts = { nsInit: e.nsInit, exeCtimeSec: e.exeCtimeSec, exeCtimeNsec: e.exeCtimeNsec ?? 0 };
    const obs = this.observation(e, parent, name, inContainer, containerId, container, enteredFromHost, facts);
    if (unknownContainer && this.ctx.facts.inventoryExpected && this.pending.length < MAX_PENDING) {
      // Hold it briefly: the runtime collector is refreshing and will name the pod.
      this.pending.push({ obs, facts, containerId: containerId!, heldAt: Date.now() });
      if (!this.pendingTimer && !this.stopped) {
        // Looked at every 100 ms while anything waits; no timer wakes the agent otherwise.
        this.pendingTimer = setInterval(() => this.settlePending(), 100);
        this.pendingTimer.unref();
      }
      return;
    }
    out.push(obs);
  }

  /** Execs waiting for their container: hand on those now known (or out of time). */
  private settlePending(force = false): void {
    if (this.pending.length === 0) return;
    const oldestAllowed = Date.now() - this.config.enrichWaitMs;
    const inv = this.ctx.facts.inventory;
    const keep: PendingExec[] = [];
    const out: ExecObservation[] = [];
    for (const p of this.pending) {
      const c = inv.lookup(p.containerId) ?? null;
      // Waiting on is worth it until the runtime has been listed since the exec (a busy node's
      // refresh can take longer than a second), or until enrichWaitMs is over.
      if (!c && !force && p.heldAt > oldestAllowed && inv.listedAt <= p.heldAt) {
        keep.push(p);
        continue;
      }
      if (c) {
        // Known now: a container outside the namespaces in scope is not ours to report.
        const ns = c.namespace;
        const inScope = this.namespaces.has(ns) || this.namespaces.has('*') || c.origin === 'outside-cri' || !ns;
        if (!inScope) continue;
        this.attach(p.obs, c, p.facts);
      }
      out.push(p.obs);
    }
    this.pending = keep;
    if (keep.length === 0 && this.pendingTimer) {
      clearInterval(this.pendingTimer);
      this.pendingTimer = null;
    }
    if (out.length > 0) this.ctx.sink.observe(out);
  }

  /**
   * The exec as rules see it. The container's `init` and `drift` come from what the exec source
   * read at exec time; where it read nothing they need /proc and a stat, and are worked out only
   * when a rule reads them.
   */
  private observation(e: ExecEvent, parent: ProcessRecord | undefined, name: string, inContainer: boolean, containerId: string | null, c: ContainerRecord | null, enteredFromHost: boolean, facts: ExecFacts): ExecObservation {
    const stdin = e.stdio?.stdin ?? '';
    const stdout = e.stdio?.stdout ?? '';
    const args = argsText(e.argv);
    const proc: ProcessObservation = {
      pid: e.pid, ppid: e.ppid, uid: e.uid, euid: e.euid, gid: e.gid, egid: e.egid, auid: e.auid,
      exe: e.exe, exeName: basename(e.exe), name, comm: e.comm, argv: e.argv, args,
      argvTruncated: e.argvTruncated, argvMissing: e.argvMissing, cwd: e.cwd, stdin, stdout,
      tty: isTerminal(stdin) || isTerminal(stdout),
      fileless: e.exe.startsWith('/memfd:') || e.exe.endsWith(' (deleted)'),
      enteredFromHost,
      capture: e.source,
    };
    const obs = new LazyExecObservation(
      e.timeUnixNano, proc,
      parent ? ancestorOf(parent) : { pid: e.ppid, uid: UNKNOWN_ID, euid: UNKNOWN_ID, exe: '', name: '', comm: '', argv: [] },
      inContainer, NO_CONTAINER, NO_POD, this.ctx.node, e, this.chainOf,
    );
    if (c) this.attach(obs, c, facts);
    else obs.container = this.containerFacts(obs, containerId ?? '', '', '', '', inContainer ? 'unknown' : '', false, null, facts);
    return obs;
  }

  /** Fill in what the inventory knows of the container. */
  private attach(obs: ExecObservation, c: ContainerRecord, facts: ExecFacts): void {
    obs.container = this.containerFacts(obs, c.id, c.name, c.image, c.imageDigest, c.origin, c.security?.privileged ?? false, c, facts);
    const k: KubernetesObservation = { namespace: c.namespace, pod: c.pod, podUid: c.podUid, container: c.namespace ? c.name : '' };
    obs.kubernetes = k;
  }

  /**
   * The container part, with container.init and container.drift from the exec source's facts,
   * else worked out from /proc when first read.
   */
  private containerFacts(
    obs: ExecObservation, id: string, name: string, image: string, imageDigest: string, origin: string, privileged: boolean,
    c: ContainerRecord | null, facts: ExecFacts,
  ): ExecContainer {
    const pid = obs.process.pid;
    const exe = obs.process.exe;
    const inContainer = obs.inContainer;
    // The container's own entrypoint is pid 1 of its pid namespace (the inventory may not know
    // the container yet when its first process execs). A source that found the process gone
    // (null) leaves nothing to read: /proc would describe nobody, or a stranger with its pid.
    const { nsInit, exeCtimeSec } = facts;
    const init = !inContainer || (c !== null && c.pid === pid) ? inContainer
      : nsInit !== undefined ? nsInit === true
      : () => this.isNamespaceInit(pid);
    // The file the process ran was written after the container started: not from its image.
    const drift = c === null || c.startedAtNs <= 0n ? false
      : exeCtimeSec !== undefined && exeCtimeSec !== null ? after(exeCtimeSec, facts.exeCtimeNsec, c)
      : () => this.binaryDrift(exe, c) === true;
    return new ExecContainer(id, name, image, imageDigest, origin, privileged, init, drift);
  }

  /** True when the process is pid 1 of its own pid namespace (NSpid in /proc/PID/status). */
  private isNamespaceInit(pid: number): boolean {
    try {
      const status = readFileSync(path.join(this.procRoot, String(pid), 'status'), 'latin1');
      const m = /^NSpid:\s*(.+)$/m.exec(status);
      if (!m) return false;
      const ids = m[1]!.trim().split(/\s+/);
      return ids.length > 1 && ids[ids.length - 1] === '1';
    } catch {
      return false;
    }
  }

  private noteRuntimeExec(shimPid: number, containerId: string): void {
    this.runtimeExecs.delete(shimPid);
    this.runtimeExecs.set(shimPid, { containerId: this.intern(containerId), at: Date.now() });
    if (this.runtimeExecs.size > 4096) this.runtimeExecs.delete(this.runtimeExecs.keys().next().value as number);
  }

  /** The container a shim's `runc exec` entered in the last few seconds, if any. */
  private recentRuntimeExec(shimPid: number): string | null {
    const r = this.runtimeExecs.get(shimPid);
    return r && Date.now() - r.at < RUNTIME_EXEC_WINDOW_MS ? r.containerId : null;
  }

  /** The parsed cgroup text, from a bounded cache (what it holds is small and owns its strings). */
  private cgroupOf(text: string): CgroupInfo {
    let info = this.cgroups.get(text);
    if (info === undefined) {
      const p = parseCgroup(text);
      info = { containerId: p.containerId && this.intern(p.containerId), podUid: p.podUid && this.intern(p.podUid), path: this.intern(p.path), kubepods: p.kubepods };
      // Bounded: past 256 different texts (containers with execs) it starts again.
      if (this.cgroups.size >= 256) this.cgroups.clear();
      this.cgroups.set(text, info);
    }
    return info;
  }

  /** One copy of each container id or cgroup path, detached from the text it was cut from. */
  private intern(s: string): string {
    let v = this.interned.get(s);
    if (v === undefined) {
      if (this.interned.size >= 4096) this.interned.clear();
      v = Buffer.from(s, 'utf8').toString('utf8');
      this.interned.set(v, v);
    }
    return v;
  }

  /** Label children bound once: prom-client hashes labels on every inc() otherwise. */
  private execCounter(source: string, inScope: boolean) {
    const key = `${source}:${inScope ? 'in' : 'out'}`;
    let c = this.execChildren.get(key);
    if (!c) {
      c = this.execs.labels({ source, scope: inScope ? 'in' : 'out' });
      this.execChildren.set(key, c);
    }
    return c;
  }

  /** The parent chain from the process table, parent first, bounded. */
  private ancestors(e: ExecEvent): AncestorObservation[] {
    const out: AncestorObservation[] = [];
    let ppid = e.ppid;
    let start = e.startTime;
    const seen = new Set<number>([e.pid]);
    while (ppid > 0 && out.length < ANCESTOR_DEPTH && !seen.has(ppid)) {
      seen.add(ppid);
      const p = this.table.parentOf(ppid, start) ?? this.readProcess(ppid);
      if (!p) {
        out.push({ pid: ppid, uid: UNKNOWN_ID, euid: UNKNOWN_ID, exe: '', name: '', comm: '', argv: [] });
        break;
      }
      out.push(ancestorOf(p));
      ppid = p.ppid;
      start = p.startTime;
    }
    return out;
  }

  /** A process that started before the agent: read it from /proc once and remember it. */
  private readProcess(pid: number) {
    try {
      const dir = path.join(this.procRoot, String(pid));
      const stat = readFileSync(path.join(dir, 'stat'), 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv = readFileSync(path.join(dir, 'cmdline')).subarray(0, 4096).toString('utf8').split('\0').filter(Boolean).slice(0, 16);
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      // Real and effective uid from status; unknown stays UNKNOWN_ID, never a made-up value.
      let uid = UNKNOWN_ID;
      let euid = UNKNOWN_ID;
      try {
        const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(path.join(dir, 'status'), 'latin1'));
        if (m) {
          uid = Number(m[1]);
          euid = Number(m[2]);
        }
      } catch {
        // gone meanwhile
      }
      const rec = {
        pid, ppid: Number(rest[1]), startTime: BigInt(rest[19] ?? '0'), exe: argv[0] ?? comm, comm, argv,
        uid, euid, containerId: null, cgroupPath: '',
      };
      this.table.put(rec);
      return rec;
    } catch {
      return undefined;
    }
  }

  private readCgroup(pid: number) {
    try {
      const text = readFileSync(path.join(this.procRoot, String(pid), 'cgroup')).subarray(0, 8192).toString('utf8');
      return this.cgroupOf(text);
    } catch {
      return null;
    }
  }

  /** True when the executable's inode changed after the container started: not from the image. */
  private binaryDrift(exe: string, c: ContainerRecord | null): boolean | null {
    if (!c || c.pid <= 0 || c.startedAtNs <= 0n || !exe.startsWith('/')) return null;
    try {
      const st = statSync(path.join(this.procRoot, String(c.pid), 'root', exe), { bigint: true, throwIfNoEntry: false });
      return st ? st.ctimeNs > c.startedAtNs : null;
    } catch {
      return null;
    }
  }

  private onNotice(n: SourceNotice): void {
    if (n.kind === 'loss') {
      const kernel = this.source?.name === 'bpf' ? 'ring_buffer_full' : 'audit_lost';
      this.lost.inc({ component: `exec-${n.where}`, reason: n.where === 'kernel' ? kernel : n.where === 'socket' ? 'socket_overrun' : 'agent_queue_full' }, n.count);
      this.ctx.logger.error({ count: n.count, where: n.where }, `Exec events were lost: ${n.detail}`);
      this.send([this.agentFinding('agent.exec-events-lost', 'high', 'Exec events were lost',
        `${n.count} exec events were lost (${n.where}): ${n.detail}`, `${n.count} lost at ${n.where}`, { count: String(n.count), where: n.where })]);
    } else if (n.kind === 'rules-restored') {
      this.ctx.logger.warn({ gapMs: n.gapMs }, `The agent's audit rules were removed and restored: ${n.detail}`);
      this.send([this.agentFinding('agent.audit-rules-restored', 'high', "The agent's audit rules were removed and have been restored",
        `Someone or something removed nodewarden's audit rules; they were restored after ${n.gapMs} ms. Execs in that window may be missing. ${n.detail}`,
        n.detail, { gapMs: String(n.gapMs) })]);
    } else {
      this.ctx.logger.warn({ detail: n.detail }, 'The exec source is degraded.');
      this.send([this.agentFinding('agent.exec-source-degraded', 'medium', 'The exec source is degraded', n.detail, n.detail)]);
    }
  }

  private agentFinding(ruleId: string, severity: Finding['severity'], title: string, message: string, evidence: string, attributes?: Record<string, string>): Finding {
    return {
      source: 'agent', ruleId, severity, title, message, evidence, attributes,
      fingerprint: `agent:${ruleId}:${this.ctx.node}`,
      remediation: ruleId === 'agent.audit-rules-restored'
        ? 'Find what reloaded or cleared the audit rules (auditd reload, auditctl -D); add nodewarden\'s rules to the node\'s audit configuration.'
        : 'Run the agent as root with hostPID and hostNetwork and CAP_AUDIT_READ/CAP_AUDIT_CONTROL, on a kernel with CONFIG_AUDITSYSCALL.',
    };
  }
}

/** A container's start as seconds and nanoseconds, made once per record. */
const startOf = new WeakMap<ContainerRecord, [number, number]>();

/** True when sec.nsec (a file's ctime) is later than the container's start. */
function after(sec: number, nsec: number, c: ContainerRecord): boolean {
  let start = startOf.get(c);
  if (start === undefined) {
    start = [Number(c.startedAtNs / 1_000_000_000n), Number(c.startedAtNs % 1_000_000_000n)];
    startOf.set(c, start);
  }
  return sec > start[0] || (sec === start[0] && nsec > start[1]);
}

/** argv as remembered for parent chains: enough to name a runtime's container argument. */
function boundArgv(argv: string[]): string[] {
  let fits = argv.length <= 24;
  for (let i = 0; fits && i < argv.length; i++) fits = argv[i]!.length <= 256;
  // Within the bounds (nearly always): the exec's own array, shared (nothing changes it).
  if (fits) return argv;
  const n = Math.min(argv.length, 24);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = argv[i]!.length > 256 ? argv[i]!.slice(0, 256) : argv[i]!;
  return out;
}

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

function ancestorOf(p: ProcessRecord): AncestorObservation {
  return { pid: p.pid, uid: p.uid, euid: p.euid, exe: p.exe, name: basename(p.argv[0] ?? '') || p.comm || basename(p.exe), comm: p.comm, argv: p.argv };
}

/** argv[1..] as one string, bounded, for matching arguments as text. */
function argsText(argv: string[]): string {
  let s = '';
  for (let i = 1; i < argv.length && s.length < 4096; i++) s += (i > 1 ? ' ' : '') + argv[i];
  return s.length > 4096 ? s.slice(0, 4096) : s;
}

function isTerminal(target: string): boolean {
  return target.startsWith('/dev/pts/') || target.startsWith('/dev/tty') || target === '/dev/console';
}
