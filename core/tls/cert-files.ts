// TLS material read from files and re-read when they change (cert-manager and the kubelet
// rotate secrets by swapping a symlink in the mounted folder, so the folders are watched, not
// the files). A new pair is taken only when it is whole: the certificate parses, the key
// matches it, the CA bundle parses; otherwise the previous material stays and the problem is
// reported. It feeds @grpc/grpc-js through its CertificateProvider interface, so live servers
// and channels pick up rotated certificates for new connections without a restart.

import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import path from 'node:path';
import { experimental } from '@grpc/grpc-js';
import { describeError } from '../errors.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** TLS files are small; anything larger is not a certificate. */
const MAX_PEM_BYTES = 1024 * 1024;

export interface CertFilesOptions {
  ca?: string;
  cert?: string;
  key?: string;
  /** Without a `ca` file, hand listeners Node's bundled root CAs (a client trusting public CAs). */
  systemRoots?: boolean;
  /** Re-read even without a change notice (a missed inotify event, an NFS mount). */
  pollMs?: number;
  /** A rotation was taken, or a change could not be taken (the old material stays). */
  onChange?: (what: { ok: boolean; message: string }) => void;
}

export interface TlsMaterial {
  ca?: Buffer;
  cas: X509Certificate[];
  cert?: Buffer;
  key?: Buffer;
  leaf?: X509Certificate;
}

export class CertFiles implements experimental.CertificateProvider {
  private material: TlsMaterial = { cas: [] };
  private problemText: string | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(private readonly opts: CertFilesOptions) {}

  /** Read the files once and start watching them. Resolves even when they are missing (see problem()). */
  async start(): Promise<void> {
    await this.reload();
    const dirs = new Set([this.opts.ca, this.opts.cert, this.opts.key].filter((f): f is string => !!f).map((f) => path.dirname(path.resolve(f))));
    for (const dir of dirs) {
      try {
        const w = watch(dir, () => this.changed());
        w.on('error', () => undefined); // the folder went away: the poll below still re-reads
        this.watchers.push(w);
      } catch {
        // A folder that does not exist yet: the poll picks the files up when they appear.
      }
    }
    this.timer = setInterval(() => void this.reload(), this.opts.pollMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Why the material is not usable (missing, unreadable, mismatched), or null. */
  problem(): string | null {
    return this.problemText;
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Re-read now (also what a change notice triggers). */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.loadOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private changed(): void {
    if (this.stopped) return;
    // A rotation writes several files: read once they have all landed.
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(), 50);
    this.debounce.unref();
  }

  private async loadOnce(): Promise<void> {
    let next: TlsMaterial;
    try {
      next = await this.read();
    } catch (err) {
      const message = describeError(err);
      if (message !== this.problemText) this.opts.onChange?.({ ok: false, message });
      this.problemText = message;
      return;
    }
    const changed = !same(next.ca, this.material.ca) || !same(next.cert, this.material.cert) || !same(next.key, this.material.key);
    const hadProblem = this.problemText !== null;
    this.problemText = null;
    if (!changed) return;
    const first = this.material.ca === undefined && this.material.cert === undefined;
    this.material = next;
    if (!first || hadProblem) this.opts.onChange?.({ ok: true, message: describeMaterial(this.opts, next) });
    this.publish();
  }

  private async read(): Promise<TlsMaterial> {
    const out: TlsMaterial = { cas: [] };
    if (this.opts.ca) {
      out.ca = await readPem(this.opts.ca, 'CA bundle');
      out.cas = parseBundle(out.ca, this.opts.ca);
    }
    if (this.opts.cert && this.opts.key) {
      out.cert = await readPem(this.opts.cert, 'certificate');
      out.key = await readPem(this.opts.key, 'private key');
      try {
        out.leaf = new X509Certificate(out.cert);
      } catch (err) {
        throw new Error(`TLS certificate ${this.opts.cert} is not a PEM certificate: ${describeError(err)}`);
      }
      let key;
      try {
        key = createPrivateKey(out.key);
      } catch (err) {
        throw new Error(`TLS private key ${this.opts.key} cannot be read: ${describeError(err)}`);
      }
      if (!out.leaf.checkPrivateKey(key)) throw new Error(`TLS private key ${this.opts.key} does not belong to the certificate ${this.opts.cert}`);
    }
    return out;
  }

  private publish(): void {
    const { ca, cert, key } = this.material;
    if (ca) for (const l of this.caListeners) l({ caCertificate: ca });
    else if (this.caListeners.size > 0 && this.opts.systemRoots) for (const l of this.caListeners) l(this.caUpdate());
    if (cert && key) for (const l of this.identityListeners) l({ certificate: cert, privateKey: key });
  }

  // Listeners hear the current material on the next tick, never inside the add call: grpc-js's
  // server registers its secure-context watcher only after adding these listeners, and would
  // miss a synchronous first update (and then drop every connection).
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    setImmediate(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }

  private caUpdate(): experimental.CaCertificateUpdate | null {
    if (this.material.ca) return { caCertificate: this.material.ca };
    if (this.opts.systemRoots && !this.opts.ca) return { caCertificate: Buffer.from(rootCertificates.join('\n')) };
    return null;
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    setImmediate(() => {
      const { cert, key } = this.material;
      if (this.identityListeners.has(listener)) listener(cert && key ? { certificate: cert, privateKey: key } : null);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

async function readPem(file: string, what: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    throw new Error(`TLS ${what} ${file} cannot be read: ${describeError(err)}`);
  }
  if (buf.length > MAX_PEM_BYTES) throw new Error(`TLS ${what} ${file} is ${buf.length} bytes, larger than any certificate file`);
  if (buf.length === 0) throw new Error(`TLS ${what} ${file} is empty`);
  return buf;
}

function parseBundle(pem: Buffer, file: string): X509Certificate[] {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`TLS CA bundle ${file} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new Error(`TLS CA bundle ${file}: certificate ${i + 1} cannot be parsed: ${describeError(err)}`);
    }
  });
}

function same(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

function describeMaterial(opts: CertFilesOptions, m: TlsMaterial): string {
  const parts: string[] = [];
  if (m.leaf) parts.push(`certificate ${opts.cert} (${m.leaf.subject.replace(/\n/g, ', ')}, valid until ${m.leaf.validTo})`);
  if (m.ca) parts.push(`CA bundle ${opts.ca} (${m.cas.length} certificate${m.cas.length === 1 ? '' : 's'})`);
  return `TLS material loaded: ${parts.join('; ')}.`;
}
