// The process collector's enrichment and reporting, driven by a scripted exec source so each
// case is exact (the real sources and a real node are exercised in test/e2e/process.test.ts):
// attribution of a process gone before /proc was read, pid reuse, the wait for a container the
// inventory does not know yet, scope, the allow-list, and losses becoming events. Observations go
// through the real rule engine with the built-in packs.
import t from 'tap';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ProcessCollector } from '../../../collectors/process/collector.js';
import { processConfigSchema } from '../../../collectors/process/factory.js';
import { NodeFacts } from '../../../collectors/node-facts.js';
import { ruleSink } from '../../helpers/rule-sink.js';
import { allowToExceptions } from '../../../rules/legacy.js';
import type { ExecEvent, ExecSource, SourceNotice } from '../../../collectors/process/sources/exec-source.js';
import type { ContainerRecord } from '../../../collectors/runtime/inventory.js';
import { tempDir, waitFor } from '../../helpers/pipeline.js';

const CID = 'a1'.repeat(32);
const CID2 = 'b2'.repeat(32);

class ScriptedSource implements ExecSource {
  readonly name = 'audit' as const;
  readonly limits = 'scripted';
  onBatch: ((b: ExecEvent[]) => void) | null = null;
  onNotice: ((n: SourceNotice) => void) | null = null;
  async start(onBatch: (b: ExecEvent[]) => void, onNotice: (n: SourceNotice) => void) {
    this.onBatch = onBatch;
    this.onNotice = onNotice;
  }
  async stop() {}
  stats() {
    return { received: 0, delivered: 0, lostKernel: 0, lostSocket: 0, lostAgent: 0, backlog: 0, rulesRestored: 0 };
  }
}

function exec(pid: number, ppid: number, argv: string[], over: Partial<ExecEvent> = {}): ExecEvent {
  return {
    source: 'audit', timeUnixNano: 1n, pid, ppid, uid: 0, euid: 0, gid: 0, egid: 0, auid: 4294967295,
    exe: over.exe ?? (argv[0]!.startsWith('/') ? argv[0]! : `/bin/${argv[0]}`), comm: argv[0]!.slice(0, 15), argv,
    argvTruncated: false, argvMissing: false, cwd: '/', success: true, cgroup: null, startTime: BigInt(pid), ...over,
  };
}
const cgroupOf = (id: string) => `0::/kubepods/besteffort/pod11111111-2222-3333-4444-555555555555/${id}\n`;

function container(id: string, namespace: string, pod: string): ContainerRecord {
  return {
    id, sandboxId: 's', name: 'app', namespace, pod, podUid: 'u', image: 'img', imageDigest: 'd', state: 'running',
    createdAtNs: 1n, startedAtNs: 1n, pid: 999_999, cgroupPath: '', labels: {}, origin: 'cri', kubeLabelled: true,
  };
}

async function setup(t: { teardown: (f: () => unknown) => void }, config: Record<string, unknown> = {}) {
  const facts = new NodeFacts();
  const parsed = processConfigSchema.parse({ enrichWaitMs: 300, ...config });
  // The allow-list of older configurations becomes exceptions of the rules (as the agent does it).
  const { sink, emitted } = ruleSink({ collector: 'process', load: { extraExceptions: allowToExceptions(parsed.allow) } });
  const source = new ScriptedSource();
  const collector = new ProcessCollector(parsed, {
    hostRoot: '/nonexistent-host', stateDir: tempDir('proc-unit'), node: 'n', facts,
    sink, logger: pino({ level: 'silent' }), metrics: new Registry(),
  }, async () => ({ source, skipped: [] }));
  await collector.start();
  t.teardown(() => collector.stop());
  return { facts, emitted, source, collector };
}

