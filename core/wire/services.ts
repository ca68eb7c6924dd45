// gRPC service definitions for proto/nodewarden/v1 (Ingest, Feed, Query), shared by agent, central and
// `tail`. Messages are encoded with the generated protobufjs code. Requests on the server side
// arrive as raw bytes and are decoded by the handler, so that a malformed frame is refused by
// that one stream with a clear error instead of failing inside the transport.

import * as grpc from '@grpc/grpc-js';
import { nodewarden } from '../../gen/nodewarden.js';

const pb = nodewarden.v1;

const toBuffer = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
const raw = (b: Buffer): Buffer => b;

export const ingestService = {
  Stream: {
    path: '/nodewarden.v1.Ingest/Stream',
    requestStream: true,
    responseStream: true,
    // The agent hands pre-encoded AgentMessage bytes (built from spooled event bytes).
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: (m: nodewarden.v1.ICentralMessage) => toBuffer(pb.CentralMessage.encode(m).finish()),
    responseDeserialize: (b: Buffer) => pb.CentralMessage.decode(b),
  },
} satisfies grpc.ServiceDefinition;

export const feedService = {
  Subscribe: {
    path: '/nodewarden.v1.Feed/Subscribe',
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: nodewarden.v1.ISubscribeRequest) => toBuffer(pb.SubscribeRequest.encode(m).finish()),
    requestDeserialize: raw,
    responseSerialize: (m: nodewarden.v1.IFeedMessage | Buffer) => (Buffer.isBuffer(m) ? m : toBuffer(pb.FeedMessage.encode(m).finish())),
    responseDeserialize: (b: Buffer) => pb.FeedMessage.decode(b),
  },
} satisfies grpc.ServiceDefinition;

// Query answers with stored events: the server writes each event's stored bytes as they are.
const eventResponse = {
  responseSerialize: (m: nodewarden.v1.IEvent | Buffer) => (Buffer.isBuffer(m) ? m : toBuffer(pb.Event.encode(m).finish())),
  responseDeserialize: (b: Buffer) => pb.Event.decode(b),
};

export const queryService = {
  Events: {
    path: '/nodewarden.v1.Query/Events',
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: nodewarden.v1.IEventsRequest) => toBuffer(pb.EventsRequest.encode(m).finish()),
    requestDeserialize: raw,
    ...eventResponse,
  },
  Findings: {
    path: '/nodewarden.v1.Query/Findings',
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: nodewarden.v1.IFindingsRequest) => toBuffer(pb.FindingsRequest.encode(m).finish()),
    requestDeserialize: raw,
    ...eventResponse,
  },
} satisfies grpc.ServiceDefinition;

export const IngestClient = grpc.makeGenericClientConstructor(ingestService, 'Ingest');
export const FeedClient = grpc.makeGenericClientConstructor(feedService, 'Feed');
export const QueryClient = grpc.makeGenericClientConstructor(queryService, 'Query');

/** Channel options both sides use: bounded message size, keepalive to notice a dead peer. */
export const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
};
