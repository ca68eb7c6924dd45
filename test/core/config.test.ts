// Configuration: file, then environment, then flags; unknown keys refused; every error names its key.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../core/config.js';
import { tempDir } from '../helpers/pipeline.js';

const file = (text: string) => {
  const f = path.join(tempDir('config'), 'nodewarden.yaml');
  writeFileSync(f, text);
  return f;
};

t.test('defaults, then the file, then the environment, then flags', async (t) => {
  const f = file('node: from-file\nstateDir: /file/state\nagent:\n  central: file:1\n');
  const c = loadConfig({ file: f, env: { NODEWARDEN_STATE_DIR: '/env/state', NODEWARDEN_CENTRAL: 'env:2' }, overrides: { 'agent.central': 'flag:3' } });
  t.equal(c.node, 'from-file');
  t.equal(c.stateDir, '/env/state', 'environment over file');
  t.equal(c.agent.central, 'flag:3', 'flag over environment');
  t.equal(c.central.listen, '0.0.0.0:7443', 'defaults fill the rest');
  t.equal(c.agent.spool.maxBytes, 512 * 1024 * 1024);
});

t.test('every error names its key, all at once', async (t) => {
  const f = file('agent:\n  central: not-an-address\n  spool:\n    maxBytes: lots\n  bogus: 1\nlogLevel: loud\n');
  let err: (Error & { code?: string }) | undefined;
  try {
    loadConfig({ file: f, env: {} });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  t.equal(err?.code, 'NW_ERR_CONFIG');
  const msg = err?.message ?? '';
  t.match(msg, /agent\.central: expected HOST:PORT/);
  t.match(msg, /agent\.spool\.maxBytes: /);
  t.match(msg, /agent: .*bogus/);
  t.match(msg, /logLevel: /);
  t.ok(msg.includes(`in ${f}`), 'names the file');
});

t.test('broken YAML and a missing file are clear errors', async (t) => {
  t.throws(() => loadConfig({ file: file('agent: [unclosed\n'), env: {} }), /not valid YAML/);
  t.throws(() => loadConfig({ file: file('- a list\n'), env: {} }), /top level must be a mapping/);
  t.throws(() => loadConfig({ file: '/nonexistent/nodewarden.yaml', env: {} }), /cannot read the config file \/nonexistent/);
});