t.test('a shell gone before /proc was read is attributed through the runc exec that started it', async (t) => {
  const { facts, emitted, source } = await setup(t);
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], []);
  source.onBatch!([
    exec(100, 1, ['runc', '--root', '/run/containerd/runc/k8s.io', 'exec', '--process', '/tmp/p.json', '--detach', CID], { exe: '/usr/sbin/runc', cgroup: '0::/system.slice/containerd.service\n' }),
    exec(101, 100, ['runc', 'init'], { exe: '/usr/sbin/runc', cgroup: '0::/system.slice/containerd.service\n' }),
    exec(102, 101, ['nc', '-l', '-p', '4444'], { exe: '/bin/busybox', cgroup: null }),
  ]);
  const f = await waitFor('the finding', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'));
  t.equal(f.kubernetes?.pod, 'coredns-1');
  t.equal(f.container?.id, CID);
  t.same(f.process?.ancestors.map((a) => [a.pid, a.exe]), [[101, '/usr/sbin/runc'], [100, '/usr/sbin/runc'], [1, '']], 'parent chain from the process table; an unknown ancestor by pid alone');
});

t.test('a command re-parented to the shim before it execs is attributed to the container the shim just entered', async (t) => {
  const { facts, emitted, source } = await setup(t);
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], []);
  source.onBatch!([
    // pid 50 is the shim (started before the agent); runc exec --detach has already exited.
    exec(110, 50, ['runc', '--root', '/run/containerd/runc/k8s.io', 'exec', '--detach', CID], { exe: '/usr/sbin/runc', cgroup: '0::/system.slice/containerd.service\n' }),
    exec(112, 50, ['nc', '-l'], { exe: '/bin/busybox', cgroup: null }),
  ]);
  const f = await waitFor('the finding', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'));
  t.equal(f.kubernetes?.pod, 'coredns-1');
});

t.test("a reused pid does not lend the old process's container to a new child", async (t) => {
  const { facts, emitted, source } = await setup(t);
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], []);
  // pid 200 ran in the container, then a host process got pid 200 and started a short child.
  source.onBatch!([exec(200, 1, ['/app/server'], { cgroup: cgroupOf(CID), startTime: 50n })]);
  source.onBatch!([exec(200, 1, ['/usr/bin/cron'], { cgroup: '0::/system.slice/cron.service\n', startTime: 500n })]);
  source.onBatch!([exec(201, 200, ['nc', '-l'], { cgroup: null, startTime: 600n })]);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(emitted.filter((f) => f.ruleId === 'process.network-tool-in-container').length, 0, 'a host process, not a container one');
});

t.test('a detection in a container the inventory does not know yet waits for its pod name', async (t) => {
  const { facts, emitted, source } = await setup(t);
  let asked = '';
  facts.on('container-unknown', (id) => (asked = id));
  source.onBatch!([exec(300, 1, ['nc', '-l', '-p', '4444'], { exe: '/bin/busybox', cgroup: cgroupOf(CID2) })]);
  t.equal(asked, CID2, 'the runtime collector is asked to refresh');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(emitted.length, 0, 'held while waiting');
  facts.inventory.replace([container(CID2, 'kube-system', 'new-pod')], []);
  const f = await waitFor('the enriched finding', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'));
  t.equal(f.kubernetes?.pod, 'new-pod');
});

t.test('if the inventory never learns the container, the finding goes out with the id alone', async (t) => {
  const { emitted, source } = await setup(t);
  source.onBatch!([exec(310, 1, ['nc', '-l'], { exe: '/bin/busybox', cgroup: cgroupOf(CID2) })]);
  const f = await waitFor('the finding after the wait', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'), 2000);
  t.equal(f.container?.id, CID2);
  t.equal(f.kubernetes, undefined);
});

t.test('a listing of the runtime begun after the exec that lacks its container ends the wait early; one begun before does not', async (t) => {
  const { facts, emitted, source } = await setup(t, { enrichWaitMs: 20_000 });
  source.onBatch!([exec(320, 1, ['nc', '-l'], { exe: '/bin/busybox', cgroup: cgroupOf(CID2) })]);
  const held = Date.now();
  // A refresh that listed the runtime before the exec (it was in flight) knows nothing of it.
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], [], held - 1);
  await new Promise((r) => setTimeout(r, 250));
  t.equal(emitted.length, 0, 'still waiting after a listing older than the exec');
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], [], Date.now() + 1);
  const f = await waitFor('the finding, long before enrichWaitMs', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'), 2000);
  t.equal(f.container?.id, CID2);
  t.equal(f.kubernetes, undefined, 'no pod: the runtime does not know the container');
  t.ok(Date.now() - held < 5000, 'released by the listing, not by the 20 s limit');
});

