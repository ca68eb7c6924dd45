// nodewarden's container image for the tests: built from the top-level Dockerfile with
// scripts/image/build-image.sh (buildah, on bases assembled with mmdebstrap and the npm registry's
// Node), written as a docker-archive that containerd 1.6 imports (`ctr images import FILE`).
//
//   buildNodewardenImage() ─ not root: { skip } ─ hash of the build inputs ─ cached image and
//     archive with that hash? ── yes ─▶ { ref, archive }
//       └ no: install-tools.sh, build-image.sh (under a lock: one build at a time per machine) ─▶
//
// What stays, on purpose, as a cache under /var/tmp/nodewarden-image (NODEWARDEN_IMAGE_CACHE): the
// buildah storage (the two bases and the last image), archives/ (the last image's archive) and
// build.log (the last build's output); buildah keeps the npm cache of the build in
// /var/tmp/buildah-cache. A cold build takes minutes (Debian bases, better-sqlite3 compiled from
// source), so the test files of one run, and later runs whose inputs did not change, share them; a
// build from other inputs replaces the image and the archive instead of adding to them. Nothing
// else is left: tests remove the containers they make.
//
// In CI (CI=true, as root) nothing here skips: a failed build throws with the build log's tail.

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.js';

const execFileP = promisify(execFile);

export interface NodewardenImage {
  /** The image's name in buildah's storage and inside the archive: localhost/nodewarden:<version>. */
  ref: string;
  /** The image as a docker-archive, for `ctr -n k8s.io images import`. Part of the cache: read it, do not remove it. */
  archive: string;
  /** The hash of the build inputs (Dockerfile, lock file, sources, image scripts) it was built from. */
  inputs: string;
  /** Seconds this process spent building it: 0 when it came from the cache. */
  buildSeconds: number;
}

/** How long a cold build may take (bases and image); a test file building the image sets its timeout above it. */
export const IMAGE_BUILD_TIMEOUT_MS = 20 * 60_000;

/** Where the scripts and this helper keep their cache (see the top of this file). */
export const imageCacheDir = process.env.NODEWARDEN_IMAGE_CACHE ?? '/var/tmp/nodewarden-image';
const INPUTS_LABEL = 'org.nodewarden.build.inputs';
const scriptsDir = path.join(repoRoot, 'scripts', 'image');

// What the Dockerfile reads from the build context (keep beside its COPY lines and .dockerignore),
// plus the image scripts, which pin the bases.
const INPUT_FILES = ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'binding.gyp', 'scripts/gen-proto.mjs'];
const INPUT_DIRS = ['scripts/image', 'native', 'proto', 'bin', 'core', 'daemon', 'collectors', 'rules', 'central'];

/** A hash of every input of the build: paths, modes and contents. */
export function imageInputsHash(root = repoRoot): string {
  const h = createHash('sha256');
  const add = (rel: string) => {
    const abs = path.join(root, rel);
    const st = statSync(abs);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) add(path.join(rel, name));
    } else if (st.isFile()) {
      h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`).update(readFileSync(abs)).update('\0');
    }
  };
  for (const f of INPUT_FILES) add(f);
  for (const d of INPUT_DIRS) if (existsSync(path.join(root, d))) add(d);
  return h.digest('hex').slice(0, 16);
}

/** buildah on the storage the image scripts use (scripts/image/buildah.sh). */
export async function imageBuildah(args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await execFileP(path.join(scriptsDir, 'buildah.sh'), args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The image under `ref` when it was built from `inputs` and its archive is there. */
async function cached(ref: string, inputs: string, archive: string): Promise<boolean> {
  if (!existsSync(archive) || statSync(archive).size === 0) return false;
  const label = await imageBuildah(['inspect', '--type', 'image', '--format', `{{index .OCIv1.Config.Labels "${INPUTS_LABEL}"}}`, ref]).catch(() => '');
  return label.trim() === inputs;
}

/** One build at a time on the machine: a lock file holding the builder's pid; a dead holder's lock is taken over. */
async function withLock<T>(file: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8').trim() || '0');
      // No pid yet: the holder is between creating the file and writing it.
      let alive = holder === 0 && Date.now() - statSync(file).mtimeMs < 10_000;
      try {
        if (holder > 0) alive = process.kill(holder, 0);
      } catch {
        alive = false;
      }
      if (!alive) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`another image build (pid ${holder}) held ${file} for too long`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

/** Runs a script, its output (stdout and stderr) into `log`; rejects with the output's tail. */
function run(script: string, args: string[], log: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = openSync(log, 'w');
    const child = spawn(script, args, { cwd: repoRoot, stdio: ['ignore', out, out] });
    closeSync(out);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const tail = readFileSync(log, 'utf8').split('\n').slice(-60).join('\n');
      reject(new Error(`${path.relative(repoRoot, script)} ${args.join(' ')} failed (${signal ?? `exit ${code}`}); the last lines of ${log}:\n${tail}`));
    });
  });
}

async function build(): Promise<NodewardenImage | { skip: string }> {
  if (process.platform !== 'linux') return { skip: 'the image is built with buildah and mmdebstrap: Linux only' };
  if (process.getuid?.() !== 0) return { skip: 'building the image needs root (buildah with the vfs driver and chroot isolation, mmdebstrap)' };
  const ci = process.env.CI === 'true';
  try {
    await execFileP(path.join(scriptsDir, 'install-tools.sh'), [], { timeout: 600_000 });
  } catch (err) {
    const why = `buildah and mmdebstrap could not be installed: ${String((err as { stderr?: string }).stderr || (err as Error).message).trim()}`;
    if (ci) throw new Error(why);
    return { skip: why };
  }
  const ref = `localhost/nodewarden:${packageVersion()}`;
  const inputs = imageInputsHash();
  const archives = path.join(imageCacheDir, 'archives');
  const archive = path.join(archives, `nodewarden-${inputs}.tar`);
  mkdirSync(archives, { recursive: true });
  if (await cached(ref, inputs, archive)) return { ref, archive, inputs, buildSeconds: 0 };
  return withLock(path.join(imageCacheDir, 'build.lock'), IMAGE_BUILD_TIMEOUT_MS, async () => {
    // Another process may have built it while this one waited for the lock.
    if (await cached(ref, inputs, archive)) return { ref, archive, inputs, buildSeconds: 0 };
    const started = Date.now();
    await run(path.join(scriptsDir, 'build-image.sh'), ['--tag', ref, '--label', `${INPUTS_LABEL}=${inputs}`, '--archive', archive], path.join(imageCacheDir, 'build.log'), IMAGE_BUILD_TIMEOUT_MS);
    // The archive of the image this build replaced is no use any more.
    for (const f of readdirSync(archives)) if (path.join(archives, f) !== archive) rmSync(path.join(archives, f), { force: true });
    return { ref, archive, inputs, buildSeconds: Math.round((Date.now() - started) / 1000) };
  });
}

let once: Promise<NodewardenImage | { skip: string }> | undefined;

/**
 * The image, built once per test process (and reused from the cache while its inputs are
 * unchanged), or why it cannot be built here. Throws when a build fails, and in CI when the tools
 * cannot be installed.
 */
export function buildNodewardenImage(): Promise<NodewardenImage | { skip: string }> {
  once ??= build();
  return once;
}
