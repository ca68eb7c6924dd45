// The agent process: identity, spool, collectors, rules, shipper and the HTTP endpoint, wired once.
//
//   collectors ──observations──▶ RuleEngine ──findings──▶ Emitter ──▶ Spool (disk) ──▶ Shipper ══gRPC══▶ central
//                                    ▲
//                 rule packs (built-in + rules.dirs, hot-reloaded)
//
// start() fails fast on bad configuration; after start nothing from outside crashes it.

import { readFileSync } from 'node:fs';
import { writeFileDurably } from '../core/durable-file.js';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../core/config.js';
import { Spool } from './spool.js';
import { Shipper } from './shipper.js';
import { Emitter } from './emitter.js';
import { shipperMetrics } from './metrics.js';
import { droppedCounter } from '../core/metrics.js';
import { startHttp, type HttpEndpoint } from '../core/http.js';
import { NwError, describeError } from '../core/errors.js';
import type { Collector, CollectorContext, CollectorStatus } from '../collectors/collector.js';
import type { FindingSink } from '../core/finding.js';
import { collectorFactories, splitEnabled } from '../collectors/index.js';
import { NodeFacts } from '../collectors/node-facts.js';
import { VERSION } from '../core/version.js';
import { clientCredentials } from '../core/tls/credentials.js';
import type { CertFiles } from '../core/tls/cert-files.js';
import { TokenFile } from '../core/identity/token-file.js';
import { gatherHostFacts } from './host-facts.js';
import { HostFs } from '../collectors/host/host-fs.js';
import type { ProcessConfig } from '../collectors/process/factory.js';
import type { RuntimeConfig } from '../collectors/runtime/factory.js';
import { RuleEngine } from '../rules/engine.js';
import { RuleReloader } from '../rules/reload.js';
import { type LoadOptions, loadRuleset } from '../rules/ruleset.js';
import { formatProblem } from '../rules/pack.js';
import { allowToExceptions, runtimeListOverrides } from '../rules/legacy.js';
import { Baselines } from '../rules/baseline.js';
import { baselineRoutes } from './baseline-routes.js';
import { KubeApiClient, resolveApiAccess } from '../collectors/kube/api-client.js';
import { PolicyReportPublisher } from './policy-report.js';
import { withPodContext } from './pod-context.js';

export class Agent {
  readonly registry = new Registry();
  readonly agentId: string;
  readonly facts = new NodeFacts();
  private spool: Spool | null = null;
  private shipper: Shipper | null = null;
  private emitter: Emitter | null = null;
  private engine: RuleEngine | null = null;
  private baselines: Baselines | null = null;
  private reloader: RuleReloader | null = null;
  private http: HttpEndpoint | null = null;
  private tlsFiles: CertFiles | null = null;
  private tokenFile: TokenFile | null = null;
  private readonly collectors: Collector[] = [];
  private kubeClient: KubeApiClient | null = null;
  private policyReport: PolicyReportPublisher | null = null;
  private stopped = false;

  constructor(
    readonly config: Config,
    private readonly logger: Logger,
    /** The built-in packs' folder (tests replace it). */
    private readonly builtinRules?: string,
    /** Where API access is looked for (tests replace them): the environment, and a root the service account folder is under. */
    private readonly kubeEnv: { env?: NodeJS.ProcessEnv; serviceAccountRoot?: string } = {},
  ) {
    this.agentId = loadAgentId(config.stateDir, config.node);
  }

  get httpAddress(): HttpEndpoint['address'] | null {
    return this.http?.address ?? null;
  }

  /** Where findings enter the pipeline (after the rules). */
  get sink(): FindingSink {
    if (!this.emitter) throw new NwError('NW_ERR_STOPPED', 'the agent has not started');
    return this.emitter;
  }

  /** The rule engine (ruleset in use, matching), once started. */
  get rules(): RuleEngine {
    if (!this.engine) throw new NwError('NW_ERR_STOPPED', 'the agent has not started');
    return this.engine;
  }

  /** Unacknowledged events in the spool. */
  get pending(): number {
    return this.spool?.pending ?? 0;
  }

  collector(name: string): Collector | undefined {
    return this.collectors.find((c) => c.name === name);
  }

