// A client for the Kubernetes CRI (package runtime.v1) over the runtime's unix socket: the calls
// the runtime collector reads with, and the ones the test node-box creates pods with. It is a
// plain grpc-js client whose (de)serializers are the protobufjs code generated from
// proto/runtime/v1/api.proto. Every failure is a CriError carrying one of the named reasons below.

import * as grpc from '@grpc/grpc-js';
import Long from 'long';
import { runtime } from '../../gen/cri.js';
import { NwError } from '../../core/errors.js';

import v1 = runtime.v1;

/** Far above any real response (200 verbose statuses are ~1 MiB) yet bounded: a hostile runtime cannot exhaust memory. */
export const DEFAULT_MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** Named failure reasons, so callers branch on meaning rather than on gRPC status numbers. */
export const CriErrorReason = {
  /** The socket is missing, refused, or the runtime went away mid-call. */
  Unavailable: 'unavailable',
  /** The call did not finish before its deadline. */
  Timeout: 'timeout',
  /** The runtime does not implement the call (e.g. GetContainerEvents before containerd 1.7). */
  Unimplemented: 'unimplemented',
  /** The object (container, sandbox, image) does not exist. */
  NotFound: 'not-found',
  /** The response could not be decoded or exceeded the size limit. */
  BadResponse: 'bad-response',
  /** The client was closed. */
  Closed: 'closed',
  /** Anything else the runtime refused. */
  Failed: 'failed',
} as const;
export type CriErrorReason = (typeof CriErrorReason)[keyof typeof CriErrorReason];

export class CriError extends NwError {
  readonly reason: CriErrorReason;
  readonly method: string;
  /** The gRPC status code, when the error came from the runtime or the channel. */
  readonly grpcCode?: number;
  constructor(reason: CriErrorReason, method: string, message: string, options?: { cause?: unknown; grpcCode?: number }) {
    // The project has one runtime error code; the reason refines it.
    super('NW_ERR_RUNTIME_UNAVAILABLE', `CRI ${method}: ${message}`, options);
    this.name = 'CriError';
    this.reason = reason;
    this.method = method;
    this.grpcCode = options?.grpcCode;
  }
}

export function isCriError(err: unknown, reason?: CriErrorReason): err is CriError {
  return err instanceof CriError && (reason === undefined || err.reason === reason);
}

function reasonFor(code: number | undefined): CriErrorReason {
  switch (code) {
    case grpc.status.UNAVAILABLE:
      return CriErrorReason.Unavailable;
    case grpc.status.DEADLINE_EXCEEDED:
      return CriErrorReason.Timeout;
    case grpc.status.UNIMPLEMENTED:
      return CriErrorReason.Unimplemented;
    case grpc.status.NOT_FOUND:
      return CriErrorReason.NotFound;
    case grpc.status.RESOURCE_EXHAUSTED:
    case grpc.status.INTERNAL:
      return CriErrorReason.BadResponse;
    case grpc.status.CANCELLED:
      return CriErrorReason.Closed;
    default:
      return CriErrorReason.Failed;
  }
}

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
}
interface Decoder<R> {
  decode(reader: Uint8Array): R;
}

export interface CriClientOptions {
  maxReceiveBytes?: number;
  callTimeoutMs?: number;
  /** Upper bound of grpc-js's reconnect backoff; short so a restarted runtime is seen quickly. */
  maxReconnectBackoffMs?: number;
}

export interface ContainerEventStream {
  /** Stop receiving; the stream ends with no error. */
  cancel(): void;
}

export interface ContainerEventHandlers {
  onEvent(event: v1.ContainerEventResponse): void;
  /** Called once when the stream ends; `err` is undefined when it was cancelled. */
  onEnd(err?: CriError): void;
}

export class CriClient {
  readonly socketPath: string;
  private readonly client: grpc.Client;
  private readonly callTimeoutMs: number;
  private closed = false;

