// Secrets named in sink configuration: `{ file: PATH }` (re-read on every use, so a rotated
// Kubernetes secret needs no restart) or `{ env: NAME }`. Never inline, never logged: errors
// name where the secret should be, not what it is.

import { openSync, readSync, closeSync } from 'node:fs';
import { z } from 'zod';
import { NwError } from '../../core/errors.js';
import type { SecretRef } from './sink.js';

const MAX_SECRET_BYTES = 64 * 1024;

export const secretRef = z.union([
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }),
]);

export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') throw new NwError('NW_ERR_CONFIG', `the environment variable ${ref.env} holding a secret is not set`);
    return v;
  }
  let fd: number;
  try {
    fd = openSync(ref.file, 'r');
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `the secret file ${ref.file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  try {
    const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n > MAX_SECRET_BYTES) throw new NwError('NW_ERR_CONFIG', `the secret file ${ref.file} is larger than ${MAX_SECRET_BYTES} bytes`);
    const v = buf.subarray(0, n).toString('utf8').trim();
    if (!v) throw new NwError('NW_ERR_CONFIG', `the secret file ${ref.file} is empty`);
    return v;
  } finally {
    closeSync(fd);
  }
}
