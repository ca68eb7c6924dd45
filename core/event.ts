// The wire Event as both processes handle it: its type, its bytes and its protobuf JSON mapping,
// and the names of its enums. The one Finding → Event conversion lives in daemon/wire-event.ts.

import type protobuf from 'protobufjs/minimal.js';
import { nodewarden } from '../gen/nodewarden.js';

const pb = nodewarden.v1;
export type WireEvent = nodewarden.v1.Event;

export function encodeEvent(ev: WireEvent): Buffer {
  const u8 = pb.Event.encode(ev).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

const JSON_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, json: true, defaults: false };

/** The protobuf JSON mapping of an event (camelCase names, enums by name, 64-bit ints as strings). */
export function eventToJson(ev: WireEvent): Record<string, unknown> {
  return pb.Event.toObject(ev, JSON_OPTIONS) as Record<string, unknown>;
}

export const severityName = (n: number): string => (pb.Severity[n] ?? 'SEVERITY_UNSPECIFIED').replace('SEVERITY_', '').toLowerCase();
export const sourceName = (n: number): string => (pb.Source[n] ?? 'SOURCE_UNSPECIFIED').replace('SOURCE_', '').toLowerCase();
export const stateName = (n: number): string => (pb.FindingState[n] ?? '').replace('FINDING_STATE_', '').toLowerCase();

/** `high` → SEVERITY_HIGH's number; undefined for an unknown name. */
export function severityByName(name: string): number | undefined {
  return (pb.Severity as unknown as Record<string, number>)[`SEVERITY_${name.toUpperCase()}`];
}
export function sourceByName(name: string): number | undefined {
  return (pb.Source as unknown as Record<string, number>)[`SOURCE_${name.toUpperCase()}`];
}
export function stateByName(name: string): number | undefined {
  return (pb.FindingState as unknown as Record<string, number>)[`FINDING_STATE_${name.toUpperCase()}`];
}
