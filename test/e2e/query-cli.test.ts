// The reading commands as an operator runs them, against a real central over TLS: `events`,
// `findings` and `tail` authenticate with an operator certificate, are refused with a node's
// certificate or without one, and refuse to talk plaintext to the TLS port.
import t from 'tap';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor } from '../helpers/pipeline.js';
import { tlsFixture, type PairFiles, type TlsFixture } from '../helpers/tls-fixture.js';
import { cliPath as bin } from '../helpers/paths.js';

let pki: TlsFixture;
let central: Central;
let agent: Agent;
let address: string;
let operator: PairFiles;
let nodePair: PairFiles;
const dir = tempDir('query-cli');

t.before(async () => {
  pki = await tlsFixture();
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  central = new Central(testConfig({
    insecure: false, 'central.dataDir': path.join(dir, 'central'), 'central.listen': address,
    'central.tls.cert': pki.server.cert, 'central.tls.key': pki.server.key, 'central.tls.clientCa': pki.ca,
  }), quietLogger);
  await central.start();
  nodePair = await pki.node('worker-q');
  operator = await pki.operator('alice');
  agent = new Agent(testConfig({
    insecure: false, node: 'worker-q', stateDir: path.join(dir, 'agent'), 'agent.central': address,
    'agent.tls.ca': pki.ca, 'agent.tls.cert': nodePair.cert, 'agent.tls.key': nodePair.key,
  }), quietLogger);
  await agent.start();
  await agent.sink.emit([
    { source: 'posture', ruleId: 'cis-4.1.1', severity: 'high', title: 'kubelet unit too open', message: 'mode 644', fingerprint: 'posture:4.1.1', state: 'open', cisId: '4.1.1' },
    { source: 'process', ruleId: 'exec-shell-in-container', severity: 'medium', title: 'shell', message: 'sh in coredns', fingerprint: 'exec:1', kubernetes: { namespace: 'kube-system', pod: 'coredns-1', podUid: 'u', container: 'coredns' } },
    { source: 'posture', ruleId: 'cis-4.1.2', severity: 'high', title: 'kubelet unit owner', message: 'owner', fingerprint: 'posture:4.1.2', state: 'open' },
    { source: 'posture', ruleId: 'cis-4.1.2', severity: 'high', title: 'kubelet unit owner', message: 'owner fixed', fingerprint: 'posture:4.1.2', state: 'resolved' },
  ]);
  await waitFor('stored', () => central.log.count() === 4);
});

t.teardown(async () => {
  await agent?.stop();
  await central?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(pki.dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const asOperator = () => ['--central', address, '--tls-ca', pki.ca, '--tls-cert', operator.cert, '--tls-key', operator.key];

t.test('events with an operator certificate lists stored events, filtered', async (t) => {
  const all = await run(['events', ...asOperator(), '-o', 'jsonl']);
  t.equal(all.code, 0, all.stderr);
  t.equal(all.stdout.trim().split('\n').length, 4);
  const shells = await run(['events', ...asOperator(), '--namespace', 'kube-system', '-o', 'json']);
  const parsed = JSON.parse(shells.stdout) as { ruleId: string; node: string }[];
  t.same(parsed.map((e) => e.ruleId), ['exec-shell-in-container']);
  t.equal(parsed[0]!.node, 'worker-q');
  const high = await run(['events', ...asOperator(), '--severity', 'high', '--since', '1h', '--state', 'resolved', '-o', 'jsonl']);
  t.equal(high.stdout.trim().split('\n').length, 1);
});

t.test('findings shows what is open right now, per node', async (t) => {
  const r = await run(['findings', ...asOperator()]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /worker-q/);
  t.match(r.stdout, /worker-q: 1 open finding/);
  t.match(r.stdout, /CIS 4\.1\.1\] kubelet unit too open/);
  t.notMatch(r.stdout, /kubelet unit owner/, 'a resolved finding is not open');
});

t.test("a node's certificate may not read", async (t) => {
  const r = await run(['events', '--central', address, '--tls-ca', pki.ca, '--tls-cert', nodePair.cert, '--tls-key', nodePair.key]);
  t.equal(r.code, 1);
  t.match(r.stderr, /worker-q may send its own events but not read/);
});

t.test('without a credential the call is refused', async (t) => {
  const r = await run(['findings', '--central', address, '--tls-ca', pki.ca]);
  t.equal(r.code, 1);
  t.match(r.stderr, /refused the credential/);
});

t.test('plaintext to the TLS port fails with a sentence naming the flag', async (t) => {
  const r = await run(['events', '--central', address, '--insecure']);
  t.equal(r.code, 1);
  t.match(r.stderr, /did not answer in plaintext.*drop --insecure and give --tls-ca/);
});

t.test('tail replays and streams with the same filters and credentials', async (t) => {
  // Stopped with Ctrl-C once the replay is in (a loaded machine starts node slowly), or after 30 s.
  const tail = (args: string[], expect: number) => new Promise<{ stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, 'tail', ...asOperator(), ...args, '--json'], (_e, stdout, stderr) => resolve({ stdout, stderr }));
    let seen = '';
    const stop = setTimeout(() => child.kill('SIGINT'), 30_000);
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      // The replayed events, and a moment for anything that should not be there.
      if (seen.split('\n').filter(Boolean).length >= expect) setTimeout(() => { clearTimeout(stop); child.kill('SIGINT'); }, 500);
    });
  });
  const rules = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ruleId: string; state: string });
  const r = await tail(['--replay', '10', '--rule', 'cis-*'], 3);
  t.same(rules(r.stdout).map((e) => e.ruleId), ['cis-4.1.1', 'cis-4.1.2', 'cis-4.1.2'], r.stderr);
  const resolved = await tail(['--replay', '10', '--state', 'resolved'], 1);
  t.same(rules(resolved.stdout).map((e) => [e.ruleId, e.state]), [['cis-4.1.2', 'FINDING_STATE_RESOLVED']], resolved.stderr);
});
