// The image (issue 19, item 1): built from the top-level Dockerfile on the self-assembled bases
// (Debian from mmdebstrap, Node from the npm registry) with buildah, then checked for what holds
// without Kubernetes: its labels, entrypoint and user; its contents (production dependencies only,
// the native addons, the rule packs); and, run with `buildah run`, that the command, its V8 and
// glibc settings, the addons and better-sqlite3 work on the image's own Node 24.
// Running it as pods with the manifests' privileges is test/e2e/deploy-in-container.test.ts.

import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, existsSync, lstatSync, readlinkSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { buildNodewardenImage, imageBuildah, IMAGE_BUILD_TIMEOUT_MS, type NodewardenImage } from '../helpers/image.js';
import { repoRoot } from '../helpers/paths.js';
import { AGENT_FLAGS, SHARED_FLAGS } from '../../bin/v8-settings.js';

const execFileP = promisify(execFile);
const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const APP = '/opt/nodewarden';

if (process.getuid?.() !== 0) {
  t.plan(0, 'building the image needs root (buildah, mmdebstrap)');
  process.exit(0);
}
// A cold build (bases and image) takes minutes; tap's default per-file timeout is shorter.
t.setTimeout(IMAGE_BUILD_TIMEOUT_MS + 5 * 60_000);
const built = await buildNodewardenImage();
if ('skip' in built) {
  if (process.env.CI === 'true') t.fail(`the image could not be built in CI: ${built.skip}`);
  else t.plan(0, built.skip);
  process.exit(0);
}
const image: NodewardenImage = built;
t.comment(`image ${image.ref} (inputs ${image.inputs}): ${image.buildSeconds ? `built in ${image.buildSeconds} s` : 'from the cache'}`);

interface ImageInfo {
  OCIv1: { config: { Entrypoint?: string[]; Cmd?: string[]; User?: string; Env?: string[]; WorkingDir?: string; Labels?: Record<string, string> } };
}
const info = JSON.parse(await imageBuildah(['inspect', '--type', 'image', image.ref])) as ImageInfo;
const config = info.OCIv1.config;

// One working container for the file: its root filesystem is read through a mount, and commands run
// in it with `buildah run` (chroot isolation, as the build itself).
const container = (await imageBuildah(['from', '--quiet', '--pull=false', image.ref])).trim();
t.teardown(() => imageBuildah(['rm', container]).then(() => undefined));
const rootfs = (await imageBuildah(['mount', container])).trim();
const inImage = (p: string) => path.join(rootfs, p);

