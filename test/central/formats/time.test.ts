// Event times for the formats: nanoseconds to milliseconds exactly as Long and BigInt division
// give them, and ISO text exactly as Date gives it, whatever the formatter kept from before.
import t from 'tap';
import Long from 'long';
import { isLong, isoTime, longNanosToMs } from '../../../central/formats/time.js';

t.test('nanoseconds become the milliseconds BigInt division gives, across the int64 range', async (t) => {
  const values = ['0', '1', '999999', '1000000', '1700000000123456789', '1700000000999999999', '4294967295999999', '9223372036854775807',
    '-1', '-999999', '-1000000', '-1700000000123456789', '-9223372036854775808'];
  for (let i = 0; i < 2000; i++) values.push(String(BigInt(Math.floor(Math.random() * 2 ** 53)) * 1024n + BigInt(i)));
  for (const v of values) {
    const signed = Long.fromString(v);
    t.equal(longNanosToMs(signed), Number(BigInt(v) / 1_000_000n), v);
  }
  const unsigned = Long.fromString('18446744073709551615', true);
  t.equal(longNanosToMs(unsigned), Number(18446744073709551615n / 1_000_000n), 'an unsigned value past 2^63');
});

t.test('only Longs are taken for Longs', async (t) => {
  t.ok(isLong(Long.fromNumber(5)));
  t.notOk(isLong(5));
  t.notOk(isLong('5'));
  t.notOk(isLong(null));
  t.notOk(isLong(undefined));
});

t.test('ISO times are Date\'s, for times in the kept seconds, times in others, and times Date cannot represent', async (t) => {
  const base = Date.UTC(2025, 5, 15, 10, 30, 0, 0);
  // Two seconds alternating (an alert's start and end), a third one, and back.
  const times = [base, base + 240_000 + 7, base + 5, base + 240_000 + 999, base + 1000, base + 99, base + 12, -1, -1001, 0, 8.64e15, -8.64e15, 1.5, 253402300800000, -62198755200001];
  for (let i = 0; i < 3000; i++) times.push(base + Math.floor(Math.random() * 5000));
  for (const ms of times) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  t.throws(() => isoTime(Number.NaN), RangeError);
  t.throws(() => isoTime(8.64e15 + 1), RangeError);
});
