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

t.test('trust keys: TLS files, token, review, limits and retention, from file, environment and flags', async (t) => {
  const f = file('insecure: false\nagent:\n  tls: { ca: /f/ca.crt }\ncentral:\n  retention: { maxAge: 12h }\n  tokenReview: { serviceAccounts: [ns:agent], readers: [group:sre] }\n');
  const c = loadConfig({
    file: f,
    env: { NODEWARDEN_TLS_CERT: '/e/node.crt', NODEWARDEN_TLS_KEY: '/e/node.key', NODEWARDEN_TOKEN: '/e/token', NODEWARDEN_CENTRAL_TLS_CLIENT_CA: '/e/ca.crt', KUBECONFIG: '/e/kube' },
    overrides: { insecure: 'true' },
  });
  t.equal(c.insecure, true, 'a flag given as text overrides the file');
  t.same(c.agent.tls, { ca: '/f/ca.crt', cert: '/e/node.crt', key: '/e/node.key' });
  t.equal(c.agent.token, '/e/token');
  t.equal(c.kube.kubeconfig, undefined, '$KUBECONFIG is read by the client library, never mapped onto the key');
  t.equal(c.central.tls.clientCa, '/e/ca.crt');
  t.equal(c.central.retention.maxAge, 12 * 3_600_000, 'durations are read as milliseconds');
  t.same(c.central.tokenReview.serviceAccounts, ['ns:agent']);
  t.equal(c.central.tokenReview.audience, 'nodewarden', 'the audience defaults to nodewarden');
  t.equal(c.central.limits.eventsPerSecond, 2000);
});

t.test('token review keys from the environment and from flags', async (t) => {
  const f = file('central:\n  tokenReview: { serviceAccounts: [ns:agent], readers: [group:sre] }\n');
  const env = loadConfig({
    file: f,
    env: { NODEWARDEN_TOKEN_REVIEW: 'true', NODEWARDEN_TOKEN_AUDIENCE: 'nw-prod', NODEWARDEN_TOKEN_SERVICE_ACCOUNTS: 'nodewarden:agent-a, nodewarden:agent-b', NODEWARDEN_TOKEN_READERS: 'group:sre,jane@example.com' },
  });
  t.equal(env.central.tokenReview.enabled, true);
  t.equal(env.central.tokenReview.audience, 'nw-prod');
  t.same(env.central.tokenReview.serviceAccounts, ['nodewarden:agent-a', 'nodewarden:agent-b'], 'comma-separated, replacing the file\'s list');
  t.same(env.central.tokenReview.readers, ['group:sre', 'jane@example.com']);
  const flags = loadConfig({
    file: f, env: { NODEWARDEN_TOKEN_AUDIENCE: 'nw-prod' },
    overrides: { 'central.tokenReview.enabled': false, 'central.tokenReview.audience': 'nw-flag', 'central.tokenReview.serviceAccounts': ['x:y'] },
  });
  t.equal(flags.central.tokenReview.enabled, false);
  t.equal(flags.central.tokenReview.audience, 'nw-flag', 'a flag wins over the environment');
  t.same(flags.central.tokenReview.serviceAccounts, ['x:y']);
  t.throws(() => loadConfig({ env: { NODEWARDEN_TOKEN_SERVICE_ACCOUNTS: 'just-a-name' } }), /central\.tokenReview\.serviceAccounts\.0: expected NAMESPACE:NAME/);
});

t.test('trust keys are validated with their paths', async (t) => {
  const f = file('agent:\n  tls: { cert: /x.crt }\ncentral:\n  retention: { maxAge: soon }\n  tokenReview: { serviceAccounts: [just-a-name] }\n  tls: { key: /k }\n');
  let msg = '';
  try {
    loadConfig({ file: f, env: {} });
  } catch (e) {
    msg = (e as Error).message;
  }
  t.match(msg, /agent\.tls\.cert: cert and key go together/);
  t.match(msg, /central\.tls\.cert: cert and key go together/);
  t.match(msg, /central\.retention\.maxAge: expected a duration such as 90s/);
  t.match(msg, /central\.tokenReview\.serviceAccounts\.0: expected NAMESPACE:NAME/);
});
