// gRPC credentials from TLS files, for central (server) and for its clients (agent, tail,
// events, findings). Both read their files through CertFiles, so a rotated certificate is used
// for the next connection without a restart. Plaintext exists only behind an explicit
// `insecure`; a TLS configuration that cannot be satisfied fails at start with the reason.

import * as grpc from '@grpc/grpc-js';
import { CertFiles } from './cert-files.js';
import { NwError } from '../errors.js';

export interface ServerTls {
  cert?: string;
  key?: string;
  clientCa?: string;
}

export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
}

export interface ServerCredentialsResult {
  credentials: grpc.ServerCredentials;
  /** The server's own pair (null when insecure) and the client CA (null without clientCa). */
  identity: CertFiles | null;
  clientCa: CertFiles | null;
}

/**
 * Central's credentials. The client certificate is requested but not required by TLS itself:
 * agents that prove their node with a token have none, so central checks certificates itself
 * (core/tls/peer-certificate.ts) and refuses a call that has neither.
 */
export async function serverCredentials(tls: ServerTls, insecure: boolean, onChange?: (c: { ok: boolean; message: string }) => void): Promise<ServerCredentialsResult> {
  if (!tls.cert || !tls.key) {
    if (insecure) return { credentials: grpc.ServerCredentials.createInsecure(), identity: null, clientCa: null };
    throw new NwError('NW_ERR_CONFIG', 'central needs central.tls.cert and central.tls.key (nodewarden certs server creates them), or insecure: true for plaintext');
  }
  const identity = new CertFiles({ cert: tls.cert, key: tls.key, onChange });
  await identity.start();
  const problem = identity.problem();
  if (problem) {
    identity.stop();
    throw new NwError('NW_ERR_TLS', problem);
  }
  let clientCa: CertFiles | null = null;
  if (tls.clientCa) {
    clientCa = new CertFiles({ ca: tls.clientCa, onChange });
    await clientCa.start();
    const caProblem = clientCa.problem();
    if (caProblem) {
      identity.stop();
      clientCa.stop();
      throw new NwError('NW_ERR_TLS', caProblem);
    }
  }
  // grpc-js names this function's first parameter after the CA, but uses it as the identity.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(identity, clientCa, false);
  // grpc-js reads the credentials' current TLS context when it creates the listening socket and
  // drops connections until a context arrives. Attaching a watcher now loads the files' context
  // before the server binds, so central never answers its first clients with a closed socket.
  credentials._addWatcher(() => undefined);
  for (let i = 0; i < 10 && credentials._getSecureContextOptions() === null; i++) await new Promise((r) => setImmediate(r));
  if (credentials._getSecureContextOptions() === null) throw new NwError('NW_ERR_TLS', 'the TLS files were read but gRPC took no context from them');
  return { credentials, identity, clientCa };
}

export interface ClientCredentialsResult {
  credentials: grpc.ChannelCredentials;
  options: grpc.ChannelOptions;
  files: CertFiles | null;
}

/**
 * A client's credentials: TLS verified against `ca` (or the system's roots), with a client
 * certificate when cert and key are given; plaintext only when `insecure`.
 */
export async function clientCredentials(tls: ClientTls, insecure: boolean, onChange?: (c: { ok: boolean; message: string }) => void): Promise<ClientCredentialsResult> {
  const options: grpc.ChannelOptions = tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {};
  if (insecure) {
    if (tls.cert || tls.ca) throw new NwError('NW_ERR_CONFIG', 'TLS files are configured together with insecure: true; choose one');
    return { credentials: grpc.credentials.createInsecure(), options: {}, files: null };
  }
  // No CA file and no certificate: Node's root CAs, and nothing to watch.
  if (!tls.ca && !tls.cert) return { credentials: grpc.credentials.createSsl(), options, files: null };
  const files = new CertFiles({ ca: tls.ca, cert: tls.cert, key: tls.key, systemRoots: true, onChange });
  await files.start();
  const problem = files.problem();
  if (problem) {
    files.stop();
    throw new NwError('NW_ERR_TLS', problem);
  }
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(files, tls.cert ? files : null);
  return { credentials, options, files };
}
