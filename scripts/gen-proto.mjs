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
// What the code does not use is not generated: messages of the runtime's APIs are only encoded
// and decoded (no conversion to and from plain objects). Every byte of a module stays in memory as
// its source text, so the code node loads carries no comments either: the commented build exists
// only for pbts, which reads the types from the comments (1.1 MB of CRI code became 0.43 MB, and
// the agent's heap 0.9 MB smaller).
const targets = [
  { out: 'nodewarden', dir: 'proto/nodewarden/v1', flags: [] },
  { out: 'cri', dir: 'proto/runtime/v1', flags: ['--no-convert'] },
  { out: 'containerd', dir: 'proto/containerd', flags: ['--no-convert'] },
];
const pbjs = (flags, out, files) => {
  execFileSync(bin('pbjs'), ['-t', 'static-module', '-w', 'es6', '--force-long', '--no-verify', '--no-delimited', ...flags, '-p', 'proto', '-o', out, ...files], { cwd: root, stdio: 'inherit' });
  // Node's ESM resolver needs the explicit file name of protobufjs/minimal.
  const src = readFileSync(out, 'utf8').replace(/from "protobufjs\/minimal"/g, 'from "protobufjs/minimal.js"');
  writeFileSync(out, src);
  return src;
};

mkdirSync(path.join(root, 'gen'), { recursive: true });
for (const t of targets) {
  const dir = path.join(root, t.dir);
  if (!existsSync(dir)) continue;
  const files = readdirSync(dir).filter((f) => f.endsWith('.proto')).map((f) => path.join(t.dir, f));
  if (files.length === 0) continue;
  const js = path.join(root, 'gen', `${t.out}.js`);
  pbjs(t.flags, js, files);
  execFileSync(bin('pbts'), ['-o', path.join(root, 'gen', `${t.out}.d.ts`), js], { cwd: root, stdio: 'inherit' });
  const src = pbjs([...t.flags, '--no-comments'], js, files);
  // tsc does not emit a .js that has a .d.ts beside it: place the runtime code in dist/ directly.
  mkdirSync(path.join(root, 'dist', 'gen'), { recursive: true });
  writeFileSync(path.join(root, 'dist', 'gen', `${t.out}.js`), src);
}
