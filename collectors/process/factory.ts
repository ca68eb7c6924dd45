// Factory of the process collector: config schema (with defaults) and create().
import { z } from 'zod';
import type { CollectorContext, CollectorFactory } from '../collector.js';
import { ProcessCollector } from './collector.js';
import { validateWith } from '../validate.js';

const allowEntry = z.strictObject({
  /** Detection id to silence (e.g. exec-network-tool-in-container); all when absent. */
  rule: z.string().optional(),
  namespace: z.string().optional(),
  /** Pod name; a trailing * matches a prefix (pods of one workload). */
  pod: z.string().optional(),
  container: z.string().optional(),
  /** Executable path; a trailing * matches a prefix. */
  exe: z.string().optional(),
});

export const processConfigSchema = z.strictObject({
  /** auto: eBPF, else audit, else the process connector, else the /proc poller. */
  source: z.enum(['auto', 'bpf', 'audit', 'connector', 'poller']).default('auto'),
  /** multicast: read alongside the node's auditd (default); unicast: become the audit consumer. */
  auditMode: z.enum(['multicast', 'unicast']).default('multicast'),
  ruleKey: z.string().regex(/^[\w-]{1,31}$/).default('nodewarden'),
  pollIntervalMs: z.number().int().min(10).default(200),
  /**
   * The eBPF source's ring buffer (execs the kernel has written and the agent not yet read), in
   * bytes: a power of two from 64 KiB to 256 MiB. An exec takes ~100 bytes plus its command line
   * and paths; the agent's RSS counts the ring twice (it is mapped back to back).
   */
  bpfRingBytes: z.number().int().min(65_536).max(268_435_456)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two (65536, 131072, … 1048576, …)').default(1_048_576),
  /** Namespaces evaluated besides kube-system (which always is); '*' for all. */
  namespaces: z.array(z.string()).default([]),
  /** Evaluate processes on the host itself (outside any container). */
  hostProcesses: z.boolean().default(false),
  /**
   * Expected behaviour that must stay quiet: kept for configurations written before rule packs;
   * each entry becomes an exception of the rule it names (see README.md, "Rules").
   */
  allow: z.array(allowEntry).default([]),
  /** The older name of rules.repeatWindowMs; when set, it wins. */
  repeatWindowMs: z.number().int().min(100).optional(),
  /** Processes remembered for parent chains (least recently used go first). */
  maxProcesses: z.number().int().min(1024).default(16_384),
  /**
   * The longest an exec in a container the inventory does not know yet waits for its pod's name
   * (it goes out sooner once the runtime has been listed since and did not name it).
   */
  enrichWaitMs: z.number().int().min(0).max(30_000).default(5000),
});
export type ProcessConfig = z.infer<typeof processConfigSchema>;

export const processFactory: CollectorFactory<ProcessConfig> = {
  type: 'process',
  validate: (raw) => validateWith(processConfigSchema, raw),
  defaults: () => processConfigSchema.parse({}),
  create: (config: ProcessConfig, ctx: CollectorContext) => new ProcessCollector(config, ctx),
};
