// Configuration pieces the HTTP sinks share: an http(s) URL without credentials (those are
// secrets), and a file that must be readable at start (a CA bundle).

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NwError, describeError } from '../../../core/errors.js';

export const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search;
  } catch {
    return false;
  }
}, 'expected an http(s) URL without credentials or a query (credentials go in auth, as secrets)');

export function checkReadable(file: string | undefined, what: string): void {
  if (!file) return;
  try {
    readFileSync(file);
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `${what}: ${file} cannot be read: ${describeError(err)}`, { cause: err });
  }
}
