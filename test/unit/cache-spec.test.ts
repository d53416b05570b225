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