t.test('without a runtime collector nothing will name the container: the exec goes out at once', async (t) => {
  const { facts, emitted, source } = await setup(t, { enrichWaitMs: 20_000 });
  facts.inventoryExpected = false;
  const t0 = Date.now();
  source.onBatch!([exec(330, 1, ['nc', '-l'], { exe: '/bin/busybox', cgroup: cgroupOf(CID2) })]);
  const f = await waitFor('the finding', () => emitted.find((x) => x.ruleId === 'process.network-tool-in-container'), 2000);
  t.equal(f.container?.id, CID2);
  t.ok(Date.now() - t0 < 2000, 'not held for enrichWaitMs');
});

t.test('scope: another namespace is quiet unless configured; the allow-list silences expected tools', async (t) => {
  const { facts, emitted, source } = await setup(t, { allow: [{ rule: 'exec-network-tool-in-container', namespace: 'kube-system', pod: 'probe-*' }] });
  facts.inventory.replace([container(CID, 'default', 'web-1'), { ...container(CID2, 'kube-system', 'probe-7'), pid: 1 }], []);
  source.onBatch!([
    exec(400, 1, ['nc', '-l'], { cgroup: cgroupOf(CID) }),
    exec(401, 1, ['wget', 'http://x'], { exe: '/bin/busybox', cgroup: cgroupOf(CID2) }),
  ]);
  await new Promise((r) => setTimeout(r, 100));
  t.same(emitted.map((f) => f.ruleId), [], 'default namespace out of scope; the allowed probe quiet');

  const wide = await setup(t, { namespaces: ['default'] });
  wide.facts.inventory.replace([container(CID, 'default', 'web-1')], []);
  wide.source.onBatch!([exec(402, 1, ['nc', '-l'], { cgroup: cgroupOf(CID) })]);
  await waitFor('in scope once configured', () => wide.emitted.find((f) => f.ruleId === 'process.network-tool-in-container'));
});

t.test('container.init and container.drift come from what the source read at exec time', async (t) => {
  const { facts, emitted, source } = await setup(t);
  // Started at 1,700,000,000.5 s; the inventory's pid is another process (999999).
  facts.inventory.replace([{ ...container(CID, 'kube-system', 'coredns-1'), startedAtNs: 1_700_000_000_500_000_000n }], []);
  const at = (sec: number, nsec: number) => ({ exeCtimeSec: sec, exeCtimeNsec: nsec });
  source.onBatch!([
    // Pid 1 of its namespace (a nested one): the entrypoint case, so in_container is false.
    exec(800, 1, ['sh', '-c', 'marker-init'], { cgroup: cgroupOf(CID), nsInit: true, ...at(1, 0) }),
    exec(801, 1, ['sh', '-c', 'marker-plain'], { cgroup: cgroupOf(CID), nsInit: false, ...at(1, 0) }),
    // Gone before /proc was read: not the entrypoint, and nothing is read for it.
    exec(802, 1, ['sh', '-c', 'marker-gone'], { cgroup: cgroupOf(CID), nsInit: null, exeCtimeSec: null }),
    // Changed a nanosecond after the container's start, and exactly at it.
    exec(803, 1, ['/app/tool', 'marker-after'], { exe: '/app/tool', cgroup: cgroupOf(CID), nsInit: false, ...at(1_700_000_000, 500_000_001) }),
    exec(804, 1, ['/app/tool', 'marker-before'], { exe: '/app/tool', cgroup: cgroupOf(CID), nsInit: false, ...at(1_700_000_000, 500_000_000) }),
  ]);
  const withArg = (a: string) => emitted.filter((f) => f.process?.argv.includes(a));
  await waitFor('the plain shell', () => withArg('marker-plain').find((f) => f.ruleId === 'process.shell-in-container'));
  await waitFor('the gone shell', () => withArg('marker-gone').find((f) => f.ruleId === 'process.shell-in-container'));
  const drifted = await waitFor('the drifted binary', () => withArg('marker-after')[0]);
  t.same(drifted.ruleIds ?? [drifted.ruleId], ['process.binary-not-in-image'], 'changed a nanosecond after the start');
  t.same(withArg('marker-init'), [], "the namespace's first process is the entrypoint: no shell finding");
  t.same(withArg('marker-before'), [], 'a file as old as the container is from its image');
});

