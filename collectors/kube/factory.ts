// The kube collector's factory: the config schema (one zod schema gives the type, the defaults
// and the validation) and create. Options:
//   minKubeletVersion     the oldest kubelet accepted (MAJOR.MINOR[.PATCH]); older opens kube.kubelet-outdated
//   podGraceMs            how long a container may run without a pod in the API (a pod just
//                         scheduled, or deleted while its containers stop) before it is "unknown"
//   acceptManifestAfterMs how long a static pod manifest change stays a finding before it is the
//                         accepted version (default 24 h)
//   manifestDir           host path of the static pod folder; unset: the kubelet's staticPodPath as
//                         the posture discovery finds it (kubeadm's /etc/kubernetes/manifests)
//   resyncMs              how often the comparison runs without a change to prompt it (grace
//                         periods expiring, manifests on file systems inotify does not see)
//   apiTimeoutMs          deadline of each list and apply
// The API server and credentials are the agent's (kube.kubeconfig, in-cluster, $KUBECONFIG).

import { z } from 'zod';
import type { Collector, CollectorContext, CollectorFactory } from '../collector.js';
import { validateWith } from '../validate.js';
import { KubeCollector } from './collector.js';

export const kubeConfigSchema = z.strictObject({
  minKubeletVersion: z.string().regex(/^v?\d{1,6}\.\d{1,6}(\.\d{1,6})?$/, 'expected a version such as 1.31.0').default('1.31.0'),
  podGraceMs: z.number().int().min(0).max(3_600_000).default(60_000),
  acceptManifestAfterMs: z.number().int().min(0).default(86_400_000),
  manifestDir: z.string().regex(/^\//, 'must be an absolute path').optional(),
  resyncMs: z.number().int().min(100).max(3_600_000).default(10_000),
  apiTimeoutMs: z.number().int().min(100).max(300_000).default(30_000),
});
export type KubeConfig = z.infer<typeof kubeConfigSchema>;

export const kubeFactory: CollectorFactory<KubeConfig> = {
  type: 'kube',
  validate: (raw) => validateWith(kubeConfigSchema, raw),
  defaults: () => kubeConfigSchema.parse({}),
  create: (config: KubeConfig, ctx: CollectorContext): Collector => new KubeCollector(config, ctx),
};
