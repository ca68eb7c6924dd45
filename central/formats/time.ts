// Event times for the formats: Unix nanoseconds (a protobuf int64, decoded as a Long) as whole
// milliseconds, exactly. Every format needs it for every event, and Long#div or a BigInt
// division through a decimal string each cost allocations and a good part of a microsecond.

import Long from 'long';

/**
 * `ns / 1e6` truncated toward zero, as Long#div and BigInt division give it. A non-negative
 * Long (high·2³² + low) is split as high·4294·10⁶ + (high·967296 + low), whose second part stays
 * below 2⁵³, so plain doubles divide it exactly; anything else goes through Long.
 */
export function longNanosToMs(v: Long): number {
  const high = v.high;
  if (high >= 0) return high * 4294 + Math.floor((high * 967296 + (v.low >>> 0)) / 1_000_000);
  return Long.fromValue(v).div(1_000_000).toNumber();
}

/** A protobuf 64-bit integer decoded as a Long (not a number, nor unset). */
export function isLong(v: unknown): v is Long {
  return typeof v === 'object' && v !== null && typeof (v as Long).high === 'number' && typeof (v as Long).low === 'number';
}

/**
 * `new Date(ms).toISOString()`, which costs about a microsecond; most times of a batch fall in
 * the seconds just formatted, so those are kept (two: an alert has a start and an end) and only
 * the milliseconds are written. Throws, as Date does, on a time it cannot represent.
 */
export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  let slot = second === seconds[0] ? 0 : second === seconds[1] ? 1 : -1;
  if (slot < 0 || !Number.isInteger(ms)) {
    const iso = new Date(ms).toISOString();
    if (!Number.isInteger(ms)) return iso;
    slot = nextSlot;
    nextSlot ^= 1;
    seconds[slot] = second;
    // Everything up to the milliseconds: "YYYY-MM-DDTHH:MM:SS." (or a six-digit year's form).
    prefixes[slot] = iso.slice(0, -4);
    return iso;
  }
  const milli = ms - second * 1000;
  return `${prefixes[slot]!}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

const seconds = [Number.NaN, Number.NaN];
const prefixes = ['', ''];
let nextSlot = 0;
