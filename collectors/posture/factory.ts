// Factory of the posture collector: its config schema (with defaults) and create().
import { z } from 'zod';
import type { CollectorContext, CollectorFactory } from '../collector.js';
import { PostureCollector } from './collector.js';
import { validateWith } from '../validate.js';

export const postureConfigSchema = z.strictObject({
  /** Full re-evaluation period, a safety net behind the file watches. */
  intervalMs: z.number().int().min(1000).default(30_000),
  /** Quiet time after a file event before re-evaluating (editors write in several steps). */
  debounceMs: z.number().int().min(0).max(900).default(100),
  /** The CIS benchmark version: 'auto' picks the one for the node's Kubernetes version. */
  benchmark: z.enum(['auto', 'cis-1.10', 'cis-1.12']).default('auto'),
});
export type PostureConfig = z.infer<typeof postureConfigSchema>;

export const postureFactory: CollectorFactory<PostureConfig> = {
  type: 'posture',
  validate: (raw) => validateWith(postureConfigSchema, raw),
  defaults: () => postureConfigSchema.parse({}),
  create: (config: PostureConfig, ctx: CollectorContext) => new PostureCollector(config, ctx),
};
