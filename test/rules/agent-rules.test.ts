// The agent and its rules: it refuses to start with broken rules (every problem with its file and
// line), takes user folders and the older allow-list, and serves its baselines.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Agent } from '../../daemon/agent.js';
import { quietLogger, tempDir, testConfig } from '../helpers/pipeline.js';

t.test('broken rules stop the agent at start, naming the file and line', async (t) => {
  const dir = tempDir('agent-rules');
  writeFileSync(path.join(dir, 'mine.yaml'), "rules:\n  - id: process.mine\n    title: T\n    source: process\n    severity: low\n    output: x\n    condition: \"process.uid == 'root'\"\n");
  const state = tempDir('agent-rules-state');
  const agent = new Agent(testConfig({ stateDir: state, 'agent.central': '127.0.0.1:1', 'rules.dirs': [dir] }), quietLogger);
  t.teardown(() => agent.stop());
  const err = await agent.start().then(() => null, (e: Error) => e);
  t.match(err?.message ?? '', /invalid agent configuration:\n {2}rules: .*mine\.yaml:7: rule process\.mine: condition: no such overload: int == string/);
});

t.test('the agent runs user rules beside the built-in ones and serves its baselines', async (t) => {
  const dir = tempDir('agent-rules-ok');
  writeFileSync(path.join(dir, 'mine.yaml'), "rules:\n  - { id: process.shell-in-container, enabled: false }\n");
  const state = tempDir('agent-rules-state');
  const agent = new Agent(testConfig({ stateDir: state, 'agent.central': '127.0.0.1:1', 'rules.dirs': [dir] }), quietLogger);
  t.teardown(() => agent.stop());
  await agent.start();
  t.same(agent.rules.rules.disabled, ['process.shell-in-container']);
  t.ok(agent.rules.rules.byId.has('process.reverse-shell'));
  const res = await fetch(`http://127.0.0.1:${agent.httpAddress!.port}/baselines`);
  t.same(await res.json(), { baselines: [] });
});
