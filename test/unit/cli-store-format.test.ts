/** The ages `images` and `history` print, in docker's words (go-units HumanDuration + " ago"). */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { humanDuration, timeAgo } from '../../src/cli/commands/store-context.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

it('words durations as docker does', () => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [SECOND, '1 second'],
    [59 * SECOND, '59 seconds'],
    [MINUTE, 'About a minute'],
    [119 * SECOND, 'About a minute'],
    [2 * MINUTE, '2 minutes'],
    [59 * MINUTE, '59 minutes'],
    [60 * MINUTE, 'About an hour'],
    [89 * MINUTE, 'About an hour'],
    [91 * MINUTE, '2 hours'],
    [47 * HOUR, '47 hours'],
    [48 * HOUR, '2 days'],
    [13 * DAY, '13 days'],
    [14 * DAY, '2 weeks'],
    [59 * DAY, '8 weeks'],
    [60 * DAY, '2 months'],
    [729 * DAY, '24 months'],
    [730 * DAY, '2 years'],
    [56 * 365 * DAY + 100 * DAY, '56 years'],
  ];
  for (const [ms, words] of cases) assert.equal(humanDuration(ms), words, `${ms} ms`);
});

it('says how long ago an RFC 3339 time was, N/A without one', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  assert.equal(timeAgo('2026-12-06T10:00:00Z', now), '2 hours ago');
  assert.equal(timeAgo('2026-12-06T11:59:30.5Z', now), '29 seconds ago');
  assert.equal(timeAgo('1970-01-01T00:00:00Z', now), '56 years ago');
  assert.equal(timeAgo(undefined, now), 'N/A');
  assert.equal(timeAgo('yesterday', now), 'N/A');
});
