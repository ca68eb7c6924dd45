// The rule engine's hot path: evaluations per second of the full built-in pack (every rule that
// an exec's name admits, plus those no name index covers; exceptions; the most severe first)
// against a recorded mix of exec observations, on one core. Most execs on a node are benign
// (ls, cat, the workload's own binaries); the mix says so: 90% benign, 10% that fire something.
// Target: at least 200,000 evaluations per second.
import { loadRuleset, matchRules } from '../../rules/ruleset.js';
import { completeObservation } from '../../rules/complete.js';
import { EXEC_FIELDS } from '../../rules/schema.js';
import { readCases } from '../../rules/testing.js';
import { formatProblem } from '../../rules/pack.js';
import path from 'node:path';
import { BUILTIN_DIR } from '../../rules/ruleset.js';

const pod = { inContainer: true, container: { id: 'c0ffee', name: 'app', image: 'app:1', origin: 'cri' }, kubernetes: { namespace: 'kube-system', pod: 'app-6d4cf56db6-x2v9k', container: 'app' } };
const BENIGN = [
  ['/bin/ls', ['ls', '-la', '/data']], ['/bin/cat', ['cat', '/etc/resolv.conf']], ['/usr/bin/python3.11', ['python3', '/app/manage.py', 'migrate']],
  ['/coredns', ['/coredns', '-conf', '/etc/coredns/Corefile']], ['/usr/local/bin/kube-proxy', ['kube-proxy', '--config=/var/lib/kube-proxy/config.conf']],
  ['/usr/bin/date', ['date', '+%s']], ['/bin/grep', ['grep', '-q', 'ready', '/tmp/status']], ['/usr/bin/env', ['env']],
  ['/usr/local/bin/node', ['node', 'server.js']], ['/bin/sleep', ['sleep', '5']], ['/usr/bin/tail', ['tail', '-n', '100', '/var/log/app.log']],
  ['/usr/sbin/nginx', ['nginx', '-s', 'reload']], ['/bin/mkdir', ['mkdir', '-p', '/tmp/cache']], ['/usr/bin/id', ['id', '-u']],
] as const;

function mix(): object[] {
  const out: object[] = [];
  for (const [exe, argv] of BENIGN) {
    out.push({ kind: 'exec', ...completeObservation({ ...pod, process: { exe, exeName: path.basename(exe), name: path.basename(argv[0]), comm: path.basename(exe).slice(0, 15), argv, args: argv.slice(1).join(' '), uid: 0, euid: 0 }, parent: { name: 'sh', exe: '/bin/sh' } }, EXEC_FIELDS).value });
  }
  // The built-in test cases that fire something: the suspicious 10%.
  const firing = readCases(path.join(BUILTIN_DIR, 'exec.tests.yaml'), []).filter((c) => c.expect.length > 0).map((c) => c.observation);
  const all: object[] = [];
  for (let i = 0; i < 1000; i++) all.push(i % 10 === 9 ? firing[i % firing.length]! : out[i % out.length]!);
  return all;
}

export default async function rulesBench(): Promise<void> {
  const t0 = performance.now();
  const r = loadRuleset({ dirs: [] });
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  console.log(`loaded and compiled ${r.ruleset.rules.length} rules in ${(performance.now() - t0).toFixed(1)} ms`);
  const observations = mix() as { kind: string; process: { name: string } }[];
  const seconds = process.env.NW_BENCH_QUICK ? 2 : 5;
  let n = 0;
  let fired = 0;
  // Warm up, then measure CPU time of this thread (one core).
  for (let i = 0; i < 50_000; i++) matchRules(r.ruleset, observations[i % observations.length]!);
  const runs: number[] = [];
  for (let run = 0; run < 3; run++) {
    const cpu0 = process.cpuUsage();
    const end = performance.now() + (seconds * 1000) / 3;
    let k = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 1000; i++) {
        if (matchRules(r.ruleset, observations[i]!).length > 0) fired++;
      }
      k += 1000;
    }
    const cpu = process.cpuUsage(cpu0);
    runs.push(k / ((cpu.user + cpu.system) / 1e6));
    n += k;
  }
  runs.sort((a, b) => a - b);
  console.log(`full built-in pack: ${Math.round(runs[1]!).toLocaleString('en')} evaluations per CPU-second (median of 3; min ${Math.round(runs[0]!).toLocaleString('en')}, max ${Math.round(runs[2]!).toLocaleString('en')}) over ${n.toLocaleString('en')} execs, ${(fired / n * 100).toFixed(0)}% firing; target >= 200,000`);
}
