// Test fixture hosts: a copy of test/fixtures/hosts/<name> in a temporary directory, finished
// from its fixture.json the way git cannot keep it — file modes, owners (by name, resolved with
// the fixture's own /etc/passwd and /etc/group), symlinks and /proc/<pid>/cmdline files.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HostFs } from '../../../collectors/host/host-fs.js';
import type { CheckResult, Evaluation } from '../../../collectors/posture/types.js';
import { fixturesDir } from '../../helpers/paths.js';

export interface FixtureManifest {
  description: string;
  now: string;
  modes: Record<string, string>;
  owners: Record<string, string>;
  symlinks: Record<string, string>;
  processes: Record<string, string[]>;
}

export interface FixtureHost {
  name: string;
  root: string;
  fs: HostFs;
  /** The moment the fixture's certificates are judged against. */
  now: Date;
  manifest: FixtureManifest;
  /** Whether owners could be set (tests run as root here; elsewhere ownership assertions are skipped). */
  owned: boolean;
  /** Host path → real path in the copy. */
  real(hostPath: string): string;
  write(hostPath: string, text: string, mode?: number): Promise<void>;
  chmod(hostPath: string, mode: number): Promise<void>;
  chown(hostPath: string, owner: string): Promise<void>;
  cleanup(): Promise<void>;
}

export const canChown = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Checks about owners (root:root, etcd:etcd). Without root the fixture's files belong to the
 * test user, so these are skipped (with a comment) rather than asserted.
 */
export const OWNERSHIP_CHECK_IDS: ReadonlySet<string> = new Set([
  '1.1.2', '1.1.4', '1.1.6', '1.1.8', '1.1.12', '1.1.14', '1.1.16', '1.1.18', '1.1.19',
  '4.1.2', '4.1.4', '4.1.6', '4.1.8', '4.1.10',
]);

export async function prepareHost(name: string, options: { processes?: boolean } = {}): Promise<FixtureHost> {
  const source = path.join(fixturesDir, 'hosts', name);
  const manifest = JSON.parse(await fsp.readFile(path.join(source, 'fixture.json'), 'utf8')) as FixtureManifest;
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), `nw-posture-${name}-`));
  const root = path.join(tmp, 'host');
  await fsp.cp(source, root, { recursive: true, verbatimSymlinks: true });
  await fsp.rm(path.join(root, 'fixture.json'));
  const real = (hostPath: string): string => path.join(root, hostPath);
  const ids = await idMaps(root);

  const chown = async (hostPath: string, owner: string): Promise<void> => {
    if (!canChown) return;
    const [user, group] = owner.split(':') as [string, string];
    const uid = ids.users.get(user);
    const gid = ids.groups.get(group);
    if (uid === undefined || gid === undefined) throw new Error(`fixture ${name}: unknown owner ${owner}`);
    await fsp.lchown(real(hostPath), uid, gid);
  };

  if (options.processes !== false) {
    for (const [pid, argv] of Object.entries(manifest.processes)) {
      await fsp.mkdir(real(`/proc/${pid}`), { recursive: true });
      await fsp.writeFile(real(`/proc/${pid}/cmdline`), argv.join('\0') + '\0');
    }
  }
  for (const [link, target] of Object.entries(manifest.symlinks)) {
    if (link.startsWith('/proc/') && options.processes === false) continue;
    await fsp.mkdir(path.dirname(real(link)), { recursive: true });
    await fsp.symlink(target, real(link));
  }
  for (const [p, mode] of Object.entries(manifest.modes)) await fsp.chmod(real(p), parseInt(mode, 8));
  for (const [p, owner] of Object.entries(manifest.owners)) await chown(p, owner);

  return {
    name,
    root,
    fs: new HostFs(root),
    now: new Date(manifest.now),
    manifest,
    owned: canChown,
    real,
    write: async (hostPath, text, mode) => {
      await fsp.mkdir(path.dirname(real(hostPath)), { recursive: true });
      await fsp.writeFile(real(hostPath), text);
      if (mode !== undefined) await fsp.chmod(real(hostPath), mode);
    },
    chmod: (hostPath, mode) => fsp.chmod(real(hostPath), mode),
    chown,
    cleanup: () => fsp.rm(tmp, { recursive: true, force: true }),
  };
}

async function idMaps(root: string): Promise<{ users: Map<string, number>; groups: Map<string, number> }> {
  const read = async (file: string): Promise<Map<string, number>> => {
    const out = new Map<string, number>();
    const text = await fsp.readFile(path.join(root, file), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length >= 3) out.set(f[0]!, Number(f[2]));
    }
    return out;
  };
  return { users: await read('etc/passwd'), groups: await read('etc/group') };
}

/** The one result of check `id` (and `subject`, when given); throws when there is not exactly one. */
export function oneResult(e: Evaluation, id: string, subject?: string): CheckResult {
  const rs = e.results.filter((r) => r.id === id && (subject === undefined || r.subject === subject));
  if (rs.length !== 1) throw new Error(`expected one ${id} result, got ${rs.length}`);
  return rs[0]!;
}
