// Durations in config and flags: milliseconds or 90s / 30m / 12h / 7d / 1h30m.
import t from 'tap';
import { parseDuration } from '../../core/duration.js';

t.test('units and combinations read as milliseconds', async (t) => {
  t.equal(parseDuration('1500'), 1500);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('30m'), 1_800_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('7d'), 604_800_000);
  t.equal(parseDuration('250ms'), 250);
});

t.test('anything else is not a duration', async (t) => {
  for (const bad of ['', 'soon', '5x', '1h soon', '-5m', 'h']) t.equal(parseDuration(bad), undefined, JSON.stringify(bad));
});
