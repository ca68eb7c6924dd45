// central.readListen: Feed and Query on an address of their own (a NetworkPolicy can then admit
// readers there and agents on the ingest port). Agents deliver on `listen`; `events` and `tail`
// read on `readListen`; neither port serves the other's services.
import t from 'tap';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Central } from '../../central/central.js';
import { Agent } from '../../daemon/agent.js';
import { freePort, quietLogger, tempDir, testConfig, waitFor } from '../helpers/pipeline.js';
import { tlsFixture } from '../helpers/tls-fixture.js';
import { cliPath } from '../helpers/paths.js';

const execFileP = promisify(execFile);

t.test('Feed and Query on readListen, Ingest alone on listen', async (t) => {
  const pki = await tlsFixture();
  const dir = tempDir('read-listen');
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  });
  const [ingestPort, readPort] = [await freePort(), await freePort()];
  const central = new Central(testConfig({
    insecure: false, 'central.dataDir': path.join(dir, 'central'), 'central.listen': `127.0.0.1:${ingestPort}`, 'central.readListen': `127.0.0.1:${readPort}`,
    'central.tls.cert': pki.server.cert, 'central.tls.key': pki.server.key, 'central.tls.clientCa': pki.ca,
  }), quietLogger);
  await central.start();
  t.teardown(() => central.stop());
  t.equal(central.port, ingestPort);
  t.equal(central.readPort, readPort);

  const node = await pki.node('worker-r');
  const agent = new Agent(testConfig({
    insecure: false, node: 'worker-r', stateDir: path.join(dir, 'agent'), 'agent.central': `127.0.0.1:${ingestPort}`,
    'agent.tls.ca': pki.ca, 'agent.tls.cert': node.cert, 'agent.tls.key': node.key,
  }), quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.sink.emit([{ source: 'agent', ruleId: 'test.read-listen', severity: 'high', title: 't', message: 'm', fingerprint: 'f' }]);
  await waitFor('stored', () => central.log.count() === 1);

  const operator = await pki.operator('alice');
  const events = (port: number) => execFileP(process.execPath, [cliPath, 'events', '--central', `127.0.0.1:${port}`, '--tls-ca', pki.ca,
    '--tls-cert', operator.cert, '--tls-key', operator.key, '-o', 'jsonl'], { timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
  const read = await events(readPort);
  t.equal(read.code, 0, read.stderr);
  t.same(read.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { ruleId: string }).ruleId), ['test.read-listen']);
  const wrong = await events(ingestPort);
  t.equal(wrong.code, 1, 'the ingest port does not answer queries');
  t.match(wrong.stderr, /does not serve this .*a central with central\.readListen answers queries and tail there/);
});
