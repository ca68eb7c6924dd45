// The JavaScript half of the exec path on one core, without the kernel: batches of execs as the
// native reader hands them over (raw columns decoded by decodeExecBatch) go through the process
// collector (attribution, scope, the observation) and the rule engine with the built-in packs
// and baselines, as in the agent. The execs are those of the agent-exec benchmark: a program in
// a kube-system pod running /bin/true with a new argument each time, in batches of 1, 8 and 64.
// Prints CPU µs per exec for the decode and for the whole (decode + collector + rules).
import path from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { ProcessCollector } from '../../collectors/process/collector.js';
import { processConfigSchema } from '../../collectors/process/factory.js';
import { NodeFacts } from '../../collectors/node-facts.js';
import { decodeExecBatch, type RawExecBatch } from '../../collectors/process/sources/native.js';
import type { ExecEvent, ExecSource } from '../../collectors/process/sources/exec-source.js';
import type { ContainerRecord } from '../../collectors/runtime/inventory.js';
import { RuleEngine } from '../../rules/engine.js';
import { loadRuleset } from '../../rules/ruleset.js';
import { formatProblem } from '../../rules/pack.js';
import { Baselines } from '../../rules/baseline.js';
import { tempDir } from '../helpers/pipeline.js';

const CID = 'c0ffee'.repeat(10) + 'beef';
const POD_UID = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
// A cgroup v1 node with a v2 hierarchy beside it, as on this project's machines (~1.3 KB).
const CGROUP = [
  'blkio', 'cpu,cpuacct', 'cpuset', 'devices', 'freezer', 'hugetlb', 'memory', 'net_cls,net_prio', 'perf_event', 'pids', 'rdma', 'misc',
].map((c, i) => `${13 - i}:${c}:/kubepods/besteffort/pod${POD_UID}/${CID}`).concat([`1:name=systemd:/kubepods/besteffort/pod${POD_UID}/${CID}`, `0::/kubepods/besteffort/pod${POD_UID}/${CID}`]).join('\n') + '\n';

const F = 23;
// The addon's string cache as a batch hands it over: the strings that repeat, by slot.
const CACHE = ['/bin/busybox', 'true', '/', CGROUP, '/dev/null', 'pipe:[2561426]', 'nw-bench', '/bin/true'];

/** A raw batch like the reader's: the spawner (pid 500) running /bin/true ARG. */
function rawBatch(first: number, n: number): RawExecBatch {
  const nums = new Float64Array(n * F);
  const s: string[] = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const o = i * F;
    const pid = 10_000 + ((first + i) % 50_000);
    nums[o] = 2 | 4 | 32 | 64 | 128 | 256 | 512 | (1 << 10); // serial, success, start time, exe ctime, cgroup, stdio, key; nsInit no
    nums[o + 1] = Math.floor(now / 1000);
    nums[o + 2] = (now % 1000) * 1e6;
    nums[o + 3] = first + i;
    nums[o + 4] = pid;
    nums[o + 5] = 500;
    nums[o + 10] = 4294967295;
    nums[o + 11] = 2;
    nums[o + 12] = 100_000 + first + i;
    nums[o + 13] = 1_600_000_000;
    for (let k = 0; k < CACHE.length; k++) nums[o + 15 + k] = k;
    s.push(`nwb-${first + i}`);
  }
  return { n: nums, s, c: CACHE };
}

class Replay implements ExecSource {
  readonly name = 'audit' as const;
  readonly limits = 'replay';
  onBatch: (b: ExecEvent[]) => void = () => {};
  async start(onBatch: (b: ExecEvent[]) => void) {
    this.onBatch = onBatch;
  }
  async stop() {}
  stats() {
    return { received: 0, delivered: 0, lostKernel: 0, lostSocket: 0, lostAgent: 0, backlog: 0, rulesRestored: 0 };
  }
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export default async function execEnrichBench(): Promise<void> {
  const dir = tempDir('bench-exec-enrich');
  const loaded = loadRuleset({ dirs: [] });
  if (!loaded.ok) throw new Error(loaded.problems.map(formatProblem).join('\n'));
  let findings = 0;
  const logger = pino({ level: 'silent' });
  const registry = new Registry();
  const engine = new RuleEngine(loaded.ruleset, {
    sink: { emit: async (fs) => void (findings += fs.length) }, logger, registry, stateDir: dir, repeatWindowMs: 60_000,
    baselines: new Baselines({ file: path.join(dir, 'baselines.json'), learnMs: 3_600_000 }),
  });
  const facts = new NodeFacts();
  const container: ContainerRecord = {
    id: CID, sandboxId: 's', name: 'app', namespace: 'kube-system', pod: 'bench-app-6d4f9', podUid: POD_UID, image: 'busybox', imageDigest: 'sha256:0',
    state: 'running', createdAtNs: 1n, startedAtNs: 1_700_000_000_000_000_000n, pid: 400, cgroupPath: '', labels: {}, origin: 'cri', kubeLabelled: true,
  };
  facts.inventory.replace([container], []);
  const source = new Replay();
  const collector = new ProcessCollector(processConfigSchema.parse({}), {
    hostRoot: '/nonexistent-host', stateDir: dir, node: 'n', facts, sink: engine.sinkFor('process'), logger, metrics: registry,
  }, async () => ({ source, skipped: [] }));
  await collector.start();
  // The spawner's own exec first: the table knows the parent of every exec that follows.
  const spawner = decodeExecBatch(rawBatch(0, 1))[0]!;
  source.onBatch([{ ...spawner, pid: 500, ppid: 400, exe: '/tmp/nw-spawner', comm: 'nw-spawner', argv: ['/tmp/nw-spawner', '26000', '0', '/bin/true', 'nwb'], startTime: 1n }]);
  const seconds = process.env.NW_BENCH_QUICK ? 1 : 3;
  let next = 0;
  // Warm up the JIT as a running agent is.
  for (let i = 0; i < 20_000; i += 8) source.onBatch(decodeExecBatch(rawBatch((next += 8), 8)));
  console.log('batch  decode µs/exec  whole µs/exec');
  for (const size of [1, 8, 64]) {
    const batches = Array.from({ length: Math.ceil(65_536 / size) }, () => rawBatch((next += size), size));
    let k = 0;
    let n = 0;
    const c0 = cpuUs();
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) for (let i = 0; i < 64; i++, n += size) decodeExecBatch(batches[k++ % batches.length]!);
    const decodeUs = (cpuUs() - c0) / n;
    n = 0;
    const c1 = cpuUs();
    const end2 = performance.now() + seconds * 1000;
    while (performance.now() < end2) {
      for (let i = 0; i < 64; i++, n += size) source.onBatch(decodeExecBatch(batches[k++ % batches.length]!));
    }
    const wholeUs = (cpuUs() - c1) / n;
    console.log(`${String(size).padStart(5)}  ${decodeUs.toFixed(2).padStart(14)}  ${wholeUs.toFixed(2).padStart(13)}`);
  }
  await collector.stop();
  engine.stop();
  if (findings !== 0) console.log(`(${findings} findings: the benign execs fired something)`);
}