  async start(): Promise<void> {
    const cfg = this.config;
    // The event loop's delay is sampled by a timer: prom-client's default of every 10 ms woke the
    // agent a hundred times a second, idle or not; ten samples a second still catch any stall.
    collectDefaultMetrics({ register: this.registry, prefix: 'nodewarden_agent_', eventLoopMonitoringPrecision: 100 });
    const dropped = droppedCounter(this.registry);
    const emitted = new Counter({ name: 'nodewarden_events_emitted_total', help: 'Events written to the spool, by source.', labelNames: ['source'], registers: [this.registry] });
    const envelope = { agentId: this.agentId, node: cfg.node, cluster: cfg.cluster, agentVersion: VERSION };

    this.spool = await Spool.open({
      dir: path.join(cfg.stateDir, 'spool'),
      maxBytes: cfg.agent.spool.maxBytes,
      segmentBytes: cfg.agent.spool.segmentBytes,
      onDrop: (d) => {
        dropped.inc({ component: 'spool', reason: d.reason }, d.count);
        this.logger.error(d, 'The spool is full: the oldest unacknowledged events were dropped.');
        void this.emitter?.emit([{
          source: 'agent', ruleId: 'agent.events-dropped', severity: 'high',
          title: 'Events were dropped because the spool was full',
          message: `The agent dropped ${d.count} events (sequences ${d.firstSeq}–${d.lastSeq}) because central was unreachable for longer than the spool could hold.`,
          fingerprint: `agent:events-dropped:${d.firstSeq}`,
          evidence: `${d.count} events, sequences ${d.firstSeq}–${d.lastSeq}`,
          remediation: 'Restore the connection to central, or raise agent.spool.maxBytes.',
          attributes: { firstSeq: String(d.firstSeq), lastSeq: String(d.lastSeq), count: String(d.count) },
        }]).catch(() => undefined);
      },
      onCorrupt: (detail) => this.logger.warn({ detail }, 'The spool had a torn tail (an earlier crash mid-write); it was cut.'),
      onReject: (err) => {
        dropped.inc({ component: 'spool', reason: 'unencodable' });
        this.logger.error({ err: describeError(err) }, 'A finding could not be encoded and was dropped.');
      },
    });
    this.emitter = new Emitter(this.spool, envelope, emitted, dropped, () => this.shipper?.notify());

    // Validate every collector's config before starting any: all errors at once, with paths.
    const errors: string[] = [];
    // The Kubernetes API server, when the agent has access to it (kube.kubeconfig, in-cluster,
    // $KUBECONFIG): one client for the kube collector and the PolicyReport.
    let kubeApi: CollectorContext['kubeApi'];
    try {
      const access = await resolveApiAccess({ kubeconfig: cfg.kube.kubeconfig, env: this.kubeEnv.env ?? process.env, serviceAccountRoot: this.kubeEnv.serviceAccountRoot });
      if (access.ok) {
        this.kubeClient = new KubeApiClient(access.credentials, access.server);
        kubeApi = { client: this.kubeClient, source: access.source };
      } else {
        kubeApi = { client: null, why: access.why };
      }
    } catch (err) {
      errors.push(`kube.kubeconfig: ${describeError(err)}`);
    }
    const chosen: { type: string; create: (sink: CollectorContext['sink']) => Collector }[] = [];
    let processConfig: ProcessConfig | null = null;
    let runtimeConfig: RuntimeConfig | null = null;
    for (const [type, factory] of collectorFactories()) {
      const { enabled, rest } = splitEnabled(cfg.agent.collectors[type]);
      if (typeof enabled !== 'boolean') {
        errors.push(`agent.collectors.${type}.enabled: expected true or false`);
        continue;
      }
      const r = factory.validate(rest);
      if (!r.ok) errors.push(...r.errors.map((e) => `agent.collectors.${type}.${e}`));
      else {
        if (type === 'process') processConfig = r.config as ProcessConfig;
        if (type === 'runtime') runtimeConfig = r.config as RuntimeConfig;
        if (enabled) {
          chosen.push({
            type,
            create: (sink) => factory.create(r.config, {
              hostRoot: cfg.hostRoot, stateDir: cfg.stateDir, node: cfg.node, sink,
              logger: this.logger.child({ component: type }), metrics: this.registry, facts: this.facts, kubeApi,
            }),
          });
        }
      }
    }
    this.facts.inventoryExpected = chosen.some((c) => c.type === 'runtime');
    for (const type of Object.keys(cfg.agent.collectors)) {
      if (!collectorFactories().has(type)) errors.push(`agent.collectors.${type}: no such collector (known: ${[...collectorFactories().keys()].join(', ')})`);
    }
    if (cfg.insecure && cfg.agent.token) errors.push('agent.token: a service account token is never sent in plaintext; drop insecure and give agent.tls.ca');
    if (!cfg.insecure && !cfg.agent.tls.cert && !cfg.agent.token) {
      errors.push('agent.token or agent.tls.cert: the agent has no identity for central (a Kubernetes token, or an mTLS certificate and key), nor insecure: true for plaintext');
    }
    // The rules: built-in packs, then the user's folders. Broken rules stop the start, with every
    // problem's file and line.
    const pc = processConfig as ProcessConfig | null;
    const load: LoadOptions = {
      builtinDir: this.builtinRules, dirs: cfg.rules.dirs, extraExceptions: allowToExceptions(pc?.allow ?? []),
      listOverrides: runtimeListOverrides((runtimeConfig as RuntimeConfig | null) ?? {}),
    };
    const loaded = loadRuleset(load);
    if (!loaded.ok) errors.push(...loaded.problems.map((p) => `rules: ${formatProblem(p)}`));
    if (errors.length > 0 || !loaded.ok) throw new NwError('NW_ERR_CONFIG', `invalid agent configuration:\n  ${errors.join('\n  ')}`);
    const emitter = this.emitter;
    const bl = cfg.rules.baselines;
    this.baselines = bl.enabled
      ? new Baselines({ file: path.join(cfg.stateDir, 'rules', 'baselines.json'), learnMs: bl.learnFor, maxWorkloads: bl.maxWorkloads, maxExes: bl.maxExecutables })
      : null;
    this.engine = new RuleEngine(loaded.ruleset, {
      // Findings about a pod carry its owner workload, service account and labels from the API.
      sink: withPodContext(emitter, this.facts.pods), logger: this.logger.child({ component: 'rules' }), registry: this.registry,
      stateDir: cfg.stateDir, repeatWindowMs: pc?.repeatWindowMs ?? cfg.rules.repeatWindowMs, baselines: this.baselines ?? undefined,
    });
    this.engine.start();
    const engine = this.engine;
    this.reloader = new RuleReloader({
      load, logger: this.logger.child({ component: 'rules' }), registry: this.registry,
      onRuleset: (rs) => engine.swap(rs),
      report: (fs) => emitter.emit(fs),
    });
    this.reloader.start();
    this.logger.info({ rules: loaded.ruleset.rules.length, disabled: loaded.ruleset.disabled, dirs: cfg.rules.dirs }, 'Rules loaded.');

    // The channel to central: TLS unless explicitly insecure; the node proven by the client
    // certificate or by the service account token sent with every Hello.
    const tlsLog = this.logger.child({ component: 'tls' });
    const tls = await clientCredentials(cfg.agent.tls, cfg.insecure, (c) => (c.ok ? tlsLog.info(c.message) : tlsLog.error(`${c.message} The previous material stays in use.`)));
    this.tlsFiles = tls.files;
    if (cfg.insecure) this.logger.warn({ central: cfg.agent.central }, 'insecure: true — events go to central in plaintext and central cannot verify which node sends them.');
    if (cfg.agent.token) {
      this.tokenFile = new TokenFile({
        file: cfg.agent.token,
        onRotate: (token) => {
          this.logger.info('The service account token was rotated; central gets the new one on the live stream.');
          this.shipper?.refreshToken(token);
        },
        onProblem: (message) => this.logger.error(message),
      });
      await this.tokenFile.start();
    }
    const tokenFile = this.tokenFile;
    const host = await gatherHostFacts(new HostFs(cfg.hostRoot), () => this.facts.runtime, (msg) => this.logger.warn(msg));
    this.shipper = new Shipper(this.spool, {
      address: cfg.agent.central, agentId: this.agentId, node: cfg.node, agentVersion: VERSION,
      credentials: tls.credentials, channelOptions: tls.options,
      // The runtime's version arrives once the runtime collector has asked it: read it per Hello.
      host: () => ({ ...host, containerRuntime: this.facts.runtime || host.containerRuntime }),
      token: tokenFile ? () => tokenFile.refresh() : undefined,
    }, this.logger.child({ component: 'shipper' }), shipperMetrics(this.registry));

    this.shipper.start();
    // The posture results also go to the node's ClusterPolicyReport, when the API is there.
    if (this.kubeClient && cfg.kube.policyReport) {
      this.policyReport = new PolicyReportPublisher({
        client: this.kubeClient, node: cfg.node, logger: this.logger.child({ component: 'policy-report' }),
        judge: (o) => engine.judgeState(o), nodeUid: () => this.facts.nodeUid,
      });
    }
    const report = this.policyReport;
    for (const c of chosen) {
      let sink = engine.sinkFor(c.type);
      if (c.type === 'posture' && report) {
        const base = sink;
        sink = {
          ...base,
          state: async (changes) => {
            const transitions = await base.state(changes);
            report.offer(changes);
            return transitions;
          },
        };
      }
      const collector = c.create(sink);
      this.collectors.push(collector);
      try {
        await collector.start();
      } catch (err) {
        this.logger.error({ collector: collector.name, err: describeError(err) }, 'A collector failed to start; the agent runs without it.');
      }
    }
    this.http = await startHttp(cfg.agent.http, this.registry, () => ({
      problems: this.readiness(),
      // What each working collector is doing, so a degraded one (exec capture on the poller for
      // want of a capability, say) shows here while the agent stays ready.
      notes: [
        ...(cfg.insecure ? ['insecure: events go to central in plaintext, without a node identity'] : []),
        ...this.collectorStatuses().filter((s) => s.healthy && s.detail).map((s) => `collector ${s.name}: ${s.detail}`),
      ],
    }), baselineRoutes(() => this.baselines));
    this.logger.info({ agentId: this.agentId, central: cfg.agent.central, collectors: this.collectors.map((c) => c.name), pending: this.spool.pending }, 'The agent started.');
  }

