// The first bytes of a file, for inputs that must be small (tokens, CA bundles): a file larger than
// expected is never read whole. Ask for one byte more than the limit to tell "too large" apart.

import { open } from 'node:fs/promises';

/** Up to `bytes` bytes from the start of `file`. */
export async function readFileHead(file: string, bytes: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
