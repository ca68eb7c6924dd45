// How the reading commands (tail, events, findings) reach central: TLS verified against
// --tls-ca (or the system's roots), an operator certificate (--tls-cert/--tls-key) or a bearer
// token read from --token FILE, and plaintext only with --insecure. A plaintext attempt at a
// TLS port (or the reverse) fails with a sentence saying which flag is missing. The token is
// never sent in plaintext.

import * as grpc from '@grpc/grpc-js';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { NwError } from '../core/errors.js';
import { channelOptions } from '../core/wire/services.js';
import { MAX_TOKEN_BYTES, tokenOf } from '../core/identity/token-file.js';

export interface ConnectionFlags {
  central?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  token?: string;
  insecure?: boolean;
}

export interface CentralConnection {
  address: string;
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
}

export type ConnectFn = (flags: Record<string, unknown>) => CentralConnection;


export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--central <host:port>', "central's gRPC address").env('NODEWARDEN_CENTRAL').default('127.0.0.1:7443'))
    .addOption(new Option('--tls-ca <file>', "CA bundle that signed central's certificate (default: the system's roots)").env('NODEWARDEN_TLS_CA'))
    .addOption(new Option('--tls-cert <file>', 'operator certificate (nodewarden certs client NAME)').env('NODEWARDEN_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', "the operator certificate's key").env('NODEWARDEN_TLS_KEY'))
    .addOption(new Option('--tls-server-name <name>', "the name central's certificate carries, when it differs from --central's host"))
    .addOption(new Option('--token <file>', 'a bearer token file (a Kubernetes service account token of a reader)'))
    .option('--insecure', 'talk plaintext to a central started with insecure: true');
}

export const connect: ConnectFn = (raw) => {
  const flags = raw as ConnectionFlags;
  const address = flags.central ?? '127.0.0.1:7443';
  if (flags.insecure && flags.token) throw new NwError('NW_ERR_CONFIG', '--token is never sent in plaintext: drop --insecure and give --tls-ca');
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new NwError('NW_ERR_CONFIG', '--tls-cert and --tls-key go together');
  const options: grpc.ChannelOptions = flags.tlsServerName ? { 'grpc.ssl_target_name_override': flags.tlsServerName, 'grpc.default_authority': flags.tlsServerName } : {};
  if (flags.insecure) return { address, credentials: grpc.credentials.createInsecure(), options: channelOptions };
  // A command that runs once reads its files once: no watching, unlike the agent.
  let credentials = grpc.credentials.createSsl(
    flags.tlsCa ? readFile(flags.tlsCa, '--tls-ca') : null,
    flags.tlsKey ? readFile(flags.tlsKey, '--tls-key') : null,
    flags.tlsCert ? readFile(flags.tlsCert, '--tls-cert') : null,
  );
  if (flags.token) {
    const token = readToken(flags.token);
    credentials = credentials.compose(grpc.credentials.createFromMetadataGenerator((_p, done) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      done(null, md);
    }));
  }
  return { address, credentials, options: { ...channelOptions, ...options } };
};

function readFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `${flag} ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}

function readToken(file: string): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_TOKEN_BYTES + 1);
      return tokenOf(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new NwError('NW_ERR_CONFIG', `--token ${file} cannot be used: ${(err as Error).message}`, { cause: err });
  }
}

/** One line for a failed call, naming the likely cause where the status allows. */
export function describeCallError(err: grpc.ServiceError, flags: ConnectionFlags): string {
  const details = err.details || err.message;
  if (err.code === grpc.status.UNAVAILABLE) {
    if (flags.insecure) return `central at ${flags.central} did not answer in plaintext (${details}); if it uses TLS, drop --insecure and give --tls-ca`;
    return `central at ${flags.central} did not answer over TLS (${details}); check --tls-ca and --tls-server-name, or --insecure if central runs in plaintext`;
  }
  if (err.code === grpc.status.UNAUTHENTICATED) return `central refused the credential: ${details}`;
  if (err.code === grpc.status.PERMISSION_DENIED) return `central refused to serve this credential: ${details}`;
  if (err.code === grpc.status.UNIMPLEMENTED) {
    return `${flags.central} does not serve this (${details}); a central with central.readListen answers queries and tail there, not on its ingest port`;
  }
  return details;
}
