// `npm run bench`: runs every benchmark module in this folder (files named *.bench.js once
// built) in turn, or only those whose name contains an argument, and prints their figures.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { default: () => Promise<void> };
  console.log(`\n== ${f.replace(/\.bench\.js$/, '')} ==`);
  try {
    await mod.default();
  } catch (err) {
    console.log(`benchmark ${f} failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  }
}
