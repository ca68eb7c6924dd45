// `nodewarden certs`: a small CA in a directory (ca.crt, ca.key) and the certificates it issues to
// central (server), nodes and operators. Files are created, never replaced: keys 0600, the
// directory 0700; each refusal is an NwError('NW_ERR_CONFIG') that the caller prints and exits 2.

import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Command } from 'commander';
import { NwError, describeError } from '../core/errors.js';
import { createCa, issueCertificate, type CertRole, type Pem } from '../core/tls/pki.js';

interface Flags { dir: string; days?: string }

export function certsCommand(): Command {
  const certs = new Command('certs')
    .description('create a certificate authority and the TLS certificates for central, nodes and operators')
    .addHelpText('after', `
Typical use:
  nodewarden certs init --dir ./pki
  nodewarden certs server --dir ./pki --san central.nodewarden.svc --san 10.0.0.5
  nodewarden certs node worker-1 --dir ./pki
  nodewarden certs client alice --dir ./pki

Keys are written mode 0600 and existing files are never overwritten.`);

  certs.command('init')
    .description('create the CA: DIR/ca.crt and DIR/ca.key')
    .requiredOption('--dir <dir>', 'directory for the CA files (created, mode 0700, if missing)')
    .option('--days <n>', 'validity in days (default 3650)')
    .addHelpText('after', '\nKeep ca.key secret: whoever holds it can issue certificates central trusts.')
    .action(async (flags: Flags) => {
      const files = targets(flags.dir, 'ca');
      refuseExisting(files);
      const pem = await createCa({ validDays: days(flags.days) });
      write(files, pem, 'CA');
    });

  certs.command('server')
    .description("issue central's server certificate: DIR/server.crt and DIR/server.key")
    .requiredOption('--dir <dir>', 'directory holding ca.crt and ca.key')
    .requiredOption('--san <name...>', 'DNS name or IP address agents use to reach central (repeatable; the first is also the CN)')
    .option('--days <n>', 'validity in days (default 365)')
    .action(async (flags: Flags & { san: string[] }) => {
      await issue(flags, 'server', { role: 'server', commonName: flags.san[0]!, dnsNames: flags.san.slice(1) });
    });

  certs.command('node')
    .description("issue a node's client certificate: DIR/NODE.crt and DIR/NODE.key")
    .argument('<node>', 'the Kubernetes node name (CN and DNS name of the certificate)')
    .requiredOption('--dir <dir>', 'directory holding ca.crt and ca.key')
    .option('--days <n>', 'validity in days (default 365)')
    .action(async (node: string, flags: Flags) => {
      await issue(flags, fileStem(node), { role: 'node', commonName: node });
    });

  certs.command('client')
    .description("issue an operator's client certificate (for tail and other reads): DIR/NAME.crt and DIR/NAME.key")
    .argument('<name>', 'the operator name (CN of the certificate)')
    .requiredOption('--dir <dir>', 'directory holding ca.crt and ca.key')
    .option('--days <n>', 'validity in days (default 365)')
    .action(async (name: string, flags: Flags) => {
      await issue(flags, fileStem(name), { role: 'operator', commonName: name });
    });

  return certs;
}

interface Targets { dir: string; key: string; cert: string }

async function issue(flags: Flags, stem: string, opts: { role: CertRole; commonName: string; dnsNames?: string[] }): Promise<void> {
  const ca = readCa(flags.dir);
  const files = targets(flags.dir, stem);
  // Checked before the key is generated, so a refusal costs nothing and writes nothing.
  refuseExisting(files);
  const pem = await issueCertificate(ca, { ...opts, validDays: days(flags.days) });
  write(files, pem, opts.role);
}

function readCa(dir: string): Pem {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new NwError('NW_ERR_CONFIG', `${file} does not exist: run nodewarden certs init --dir ${dir} first`, { cause: err });
      throw new NwError('NW_ERR_CONFIG', `cannot read ${file}: ${describeError(err)}`, { cause: err });
    }
  };
  return { certPem: read(path.join(dir, 'ca.crt')), keyPem: read(path.join(dir, 'ca.key')) };
}

function targets(dir: string, stem: string): Targets {
  return { dir, key: path.join(dir, `${stem}.key`), cert: path.join(dir, `${stem}.crt`) };
}

/** A name becomes a file name: it must stay inside the directory and not be hidden. */
function fileStem(name: string): string {
  if (name === '' || name.includes('/') || name.includes('\\') || name.includes('\0') || name.startsWith('.')) {
    throw new NwError('NW_ERR_CONFIG', `"${name}" cannot be used as a file name: it must not be empty, contain '/' or start with '.'`);
  }
  return name;
}

function days(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new NwError('NW_ERR_CONFIG', `--days: expected a whole number of days, not "${value}"`);
  }
  return n;
}

function refuseExisting(files: Targets): void {
  for (const file of [files.key, files.cert]) {
    let exists = true;
    try {
      lstatSync(file);
    } catch {
      exists = false;
    }
    if (exists) throw alreadyExists(file);
  }
}

function alreadyExists(file: string): NwError {
  return new NwError('NW_ERR_CONFIG', `${file} already exists; nodewarden never overwrites keys or certificates: move it away to issue a new one`);
}

/** Key first, certificate second, each created exclusively ('wx') so a race cannot replace a file. */
function write(files: Targets, pem: Pem, what: string): void {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  createFile(files.key, pem.keyPem, 0o600);
  try {
    createFile(files.cert, pem.certPem, 0o644);
  } catch (err) {
    // The key was created a moment ago by this call; without its certificate it is useless.
    unlinkSync(files.key);
    throw err;
  }
  syncDir(files.dir);
  const cert = new X509Certificate(pem.certPem);
  const subject = cert.subject.split('\n').join(', ');
  process.stdout.write(`wrote ${files.key} (private key, mode 0600)\n`);
  process.stdout.write(`wrote ${files.cert} (${what} certificate ${subject}, valid until ${new Date(cert.validTo).toISOString()})\n`);
}

function createFile(file: string, data: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(file);
    throw new NwError('NW_ERR_CONFIG', `cannot create ${file}: ${describeError(err)}`, { cause: err });
  }
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (err) {
    // Ours since the open above: a half-written key or certificate must not be left behind.
    closeSync(fd);
    unlinkSync(file);
    throw new NwError('NW_ERR_CONFIG', `cannot write ${file}: ${describeError(err)}`, { cause: err });
  }
  closeSync(fd);
}

/** Make the new directory entries durable; not every platform can fsync a directory. */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Best effort: the files themselves are already synced.
  }
}