/** Runs a command in the image, as its default user unless `user` is given. */
async function runInImage(args: string[], opts: { user?: string; volumes?: string[] } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const flags = ['run', '--isolation', 'chroot', ...(opts.user ? ['--user', opts.user] : []), ...(opts.volumes ?? []).flatMap((v) => ['--volume', v])];
  try {
    const { stdout, stderr } = await execFileP(path.join(repoRoot, 'scripts', 'image', 'buildah.sh'), [...flags, container, '--', ...args], { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : -1 };
  }
}

t.test('the image carries the OCI labels, its version the package version', async (t) => {
  const labels = config.Labels ?? {};
  t.equal(labels['org.opencontainers.image.title'], 'nodewarden');
  t.match(labels['org.opencontainers.image.description'], /Kubernetes/);
  t.match(labels['org.opencontainers.image.source'], /^https:\/\//);
  t.equal(labels['org.opencontainers.image.licenses'], 'Apache-2.0');
  t.equal(labels['org.opencontainers.image.version'], pkg.version);
  t.match(labels['org.opencontainers.image.revision'], /^([0-9a-f]{40}(-dirty)?|unknown)$/);
  t.ok(!Number.isNaN(Date.parse(labels['org.opencontainers.image.created'] ?? '')), 'created is a date');
});

t.test('nodewarden is the entrypoint, and the default user is central\'s, not root', async (t) => {
  t.same(config.Entrypoint, ['nodewarden']);
  t.same(config.Cmd, ['--help']);
  t.equal(config.User, '65532:65532');
  t.ok(config.Env?.includes('NODE_ENV=production'), 'NODE_ENV=production');
  const passwd = readFileSync(inImage('/etc/passwd'), 'utf8');
  t.match(passwd, /^nodewarden:x:65532:65532:/m, 'the user has a name (os.userInfo works)');
  t.equal(lstatSync(inImage('/var/lib/nodewarden')).uid, 65532, 'the default state folder is the user\'s');
});

t.test('only production dependencies are installed', async (t) => {
  // The lock file says which packages only the dev dependencies need (`dev: true`): none of them
  // may be there, and every other one must (@types/node, say, is both a devDependency and a
  // dependency of @kubernetes/client-node: it stays).
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (!where.startsWith('node_modules/')) continue;
    const present = existsSync(inImage(`${APP}/${where}/package.json`));
    if (entry.dev && present) extra.push(where);
    if (!entry.dev && !entry.optional && !entry.devOptional && !present) missing.push(where);
  }
  t.same(extra, [], 'no package only dev dependencies need');
  t.same(missing, [], 'every production package');
  for (const dep of Object.keys(pkg.dependencies)) t.ok(existsSync(inImage(`${APP}/node_modules/${dep}/package.json`)), `${dep} (dependency) is there`);
  for (const dep of ['typescript', 'tap', '@tapjs', 'protobufjs-cli', '@types/better-sqlite3']) t.notOk(existsSync(inImage(`${APP}/node_modules/${dep}`)), `${dep} is not`);
  t.notOk(existsSync(inImage(`${APP}/node_modules/better-sqlite3/deps`)), 'better-sqlite3 without its C sources');
  t.notOk(existsSync(inImage(`${APP}/dist/test`)), 'no compiled tests');
});

t.test('the native addons, the rule packs and package.json are where the code reads them', async (t) => {
  for (const f of ['build/Release/nodewarden_native.node', 'build/Release/nodewarden_sched.node', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node', 'package.json']) {
    t.ok(existsSync(inImage(`${APP}/${f}`)), f);
  }
  const packs = readdirSync(path.join(repoRoot, 'rules', 'packs')).sort();
  t.same(readdirSync(inImage(`${APP}/rules/packs`)).sort(), packs, 'every built-in pack (rules/packs beside dist/)');
  t.equal(readlinkSync(inImage('/usr/local/bin/nodewarden')), `${APP}/dist/bin/nodewarden.js`);
});

t.test('nodewarden --version and --help work on the image\'s Node 24', async (t) => {
  const node = await runInImage(['node', '--version']);
  t.match(node.stdout.trim(), /^v24\./, `node is ${node.stdout.trim()}`);
  const version = await runInImage(['nodewarden', '--version']);
  t.equal(version.code, 0, version.stderr);
  t.equal(version.stdout.trim(), pkg.version);
  const help = await runInImage(['nodewarden', '--help']);
  t.equal(help.code, 0, help.stderr);
  for (const cmd of ['agent', 'central', 'run', 'check', 'tail', 'events', 'findings', 'certs', 'rules']) t.match(help.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'), `--help lists ${cmd}`);
});

t.test('nodewarden check reads a host root and loads the built-in packs', async (t) => {
  const hostRoot = mkdtempSync(path.join(os.tmpdir(), 'nw-image-host-'));
  t.teardown(() => rmSync(hostRoot, { recursive: true, force: true }));
  chmodSync(hostRoot, 0o755); // readable by the image's user
  // An empty host: every check is not applicable, none fails or errs, and the exit code is 0.
  const r = await runInImage(['nodewarden', 'check', '--host-root', '/host', '--format', 'json'], { volumes: [`${hostRoot}:/host:ro`] });
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { summary: Record<string, number>; results: unknown[] };
  t.ok(report.results.length > 50, `${report.results.length} checks ran`);
  t.equal(report.summary['error'], 0, 'no check errs');
  t.equal(report.summary['fail'], 0, 'no check fails');
});

t.test('the exec addon, the scheduling addon and better-sqlite3 load on the image\'s Node', async (t) => {
  // Through the project's own loaders, from the compiled code in the image.
  const script = `
    import { createRequire } from 'node:module';
    const { loadNative } = await import('${APP}/dist/collectors/process/sources/native.js');
    const { lowerThreadPriority } = await import('${APP}/dist/central/sinks/worker/priority.js');
    const native = loadNative();
    const Database = createRequire('${APP}/package.json')('better-sqlite3');
    const db = new Database(':memory:');
    db.exec('create table t (v integer)');
    db.prepare('insert into t values (?)').run(42);
    console.log(JSON.stringify({
      native: 'addon' in native ? typeof native.addon.auditStatus : String(native.error),
      priority: lowerThreadPriority(),
      sqlite: db.prepare('select v, sqlite_version() as version from t').get(),
    }));`;
  const r = await runInImage(['node', '--input-type=module', '-e', script]);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { native: string; priority: { policy: string }; sqlite: { v: number; version: string } };
  t.equal(out.native, 'function', 'the exec addon loads');
  t.equal(out.priority.policy, 'idle', 'the scheduling addon sets SCHED_IDLE');
  t.equal(out.sqlite.v, 42, `better-sqlite3 works (SQLite ${out.sqlite.version})`);
});

t.test('the agent starts with its V8 and glibc settings, by the entrypoint and by `node …`; central with the shared ones alone', async (t) => {
  // Sampled from /proc while `agent --help` loads its modules: the process's final command line
  // and environment, after the shebang's env (or v8-settings' execve) has run.
  const sample = (cmd: string) => `
    ${cmd} >/dev/null 2>&1 & p=$!
    while kill -0 $p 2>/dev/null; do
      c=$(tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null); e=$(tr '\\0' '\\n' </proc/$p/environ 2>/dev/null | grep '^MALLOC_ARENA_MAX=')
      case "$c" in *node*) echo "$c|$e" ;; esac
    done | sort -u`;
  for (const [how, cmd] of [['the entrypoint', 'nodewarden agent --help'], ['node dist/bin/nodewarden.js', `node ${APP}/dist/bin/nodewarden.js agent --help`]] as const) {
    const r = await runInImage(['sh', '-c', sample(cmd)]);
    const seen = r.stdout.split('\n').filter(Boolean);
    t.ok(seen.some((l) => AGENT_FLAGS.every((f) => l.includes(` ${f} `)) && l.endsWith('|MALLOC_ARENA_MAX=2')), `${how}: ${AGENT_FLAGS.join(' ')} and MALLOC_ARENA_MAX=2 (seen: ${seen.join('; ')})`);
  }
  // Central, through the same entrypoint, restarts with V8's own young generation.
  const central = (await runInImage(['sh', '-c', sample('nodewarden central --help')])).stdout.split('\n').filter(Boolean);
  const agentOnly = AGENT_FLAGS.filter((f) => !(SHARED_FLAGS as readonly string[]).includes(f));
  t.ok(central.some((l) => l.includes(' central ') && SHARED_FLAGS.every((f) => l.includes(` ${f} `)) && !agentOnly.some((f) => l.includes(f))),
    `central with ${SHARED_FLAGS.join(' ')}, without ${agentOnly.join(' ')} (seen: ${central.join('; ')})`);
});

t.test('the archive names the image as the helper reports it, for containerd to import', async (t) => {
  const { stdout } = await execFileP('tar', ['-xOf', image.archive, 'manifest.json']);
  const manifest = JSON.parse(stdout) as Array<{ RepoTags: string[] }>;
  t.same(manifest.map((m) => m.RepoTags), [[image.ref]]);
});
