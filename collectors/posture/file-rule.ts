// The two file rules of the benchmark: "mode M or more restrictive" (no permission bit outside
// M, as kube-bench's bitmask test) and "owned by user:group" (names resolved on the host). A
// missing file is 'na', an unreadable or escaping path is 'error', never a pass.

import type { FileInfo } from '../../core/finding.js';
import type { CheckContext, Outcome } from './check.js';
import type { StatOutcome } from './host-view.js';

export interface FileTarget {
  /** Where the agent reads it (host path; /proc/<pid>/root/... for a file inside a container). */
  hostPath: string;
  /** Stable subject for fingerprints; the host path unless the file lives in a container. */
  subject?: string;
}

export type FileRule = { kind: 'mode'; max: number } | { kind: 'owner'; user: string; group: string };

export function modeRule(max: number): FileRule {
  return { kind: 'mode', max };
}

export const ROOT_OWNER: FileRule = { kind: 'owner', user: 'root', group: 'root' };

/** Octal permission bits the way `stat -c %a` prints them (644, 4755). */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8);
}

export function fileInfo(hostPath: string, st: StatOutcome): FileInfo {
  if (st.kind !== 'ok') return { path: hostPath, exists: st.kind === 'error' };
  const s = st.stats;
  const kind = s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSocket() ? 'socket' : 'other';
  return { path: hostPath, exists: true, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, kind };
}

export function describeOwner(ctx: CheckContext, uid: number, gid: number): string {
  return `${ctx.accounts.userName(uid)}:${ctx.accounts.groupName(gid)}`;
}

/** Why there is no file to check, and the stable subject to report it under. */
export interface Absence {
  evidence: string;
  subject: string;
}

/** Evaluate one rule on one file; an undefined target is 'na' for the reason given. */
export async function checkFile(ctx: CheckContext, target: FileTarget | undefined, rule: FileRule, absent: Absence): Promise<Outcome> {
  if (!target) return { status: 'na', evidence: absent.evidence, subject: absent.subject };
  const subject = target.subject ?? target.hostPath;
  ctx.view.watch(target.hostPath);
  const st = await ctx.view.stat(target.hostPath);
  const file = fileInfo(target.hostPath, st);
  if (st.kind === 'missing') return { status: 'na', evidence: `${target.hostPath} does not exist`, subject, file };
  if (st.kind === 'error') return { status: 'error', evidence: `cannot check ${target.hostPath}: ${st.message}`, subject, file };
  const { mode, uid, gid } = st.stats;
  const facts = `${target.hostPath}: mode ${formatMode(mode)}, owner ${describeOwner(ctx, uid, gid)}`;
  const held = ruleHolds(ctx, rule, mode, uid, gid);
  return { status: held.ok ? 'pass' : 'fail', evidence: held.why ? `${facts} (${held.why})` : facts, subject, file };
}

/** Whether a file's mode/owner satisfy a rule; `why` says what is missing for an owner rule. */
export function ruleHolds(ctx: CheckContext, rule: FileRule, mode: number, uid: number, gid: number): { ok: boolean; why?: string } {
  if (rule.kind === 'mode') return { ok: (mode & 0o7777 & ~rule.max) === 0 };
  const wantUid = ctx.accounts.uidOf(rule.user);
  const wantGid = ctx.accounts.gidOf(rule.group);
  const missing = [
    wantUid === undefined ? `the host has no ${rule.user} user` : '',
    wantGid === undefined ? `the host has no ${rule.group} group` : '',
  ].filter((s) => s !== '');
  return { ok: uid === wantUid && gid === wantGid, ...(missing.length ? { why: missing.join(' and ') } : {}) };
}
