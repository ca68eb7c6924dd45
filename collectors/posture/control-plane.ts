// CIS 1.1: on a control-plane node, the static pod manifests, the control-plane kubeconfigs, the
// etcd data directory and the PKI directory have tight modes and owners. On a worker every 1.1
// check is 'na' (a kubeadm worker also has /etc/kubernetes/pki/ca.crt, which must not make it
// look like a control plane). PKI checks report one result per rule listing every offender.

import path from 'node:path';
import type { CheckContext, CheckFn, Outcome } from './check.js';
import { checkFile, modeRule, ROOT_OWNER, ruleHolds, formatMode, describeOwner, type FileRule, type Absence } from './file-rule.js';
import { walkPki, PKI_DIR } from './pki.js';

const MODE_600 = modeRule(0o600);
const MODE_644 = modeRule(0o644);
const MODE_700 = modeRule(0o700);
const ETCD_OWNER: FileRule = { kind: 'owner', user: 'etcd', group: 'etcd' };
/** How many offending files a PKI result lists before summarising. */
const MAX_LISTED = 10;

function notControlPlane(ctx: CheckContext, subject: string): Outcome[] {
  return [{
    status: 'na',
    evidence: `not a control-plane node (no control-plane manifests in ${ctx.discovery.manifestDir.hostPath} and no /etc/kubernetes/admin.conf)`,
    subject,
  }];
}

function manifest(name: string, rule: FileRule): CheckFn {
  return async (ctx) => {
    const p = path.posix.join(ctx.discovery.manifestDir.hostPath, name);
    if (!ctx.discovery.controlPlane) return notControlPlane(ctx, p);
    return [await checkFile(ctx, { hostPath: p }, rule, { evidence: `${p} does not exist`, subject: p })];
  };
}

function kubeconfigs(paths: string[], rule: FileRule): CheckFn {
  return async (ctx) => {
    if (!ctx.discovery.controlPlane) return notControlPlane(ctx, paths[0]!);
    const absence: Absence = { evidence: `${paths.join(' and ')} do${paths.length > 1 ? '' : 'es'} not exist`, subject: paths[0]! };
    const all = await Promise.all(paths.map((p) => checkFile(ctx, { hostPath: p }, rule, absence)));
    const present = all.filter((o) => o.status !== 'na');
    return present.length > 0 ? present : [{ ...all[0]!, evidence: absence.evidence }];
  };
}

function etcdDataDir(rule: FileRule): CheckFn {
  return async (ctx) => {
    const dir = ctx.discovery.etcd.dataDir!;
    if (!ctx.discovery.controlPlane && !ctx.discovery.etcd.process) return notControlPlane(ctx, dir.hostPath);
    return [await checkFile(ctx, { hostPath: dir.hostPath }, rule, { evidence: `${dir.hostPath} does not exist`, subject: dir.hostPath })];
  };
}

/** One rule over a set of PKI entries: pass when all hold, fail listing the offenders. */
function pkiRule(select: (tree: { dirs: string[]; files: string[] }) => string[], rule: FileRule, what: string): CheckFn {
  return async (ctx) => {
    if (!ctx.discovery.controlPlane) return notControlPlane(ctx, PKI_DIR);
    const tree = await walkPki(ctx.view);
    if (!tree.exists) return [{ status: 'na', evidence: `${PKI_DIR} does not exist`, subject: PKI_DIR }];
    const paths = select(tree);
    if (paths.length === 0) return [{ status: 'na', evidence: `no ${what} under ${PKI_DIR}`, subject: PKI_DIR }];
    const offenders: string[] = [];
    const errors: string[] = [];
    for (const p of paths) {
      ctx.view.watch(p);
      const st = await ctx.view.stat(p);
      if (st.kind === 'error') errors.push(`${p}: ${st.message}`);
      if (st.kind !== 'ok') continue;
      const { mode, uid, gid } = st.stats;
      if (!ruleHolds(ctx, rule, mode, uid, gid).ok) {
        offenders.push(rule.kind === 'mode' ? `${p} (${formatMode(mode)})` : `${p} (${describeOwner(ctx, uid, gid)})`);
      }
    }
    const more = tree.truncated ? ` (stopped after the first entries: ${PKI_DIR} is unusually large)` : '';
    if (errors.length > 0) return [{ status: 'error', evidence: `cannot check ${errors.join('; ')}`, subject: PKI_DIR }];
    if (offenders.length === 0) {
      return [{ status: 'pass', evidence: `all ${paths.length} ${what} under ${PKI_DIR} comply${more}`, subject: PKI_DIR }];
    }
    const listed = offenders.slice(0, MAX_LISTED).join(', ') + (offenders.length > MAX_LISTED ? `, and ${offenders.length - MAX_LISTED} more` : '');
    return [{ status: 'fail', evidence: `${offenders.length} of ${paths.length} ${what} do not comply: ${listed}${more}`, subject: PKI_DIR }];
  };
}

const ADMIN = ['/etc/kubernetes/admin.conf', '/etc/kubernetes/super-admin.conf'];
const SCHEDULER_CONF = ['/etc/kubernetes/scheduler.conf'];
const CONTROLLER_MANAGER_CONF = ['/etc/kubernetes/controller-manager.conf'];

export const CONTROL_PLANE_CHECKS: Record<string, CheckFn> = {
  '1.1.1': manifest('kube-apiserver.yaml', MODE_600),
  '1.1.2': manifest('kube-apiserver.yaml', ROOT_OWNER),
  '1.1.3': manifest('kube-controller-manager.yaml', MODE_600),
  '1.1.4': manifest('kube-controller-manager.yaml', ROOT_OWNER),
  '1.1.5': manifest('kube-scheduler.yaml', MODE_600),
  '1.1.6': manifest('kube-scheduler.yaml', ROOT_OWNER),
  '1.1.7': manifest('etcd.yaml', MODE_600),
  '1.1.8': manifest('etcd.yaml', ROOT_OWNER),
  '1.1.11': etcdDataDir(MODE_700),
  '1.1.12': etcdDataDir(ETCD_OWNER),
  '1.1.13': kubeconfigs(ADMIN, MODE_600),
  '1.1.14': kubeconfigs(ADMIN, ROOT_OWNER),
  '1.1.15': kubeconfigs(SCHEDULER_CONF, MODE_600),
  '1.1.16': kubeconfigs(SCHEDULER_CONF, ROOT_OWNER),
  '1.1.17': kubeconfigs(CONTROLLER_MANAGER_CONF, MODE_600),
  '1.1.18': kubeconfigs(CONTROLLER_MANAGER_CONF, ROOT_OWNER),
  '1.1.19': pkiRule((t) => [...t.dirs, ...t.files], ROOT_OWNER, 'files and directories'),
  '1.1.20': (ctx) => pkiRule((t) => t.files.filter((f) => f.endsWith('.crt')), ctx.benchmark === 'cis-1.10' ? MODE_600 : MODE_644, 'certificates')(ctx),
  '1.1.21': pkiRule((t) => t.files.filter((f) => f.endsWith('.key')), MODE_600, 'keys'),
};
