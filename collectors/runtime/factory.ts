// The runtime collector's factory: type name, the config schema (one zod schema gives the type,
// the defaults and the validation), and create. Options:
//   socket               host path of the CRI socket (--cri-socket); unset: try the known sockets
//                        (containerd, then CRI-O, then cri-dockerd) under the host root
//   pollIntervalMs       full resync period, also the polling period when the runtime has no
//                        container event stream (containerd < 1.7); default 10 s
//   callTimeoutMs        deadline of each CRI call
//   useEvents            subscribe to GetContainerEvents where supported, for prompt updates
//   privilegedNamespaces, safeCapabilities, sensitiveHostPaths: settings from before the runtime
//                        checks were rules. The collector does not use them; when given, the agent
//                        sets the runtime pack's lists expected_privileged_workloads,
//                        safe_capabilities and sensitive_host_paths from them (rules/legacy.ts).
//   containerdApi        ask containerd itself (namespaces, tasks, containers services on the same
//                        socket) for tasks the CRI does not know, on any layout (k3s, RKE2, any
//                        --state folder); the folder scan below is the fallback when it fails
//   containerdStateDir   containerd's state folder (host path), scanned for tasks the CRI does not
//                        know (`ctr run`) when containerd's API does not answer; empty string disables the scan
//   restartGraceMs       how long a stopped container's workload keeps its findings open, so that
//                        a restart (new container id, same pod and name) is not a resolve and a
//                        re-open; 0 resolves at the first refresh without it

import { z } from 'zod';
import type { Collector, CollectorContext, CollectorFactory } from '../collector.js';
import { RuntimeCollector } from './collector.js';

const absPath = z.string().regex(/^\//, 'must be an absolute path');
const allowEntry = z
  .string()
  .regex(/^[a-z0-9*?]([-a-z0-9*?]*)(\/[^/\s]+){0,2}$/, 'must be namespace, namespace/pod-glob or namespace/pod-glob/container-glob');

export const runtimeConfigSchema = z
  .object({
    socket: absPath.optional(),
    pollIntervalMs: z.number().int().min(100).max(3_600_000).default(10_000),
    callTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
    useEvents: z.boolean().default(true),
    privilegedNamespaces: z.array(allowEntry).max(1000).optional(),
    safeCapabilities: z.array(z.string().regex(/^(CAP_)?[A-Z_]+$/, 'must be a capability name like NET_BIND_SERVICE')).max(100).optional(),
    sensitiveHostPaths: z.array(absPath).max(1000).optional(),
    containerdApi: z.boolean().default(true),
    containerdStateDir: z.union([absPath, z.literal('')]).default('/run/containerd'),
    restartGraceMs: z.number().int().min(0).max(600_000).default(5_000),
  })
  .strict();

export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

export const runtimeCollectorFactory: CollectorFactory<RuntimeConfig> = {
  type: 'runtime',
  validate(raw: unknown) {
    const r = runtimeConfigSchema.safeParse(raw ?? {});
    if (r.success) return { ok: true, config: r.data };
    return { ok: false, errors: r.error.issues.map((i) => `${i.path.map(String).join('.') || '(top level)'}: ${i.message}`) };
  },
  defaults() {
    return runtimeConfigSchema.parse({});
  },
  create(config: RuntimeConfig, ctx: CollectorContext): Collector {
    return new RuntimeCollector(config, ctx);
  },
};