t.test('losses and rule restores reported by the source become agent events', async (t) => {
  const { emitted, source, collector } = await setup(t);
  source.onNotice!({ kind: 'loss', count: 7, where: 'kernel', detail: 'audit lost counter rose by 7' });
  source.onNotice!({ kind: 'rules-restored', gapMs: 1500, detail: 'rules deleted' });
  await waitFor('two agent events', () => emitted.length === 2);
  t.same(emitted.map((f) => [f.source, f.ruleId]), [['agent', 'agent.exec-events-lost'], ['agent', 'agent.audit-rules-restored']]);
  t.equal(emitted[0]!.attributes?.count, '7');
  t.match(collector.status().detail, /source audit/);
});

t.test('the observation the collector builds has exactly the fields of the rules\' schema', async (t) => {
  const { EXEC_FIELDS } = await import('../../../rules/schema.js');
  type F = { type: unknown };
  const shape = (fields: Record<string, F>): unknown => Object.fromEntries(Object.entries(fields).map(([k, f]) => {
    const ty = f.type as { object?: Record<string, F>; list?: Record<string, F> } | string;
    return [k, typeof ty === 'string' ? ty : ty.object ? shape(ty.object) : [shape(ty.list!)]];
  }));
  const got: unknown[] = [];
  const facts = new NodeFacts();
  const source = new ScriptedSource();
  const collector = new ProcessCollector(processConfigSchema.parse({}), {
    hostRoot: '/nonexistent-host', stateDir: tempDir('proc-shape'), node: 'n', facts,
    sink: { observe: (o) => void got.push(...o), state: async () => [], report: async () => undefined },
    logger: pino({ level: 'silent' }), metrics: new Registry(),
  }, async () => ({ source, skipped: [] }));
  await collector.start();
  t.teardown(() => collector.stop());
  facts.inventory.replace([container(CID, 'kube-system', 'coredns-1')], []);
  source.onBatch!([exec(700, 1, ['/bin/true']), exec(701, 700, ['sh', '-c', 'x'], { cgroup: cgroupOf(CID) })]);
  const obs = got[0] as Record<string, unknown>;
  // What a rule can read: own properties and the getters of the object's class (the facts read
  // from /proc on first use).
  const keysOf = (v: object): string[] => {
    const keys = new Set(Object.keys(v));
    for (let p = Object.getPrototypeOf(v); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(p))) if (d.get) keys.add(k);
    }
    return [...keys];
  };
  const typeOf = (v: unknown): unknown => Array.isArray(v)
    ? (v.length && typeof v[0] === 'object' ? [typeOf(v[0])] : 'list<string>')
    : typeof v === 'object' && v !== null ? Object.fromEntries(keysOf(v).map((k) => [k, typeOf((v as Record<string, unknown>)[k])]))
      : typeof v === 'number' ? 'int' : typeof v === 'boolean' ? 'bool' : 'string';
  const { kind: _k, timeUnixNano: _t, ...fields } = Object.fromEntries(keysOf(obs).map((k) => [k, obs[k]]));
  const want = shape(EXEC_FIELDS as Record<string, F>) as Record<string, unknown>;
  delete want.baseline; // filled in by the rule engine
  t.equal(got.length, 1, 'the host exec is out of scope; the pod one is observed');
  t.same(typeOf(fields), want, 'the parent chain (pid 700, then pid 1 unknown) compares by its first element');
});

t.test('process config: the eBPF ring buffer must be a power of two, 64 KiB to 256 MiB', async (t) => {
  t.equal(processConfigSchema.parse({}).bpfRingBytes, 1_048_576);
  t.equal(processConfigSchema.parse({ bpfRingBytes: 65_536 }).bpfRingBytes, 65_536);
  const bad = processConfigSchema.safeParse({ bpfRingBytes: 3 * 65_536 });
  t.equal(bad.success, false);
  t.match(bad.error?.issues[0], { path: ['bpfRingBytes'], message: /power of two/ });
  t.equal(processConfigSchema.safeParse({ bpfRingBytes: 4096 }).success, false, 'below 64 KiB');
  t.equal(processConfigSchema.safeParse({ source: 'bpf' }).success, true, "'bpf' names the eBPF source");
});
