#!/usr/bin/env node
// Compiles the eBPF exec program (native/bpf/exec.bpf.c) into build/bpf/exec.bpf.o with clang's
// BPF target. The object is portable across kernels (libbpf relocates its field accesses
// against the running kernel's BTF when the agent loads it), so it is built once, here.
//
// Without clang the agent still builds and runs: it reports that the eBPF source is not built
// and captures execs through audit instead. In CI as root (CI=true), where the end-to-end tests
// must run the eBPF source, clang is installed with apt-get; NW_REQUIRE_BPF=1 (the image build)
// makes a missing compiler an error. CLANG names the compiler; otherwise clang, then
// clang-19…clang-14.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'native', 'bpf', 'exec.bpf.c');
const outDir = path.join(root, 'build', 'bpf');
const out = path.join(outDir, 'exec.bpf.o');
const required = process.env.NW_REQUIRE_BPF === '1';

function findClang() {
  const names = process.env.CLANG ? [process.env.CLANG] : ['clang', 'clang-19', 'clang-18', 'clang-17', 'clang-16', 'clang-15', 'clang-14'];
  for (const name of names) {
    const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return name;
  }
  return null;
}

// Debian's multiarch folder for <asm/types.h>, which <linux/bpf.h> includes.
const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];

let clang = findClang();
if (!clang && process.env.CI === 'true' && process.getuid?.() === 0) {
  console.log('build-bpf: installing clang (CI, root)');
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'clang'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    install();
  }
  clang = findClang();
}
if (!clang) {
  const msg = 'build-bpf: no clang found, so the eBPF exec program is not built; the agent will capture execs through audit (install clang and run `npm run build` for the eBPF source)';
  if (required) {
    console.error(msg.replace('build-bpf:', 'build-bpf: error:'));
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = ['-g', '-O2', '-target', 'bpf', '-Wall', '-Werror', '-c', source, '-o', tmp];
if (multiarch) args.unshift(`-I/usr/include/${multiarch}`);
try {
  execFileSync(clang, args, { stdio: 'inherit' });
  renameSync(tmp, out);
} catch (err) {
  rmSync(tmp, { force: true });
  console.error(`build-bpf: error: ${clang} could not compile ${path.relative(root, source)}`);
  process.exit(1);
}
