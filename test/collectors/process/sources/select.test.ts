// Source selection: the preferred source when it works, the fallback order otherwise, and a
// clear reason for every source passed over.
import path from 'node:path';
import t from 'tap';

import { loadNative } from '../../../../collectors/process/sources/native.js';
import { openExecSource } from '../../../../collectors/process/sources/select.js';
import { repoRoot } from '../../../helpers/paths.js';
import { isRoot, runAsNobody, uniqueKey } from './exec-fixtures.js';

const loaded = loadNative();
if ('error' in loaded) throw new Error(`the native addon is not built (run npx node-gyp rebuild): ${loaded.error.message}`);
const rootSkip = !isRoot ? 'needs root' : false;

// Where the eBPF program is not built, auto-selection starts with audit (the tests below name it).
const noBpf = { bpf: { objectPath: '/nonexistent/exec.bpf.o' } };

t.test('as root, the eBPF source is chosen first with nothing skipped', { skip: rootSkip }, async (t) => {
  const { source, skipped } = await openExecSource({ ruleKey: uniqueKey() });
  t.teardown(() => source.stop());
  t.equal(source.name, 'bpf');
  t.same(skipped, []);
  t.match(source.limits, /from the kernel itself \(eBPF/);
});

t.test('as root without the eBPF program, audit is next, saying why', { skip: rootSkip }, async (t) => {
  const { source, skipped } = await openExecSource({ ruleKey: uniqueKey() }, undefined, noBpf);
  t.equal(source.name, 'audit');
  t.match(skipped, [{ name: 'bpf', reason: /eBPF exec program is not built/ }]);
  t.match(source.limits, /full command line/);
});

t.test("preferred 'audit' returns audit", { skip: rootSkip }, async (t) => {
  const { source, skipped } = await openExecSource({ ruleKey: uniqueKey() }, 'audit');
  t.equal(source.name, 'audit');
  t.same(skipped, []);
});

t.test("preferred 'connector' returns the connector", { skip: rootSkip }, async (t) => {
  const { source, skipped } = await openExecSource({}, 'connector');
  t.equal(source.name, 'connector');
  t.same(skipped, []);
});

t.test("preferred 'poller' returns the poller", async (t) => {
  const { source } = await openExecSource({}, 'poller');
  t.equal(source.name, 'poller');
});

t.test('a locked audit configuration falls back to the connector, saying why', { skip: rootSkip }, async (t) => {
  const addon = 'addon' in loaded ? loaded.addon : undefined;
  const { source, skipped } = await openExecSource({ ruleKey: uniqueKey() }, undefined, {
    ...noBpf,
    audit: { readStatus: () => ({ ...addon!.auditStatus(), enabled: 2 }) },
  });
  t.equal(source.name, 'connector');
  t.equal(skipped.length, 2);
  t.equal(skipped[1]!.name, 'audit');
  t.match(skipped[1]!.reason, /locked \(enabled 2\) until reboot/);
});

t.test('unicast mode is skipped while another audit daemon is registered', { skip: rootSkip }, async (t) => {
  const addon = 'addon' in loaded ? loaded.addon : undefined;
  const { source, skipped } = await openExecSource({ auditMode: 'unicast' }, undefined, {
    ...noBpf,
    audit: { readStatus: () => ({ ...addon!.auditStatus(), pid: 1 }) },
  });
  t.equal(source.name, 'connector');
  t.match(skipped[1], { name: 'audit', reason: /audit daemon \(pid 1\) is registered/ });
});

t.test('not root: eBPF and audit are skipped with reasons naming the missing privilege', { skip: !isRoot ? 'runs a child as nobody, which needs root' : false }, async (t) => {
  const selectJs = path.join(repoRoot, 'dist', 'collectors', 'process', 'sources', 'select.js');
  const script = `import { openExecSource } from ${JSON.stringify(selectJs)};
    const r = await openExecSource({});
    console.log(JSON.stringify({ name: r.source.name, skipped: r.skipped }));`;
  const { code, out, err } = await runAsNobody(script);
  t.equal(code, 0, err);
  const r = JSON.parse(out) as { name: string; skipped: { name: string; reason: string }[] };
  t.match(r.skipped[0], { name: 'bpf', reason: /not permitted to load the eBPF exec program|eBPF exec program is not built/ });
  t.match(r.skipped[1], { name: 'audit', reason: /not permitted to control kernel audit \(needs root/ });
  // Kernels since 6.6 let any user listen to the process connector; older ones need
  // CAP_NET_ADMIN, and then the poller is what is left.
  if (r.name === 'connector') t.equal(r.skipped.length, 2);
  else {
    t.equal(r.name, 'poller');
    t.match(r.skipped[2], { name: 'connector', reason: /not permitted to listen to the process connector/ });
  }
});