  collectorStatuses(): CollectorStatus[] {
    return this.collectors.map((c) => c.status());
  }

  readiness(): string[] {
    const problems: string[] = [];
    for (const c of this.collectors) {
      const s = c.status();
      if (!s.healthy) problems.push(`collector ${s.name}: ${s.detail}`);
    }
    if (this.shipper && !this.shipper.isConnected) problems.push(`not connected to central at ${this.config.agent.central} (events are spooled)`);
    const tls = this.tlsFiles?.problem();
    if (tls) problems.push(tls);
    const token = this.tokenFile?.problem();
    if (token) problems.push(token);
    return problems;
  }

  async stop(deadlineMs = 3000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const c of this.collectors) {
      try {
        await c.stop(deadlineMs);
      } catch (err) {
        this.logger.warn({ collector: c.name, err: describeError(err) }, 'A collector did not stop cleanly.');
      }
    }
    await this.policyReport?.stop();
    this.kubeClient?.close();
    this.reloader?.stop();
    // Folded repeats go out, and what collectors flushed while stopping reaches the disk, before the spool closes.
    this.engine?.stop();
    await this.emitter?.close();
    await this.shipper?.stop(deadlineMs);
    await this.spool?.close();
    await this.http?.close();
    this.tlsFiles?.stop();
    this.tokenFile?.stop();
  }
}

/**
 * A stable agent id: the node name plus a random suffix, kept inside the spool folder because
 * the id and the spool's numbering belong together: a wiped spool starts a new identity (central
 * would otherwise take the new sequence 1 for a duplicate of the old one). Written durably
 * before any event is numbered.
 */
function loadAgentId(stateDir: string, node: string): string {
  const dir = path.join(stateDir, 'spool');
  const file = path.join(dir, 'agent-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[\w.-]{1,200}$/.test(id)) return id;
  } catch {
    // first start
  }
  const id = `${node.replace(/[^\w.-]/g, '-').slice(0, 180)}-${randomBytes(4).toString('hex')}`;
  writeFileDurably(file, `${id}\n`);
  return id;
}
