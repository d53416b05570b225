import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeOpChange, explainMiss } from '../../src/cache/index.js';

const exec = (env: string[], args = ['/bin/sh', '-c', 'make']): unknown => ({ type: 'exec', args, env, cwd: '/', user: '0', network: 'default', mounts: [], security: 'sandbox' });

describe('cache miss explanations', () => {
  it('names changed, added and removed build args or ENV values', () => {
    assert.deepEqual(describeOpChange(exec(['A=2', 'C=new']), exec(['A=1', 'B=x'])), [
      'build arg or ENV A changed from "1" to "2"',
      'build arg or ENV C was added (="new")',
      'build arg or ENV B was removed',
    ]);
    assert.deepEqual(describeOpChange(exec([], ['sh', '-c', 'a']), exec([], ['sh', '-c', 'b'])), ['the command changed']);
  });

  it('names changed, added and removed context files', () => {
    const now = { type: 'context', digest: 'x', files: [['a.txt', 'd1'], ['b.txt', 'd2new'], ['c.txt', 'd3']] };
    const then = { type: 'context', digest: 'y', files: [['a.txt', 'd1'], ['b.txt', 'd2'], ['gone.txt', 'd4']] };
    assert.deepEqual(describeOpChange(now, then), ['file b.txt changed', 'file c.txt was added', 'file gone.txt was removed']);
  });

  it('names a base image whose digest changed', () => {
    assert.deepEqual(describeOpChange({ type: 'image', ref: 'busybox', digest: 'sha256:new' }, { type: 'image', ref: 'busybox', digest: 'sha256:old' }), ['base image busybox now resolves to sha256:new (was sha256:old)']);
  });

  it('points at a changed source input or the earlier step that changed', () => {
    const reasons = explainMiss({ op: exec([]), inputs: ['k1', 'k2'] }, { key: 'old', preimage: { op: exec([]), inputs: ['k1', 'k2-old'] } }, [
      { name: 'base', key: 'k1' },
      { name: '[2/3] COPY a /a', key: 'k2' },
    ]);
    assert.deepEqual(reasons, ['the result of [2/3] COPY a /a changed']);
    const fromSource = explainMiss({ op: exec([]), inputs: ['c2'] }, { key: 'old', preimage: { op: exec([]), inputs: ['c1'] } }, [{ name: 'context', key: 'c2', ownChange: ['file a changed'] }]);
    assert.deepEqual(fromSource, ['file a changed']);
  });

  it('says when there is nothing to compare with', () => {
    assert.deepEqual(explainMiss({ op: {}, inputs: [] }, undefined, []), ['no earlier build of this step']);
  });
});
