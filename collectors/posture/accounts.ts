// User and group names as the host knows them: /etc/passwd and /etc/group read under the host
// root (never the agent container's own files), so 'etcd:etcd' means the host's etcd account.
// uid and gid 0 are 'root' whatever the files say.

import type { HostView } from './host-view.js';

/** Account files are small; a larger one is refused rather than parsed. */
const MAX_ACCOUNT_FILE_BYTES = 1024 * 1024;

export class Accounts {
  private constructor(
    private readonly users: Map<number, string>,
    private readonly groups: Map<number, string>,
  ) {}

  static async load(view: HostView): Promise<Accounts> {
    const [passwd, group] = await Promise.all([
      view.readText('/etc/passwd', MAX_ACCOUNT_FILE_BYTES),
      view.readText('/etc/group', MAX_ACCOUNT_FILE_BYTES),
    ]);
    return new Accounts(
      parseIdFile(passwd.kind === 'ok' ? passwd.text : ''),
      parseIdFile(group.kind === 'ok' ? group.text : ''),
    );
  }

  userName(uid: number): string {
    if (uid === 0) return 'root';
    return this.users.get(uid) ?? String(uid);
  }

  groupName(gid: number): string {
    if (gid === 0) return 'root';
    return this.groups.get(gid) ?? String(gid);
  }

  uidOf(name: string): number | undefined {
    if (name === 'root') return 0;
    for (const [id, n] of this.users) if (n === name) return id;
    return undefined;
  }

  gidOf(name: string): number | undefined {
    if (name === 'root') return 0;
    for (const [id, n] of this.groups) if (n === name) return id;
    return undefined;
  }
}

/** name:x:id:… lines; the first entry for an id wins, as getpwuid would return it. */
function parseIdFile(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 3) continue;
    const id = Number(fields[2]);
    if (!Number.isInteger(id) || id < 0) continue;
    if (!out.has(id)) out.set(id, fields[0]!);
  }
  return out;
}
