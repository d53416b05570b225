import assert from 'node:assert/strict';
import { it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseCacheSpec } from '../../src/cache/index.js';

it('parses --cache-to/--cache-from specs like buildx', () => {
  assert.deepEqual(parseCacheSpec('type=registry,ref=localhost:5000/app:cache,mode=max', 'to'), { location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'max' });
  assert.deepEqual(parseCacheSpec('user/app:cache', 'from'), { location: { type: 'registry', ref: 'user/app:cache' }, mode: 'min' });
  assert.deepEqual(parseCacheSpec('type=local,dest=/tmp/c', 'to'), { location: { type: 'local', dir: '/tmp/c' }, mode: 'min' });
  assert.deepEqual(parseCacheSpec('type=local,src=/tmp/c', 'from'), { location: { type: 'local', dir: '/tmp/c' }, mode: 'min' });
  const usage = (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE';
  assert.throws(() => parseCacheSpec('type=local,src=/x', 'to'), usage);
  assert.throws(() => parseCacheSpec('type=registry,ref=a,mode=all', 'to'), usage);
  assert.throws(() => parseCacheSpec('type=gha', 'from'), usage);
});

it('reads --cache-to/--cache-from as CSV like buildx; malformed quoting names the flag', () => {
  assert.deepEqual(parseCacheSpec('type=local,"dest=/tmp/a,b"', 'to'), { location: { type: 'local', dir: '/tmp/a,b' }, mode: 'min' });
  assert.deepEqual(parseCacheSpec('"type=local","src=/tmp/c,d",mode=max', 'from'), { location: { type: 'local', dir: '/tmp/c,d' }, mode: 'max' });
  assert.deepEqual(parseCacheSpec('TYPE=local,Dest=/tmp/e', 'to'), { location: { type: 'local', dir: '/tmp/e' }, mode: 'min' });
  const usage = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);
  assert.throws(() => parseCacheSpec('type=local,dest="/tmp/a,b"', 'to'), usage(/^--cache-to .*a quote inside an unquoted field/));
  assert.throws(() => parseCacheSpec('type=local,"src=/tmp/a', 'from'), usage(/^--cache-from .*not closed/));
  assert.throws(() => parseCacheSpec('type=local,dest=/tmp/a,b', 'to'), usage(/^--cache-to .*"b" is not key=value/));
});
