// Pure config validation shared by every component factory: every error with its path.
import type { z } from 'zod';

export function validateWith<S extends z.ZodType>(schema: S, raw: unknown): { ok: true; config: z.infer<S> } | { ok: false; errors: string[] } {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return { ok: true, config: r.data };
  return { ok: false, errors: r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`) };
}
