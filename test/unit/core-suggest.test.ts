import assert from 'node:assert/strict';
import { it } from 'node:test';
import { closest, editDistance } from '../../src/core/index.js';

it('edit distance counts adjacent swaps as one edit', () => {
  assert.equal(editDistance('form', 'from'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
});

it('closest suggests only near candidates', () => {
  assert.equal(closest('biuld', ['build', 'test', 'final']), 'build');
  assert.equal(closest('zzzzzz', ['build', 'test']), undefined);
  assert.equal(closest('BUILD', ['build']), 'build');
});
