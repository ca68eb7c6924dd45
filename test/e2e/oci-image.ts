// Builds the node-box's only container image without a registry: an OCI image-layout tarball
// holding one uncompressed layer (a static busybox and its applet symlinks) and a config whose
// Cmd sleeps. Tar is written by hand (ustar, short names only): the format is 512-byte headers
// plus padded data, and the inputs here are ours, so a tiny writer is enough.

import { createHash } from 'node:crypto';

export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  data?: Buffer;
  linkname?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  if (Buffer.byteLength(e.name) > 100) throw new Error(`tar name too long: ${e.name}`);
  h.write(e.name, 0, 100, 'utf8');
  const mode = e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  // A fixed mtime keeps the image digest stable from run to run.
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder: spaces while summing
  h.write(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 'ascii');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    parts.push(header(e, data.length), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0)); // two zero blocks end the archive
  return Buffer.concat(parts);
}

const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Applets linked in the image: what tests exec (sh, nc, wget, id...) and what pods run (sleep). */
export const BUSYBOX_APPLETS = [
  'sh', 'sleep', 'nc', 'wget', 'id', 'cat', 'ls', 'ps', 'echo', 'true', 'false', 'env', 'touch',
  'mkdir', 'rm', 'chmod', 'head', 'grep', 'hostname', 'uname', 'whoami', 'mount', 'kill', 'cp', 'ln',
];

export interface BuiltImage {
  tar: Buffer;
  manifestDigest: string;
  configDigest: string;
}

/** The OCI layout tar for `ctr images import`: one manifest, listed once per name in `names`. */
export function buildBusyboxImage(busybox: Buffer, names: string[]): BuiltImage {
  const layer = writeTar([
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') },
    { name: 'etc/group', type: 'file', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: 'root/', type: 'dir', mode: 0o700 },
    { name: 'proc/', type: 'dir' },
    { name: 'sys/', type: 'dir' },
    { name: 'dev/', type: 'dir' },
  ]);
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['/bin/sleep', '3600'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      manifests: names.map((n) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifestDigest,
        size: manifest.length,
        annotations: { 'io.containerd.image.name': n, 'org.opencontainers.image.ref.name': n.split(':').pop() },
      })),
    }),
  );
  const blob = (d: string): string => `blobs/sha256/${d.slice('sha256:'.length)}`;
  const tar = writeTar([
    { name: 'oci-layout', type: 'file', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', type: 'file', data: index },
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
    { name: blob(layerDigest), type: 'file', data: layer },
    { name: blob(configDigest), type: 'file', data: config },
    { name: blob(manifestDigest), type: 'file', data: manifest },
  ]);
  return { tar, manifestDigest, configDigest };
}
