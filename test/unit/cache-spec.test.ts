import assert from 'node:assert/strict';
import { it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseCacheSpec } from '../../src/cache/index.js';

it('parses --cache-to/--cache-from specs like buildx', () => {
  assert.deepEqual(parseCacheSpec('type=registry,ref=localhost:5000/app:cache,mode=max', 'to'), { location: { type: 'registry', ref: 'localhost:5000/app:cache' }, mode: 'max', ignoreError: false });
  assert.deepEqual(parseCacheSpec('user/app:cache', 'from'), { location: { type: 'registry', ref: 'user/app:cache' }, mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('type=local,dest=/tmp/c', 'to'), { location: { type: 'local', dir: '/tmp/c' }, mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('type=local,src=/tmp/c', 'from'), { location: { type: 'local', dir: '/tmp/c' }, mode: 'min', ignoreError: false });
  const usage = (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE';
  assert.throws(() => parseCacheSpec('type=local,src=/x', 'to'), usage);
  assert.throws(() => parseCacheSpec('type=registry,ref=a,mode=all', 'to'), usage);
  assert.throws(() => parseCacheSpec('type=gha', 'from'), usage);
});

it('reads --cache-to/--cache-from as CSV like buildx; malformed quoting names the flag', () => {
  assert.deepEqual(parseCacheSpec('type=local,"dest=/tmp/a,b"', 'to'), { location: { type: 'local', dir: '/tmp/a,b' }, mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('"type=local","src=/tmp/c,d",mode=max', 'from'), { location: { type: 'local', dir: '/tmp/c,d' }, mode: 'max', ignoreError: false });
  assert.deepEqual(parseCacheSpec('TYPE=local,Dest=/tmp/e', 'to'), { location: { type: 'local', dir: '/tmp/e' }, mode: 'min', ignoreError: false });
  const usage = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);
  assert.throws(() => parseCacheSpec('type=local,dest="/tmp/a,b"', 'to'), usage(/^--cache-to .*a quote inside an unquoted field/));
  assert.throws(() => parseCacheSpec('type=local,"src=/tmp/a', 'from'), usage(/^--cache-from .*not closed/));
  assert.throws(() => parseCacheSpec('type=local,dest=/tmp/a,b', 'to'), usage(/^--cache-to .*"b" is not key=value/));
});

it('parses type=inline and ignore-error= as buildx (Go booleans)', () => {
  assert.deepEqual(parseCacheSpec('type=inline', 'to'), { location: { type: 'inline' }, mode: 'min', ignoreError: false });
  assert.deepEqual(parseCacheSpec('type=registry,ref=r.test/a:c,ignore-error=true', 'to'), { location: { type: 'registry', ref: 'r.test/a:c' }, mode: 'min', ignoreError: true });
  for (const [value, expected] of [['1', true], ['True', true], ['t', true], ['0', false], ['FALSE', false]] as const) {
    assert.equal(parseCacheSpec(`type=local,dest=/c,ignore-error=${value}`, 'to').ignoreError, expected);
  }
  const usage = (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE';
  assert.throws(() => parseCacheSpec('type=local,dest=/c,ignore-error=yes', 'to'), usage);
  // an inline cache is imported by naming its image
  assert.throws(() => parseCacheSpec('type=inline', 'from'), (e: unknown) => usage(e) && e instanceof StagecraftError && /--cache-from IMAGE/.test(e.hint ?? ''));
});
