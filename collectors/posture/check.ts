// What every check function sees and returns. A check reads the node through the evaluation's
// HostView (memoised, never throwing) and the effective configurations, and returns one outcome
// per subject; evaluate.ts joins outcomes with the catalogue's texts into CheckResults.

import type { FileInfo } from '../../core/finding.js';
import type { Accounts } from './accounts.js';
import type { HostView } from './host-view.js';
import type { KubeletConfig } from './kubelet-config.js';
import type { KubeProxyConfig } from './kube-proxy-config.js';
import type { Benchmark, CheckStatus, Discovery } from './types.js';

export interface CheckContext {
  view: HostView;
  discovery: Discovery;
  kubelet: KubeletConfig;
  proxy: KubeProxyConfig;
  accounts: Accounts;
  now: Date;
  expiryWarnDays: number;
  /** The CIS version judged against: where versions differ, checks follow this one. */
  benchmark: Benchmark;
}

export interface Outcome {
  status: CheckStatus;
  evidence: string;
  subject: string;
  file?: FileInfo;
  /** A finer reason where the status alone does not say (an expired certificate: 'expired'). */
  reason?: string;
}

export type CheckFn = (ctx: CheckContext) => Promise<Outcome[]>;