  constructor(socketPath: string, opts: CriClientOptions = {}) {
    this.socketPath = socketPath;
    this.callTimeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    const max = opts.maxReceiveBytes ?? DEFAULT_MAX_RECEIVE_BYTES;
    this.client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': 4 * 1024 * 1024,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': opts.maxReconnectBackoffMs ?? 2_000,
      // The CRI server has no authority; grpc-js would send the socket path otherwise.
      'grpc.default_authority': 'localhost',
    });
  }

  version(): Promise<v1.VersionResponse> {
    return this.unary('RuntimeService', 'Version', v1.VersionRequest, v1.VersionResponse, { version: 'v1' });
  }

  status(verbose = false): Promise<v1.StatusResponse> {
    return this.unary('RuntimeService', 'Status', v1.StatusRequest, v1.StatusResponse, { verbose });
  }

  async listPodSandbox(filter?: v1.PodSandboxFilter.$Properties): Promise<v1.PodSandbox[]> {
    const res = await this.unary('RuntimeService', 'ListPodSandbox', v1.ListPodSandboxRequest, v1.ListPodSandboxResponse, { filter });
    return res.items as v1.PodSandbox[];
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<v1.PodSandboxStatusResponse> {
    return this.unary('RuntimeService', 'PodSandboxStatus', v1.PodSandboxStatusRequest, v1.PodSandboxStatusResponse, { podSandboxId, verbose });
  }

  async listContainers(filter?: v1.ContainerFilter.$Properties): Promise<v1.Container[]> {
    const res = await this.unary('RuntimeService', 'ListContainers', v1.ListContainersRequest, v1.ListContainersResponse, { filter });
    return res.containers as v1.Container[];
  }

  containerStatus(containerId: string, verbose = false): Promise<v1.ContainerStatusResponse> {
    return this.unary('RuntimeService', 'ContainerStatus', v1.ContainerStatusRequest, v1.ContainerStatusResponse, { containerId, verbose });
  }

  async runPodSandbox(config: v1.PodSandboxConfig.$Properties, runtimeHandler = ''): Promise<string> {
    const res = await this.unary('RuntimeService', 'RunPodSandbox', v1.RunPodSandboxRequest, v1.RunPodSandboxResponse, { config, runtimeHandler });
    return res.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.unary('RuntimeService', 'StopPodSandbox', v1.StopPodSandboxRequest, v1.StopPodSandboxResponse, { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.unary('RuntimeService', 'RemovePodSandbox', v1.RemovePodSandboxRequest, v1.RemovePodSandboxResponse, { podSandboxId });
  }

  async createContainer(podSandboxId: string, config: v1.ContainerConfig.$Properties, sandboxConfig: v1.PodSandboxConfig.$Properties): Promise<string> {
    const res = await this.unary('RuntimeService', 'CreateContainer', v1.CreateContainerRequest, v1.CreateContainerResponse, {
      podSandboxId,
      config,
      sandboxConfig,
    });
    return res.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.unary('RuntimeService', 'StartContainer', v1.StartContainerRequest, v1.StartContainerResponse, { containerId });
  }

  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.unary('RuntimeService', 'StopContainer', v1.StopContainerRequest, v1.StopContainerResponse, { containerId, timeout: Long.fromNumber(timeoutSeconds) }, (timeoutSeconds + 10) * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.unary('RuntimeService', 'RemoveContainer', v1.RemoveContainerRequest, v1.RemoveContainerResponse, { containerId });
  }

  /** Runs a command in a container and waits for it; the runtime caps each output at 16 MiB. */
  execSync(containerId: string, cmd: string[], timeoutSeconds = 10): Promise<v1.ExecSyncResponse> {
    return this.unary('RuntimeService', 'ExecSync', v1.ExecSyncRequest, v1.ExecSyncResponse, { containerId, cmd, timeout: Long.fromNumber(timeoutSeconds) }, (timeoutSeconds + 5) * 1000);
  }

  async listImages(): Promise<v1.Image[]> {
    const res = await this.unary('ImageService', 'ListImages', v1.ListImagesRequest, v1.ListImagesResponse, {});
    return res.images as v1.Image[];
  }

  imageStatus(image: string, verbose = false): Promise<v1.ImageStatusResponse> {
    return this.unary('ImageService', 'ImageStatus', v1.ImageStatusRequest, v1.ImageStatusResponse, { image: { image }, verbose });
  }

  /**
   * Subscribe to container lifecycle events. Runtimes without evented PLEG end the stream at
   * once with reason Unimplemented; the caller then polls.
   */
  containerEvents(handlers: ContainerEventHandlers): ContainerEventStream {
    const method = 'GetContainerEvents';
    if (this.closed) {
      queueMicrotask(() => handlers.onEnd(new CriError(CriErrorReason.Closed, method, 'client closed')));
      return { cancel: () => undefined };
    }
    let ended = false;
    let cancelled = false;
    const end = (err?: CriError): void => {
      if (ended) return;
      ended = true;
      handlers.onEnd(err);
    };
    const call = this.client.makeServerStreamRequest(
      `/runtime.v1.RuntimeService/${method}`,
      (m: v1.GetEventsRequest.$Properties) => Buffer.from(v1.GetEventsRequest.encode(m).finish()),
      (b: Buffer) => v1.ContainerEventResponse.decode(b),
      {},
    );
    call.on('data', (ev: v1.ContainerEventResponse) => {
      if (!ended) handlers.onEvent(ev);
    });
    call.on('error', (err: grpc.ServiceError) => {
      end(cancelled ? undefined : toCriError(method, err));
    });
    call.on('end', () => end(cancelled ? undefined : new CriError(CriErrorReason.Unavailable, method, 'event stream ended')));
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
        end();
      },
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private unary<Req, Res>(
    service: 'RuntimeService' | 'ImageService',
    method: string,
    reqType: Codec<Req>,
    resType: Decoder<Res>,
    request: Req,
    timeoutMs = this.callTimeoutMs,
  ): Promise<Res> {
    if (this.closed) return Promise.reject(new CriError(CriErrorReason.Closed, method, 'client closed'));
    return new Promise<Res>((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/runtime.v1.${service}/${method}`,
        (m: Req) => Buffer.from(reqType.encode(m).finish()),
        // A decode failure throws here; grpc-js turns it into an INTERNAL status.
        (b: Buffer) => resType.decode(b),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) reject(toCriError(method, err));
          else if (res === undefined) reject(new CriError(CriErrorReason.BadResponse, method, 'empty response'));
          else resolve(res);
        },
      );
    });
  }
}

function toCriError(method: string, err: grpc.ServiceError): CriError {
  return new CriError(reasonFor(err.code), method, err.details || err.message, { cause: err, grpcCode: err.code });
}

/** int64 fields arrive as Long (see scripts/gen-proto.mjs --force-long); nanoseconds need all 64 bits. */
export function int64ToBigInt(v: { toString(): string } | number | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  try {
    return BigInt(v.toString());
  } catch {
    return 0n;
  }
}

export { runtime };
export type CriContainer = v1.Container;
export type CriPodSandbox = v1.PodSandbox;
export type CriContainerStatusResponse = v1.ContainerStatusResponse;
