// Generates static protobufjs code and TypeScript declarations from proto/ into gen/.
// The .js is written to gen/ (beside its .d.ts, for tsc) and to dist/gen/ (for node).
// One module per proto package: gen/nodewarden.js (our wire), gen/cri.js (runtime.v1 subset) and
// gen/containerd.js (the subset of containerd's own API).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const targets = [
  { out: 'nodewarden', dir: 'proto/nodewarden/v1' },
  { out: 'cri', dir: 'proto/runtime/v1' },
  { out: 'containerd', dir: 'proto/containerd' },
];

mkdirSync(path.join(root, 'gen'), { recursive: true });
for (const t of targets) {
  const dir = path.join(root, t.dir);
  if (!existsSync(dir)) continue;
  const files = readdirSync(dir).filter((f) => f.endsWith('.proto')).map((f) => path.join(t.dir, f));
  if (files.length === 0) continue;
  const js = path.join(root, 'gen', `${t.out}.js`);
  execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--force-long', '--no-verify', '--no-delimited', '-p', 'proto', '-o', js, ...files], { cwd: root, stdio: 'inherit' });
  // Node's ESM resolver needs the explicit file name of protobufjs/minimal.
  const src = readFileSync(js, 'utf8').replace(/from "protobufjs\/minimal"/g, 'from "protobufjs/minimal.js"');
  writeFileSync(js, src);
  // tsc does not emit a .js that has a .d.ts beside it: place the runtime code in dist/ directly.
  mkdirSync(path.join(root, 'dist', 'gen'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'gen', `${t.out}.js`), src);
  execFileSync(bin('pbts'), ['-o', path.join(root, 'gen', `${t.out}.d.ts`), js], { cwd: root, stdio: 'inherit' });
}
