import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseSecretSpec, parseSshSpec } from '../../src/cli/secret-flags.js';

const usageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);

describe('--secret and --ssh specs (buildx)', () => {
  it('reads id/src and id/env forms', () => {
    assert.deepEqual(parseSecretSpec('id=npm,src=/home/u/.npmrc', () => false), { id: 'npm', source: { kind: 'file', path: '/home/u/.npmrc' } });
    assert.deepEqual(parseSecretSpec('id=tok,env=GH_TOKEN', () => false), { id: 'tok', source: { kind: 'env', name: 'GH_TOKEN' } });
    assert.deepEqual(parseSecretSpec('src=/a/b/key.pem', () => false), { id: 'key.pem', source: { kind: 'file', path: '/a/b/key.pem' } });
  });

  it('without a source takes the environment variable ID if set, else a file named ID (buildx)', () => {
    assert.deepEqual(parseSecretSpec('id=TOKEN', (n) => n === 'TOKEN'), { id: 'TOKEN', source: { kind: 'env', name: 'TOKEN' } });
    assert.deepEqual(parseSecretSpec('id=TOKEN', () => false), { id: 'TOKEN', source: { kind: 'file', path: 'TOKEN' } });
  });

  it('rejects unknown keys and a missing id', () => {
    assert.throws(() => parseSecretSpec('id=a,file=b', () => false), usageError(/unknown key "file"/));
    assert.throws(() => parseSecretSpec('type=file', () => false), usageError(/has no id/));
  });

  it('--secret is CSV: a quoted field keeps its comma; malformed quoting names --secret', () => {
    assert.deepEqual(parseSecretSpec('id=npm,"src=/home/u/a,b.npmrc"', () => false), { id: 'npm', source: { kind: 'file', path: '/home/u/a,b.npmrc' } });
    assert.deepEqual(parseSecretSpec('"id=a""b",env=TOKEN', () => false), { id: 'a"b', source: { kind: 'env', name: 'TOKEN' } });
    assert.deepEqual(parseSecretSpec('ID=x,Source=/f', () => false), { id: 'x', source: { kind: 'file', path: '/f' } });
    assert.throws(() => parseSecretSpec('id=npm,src="/a,b"', () => false), usageError(/^--secret .*a quote inside an unquoted field/));
    assert.throws(() => parseSecretSpec('id=npm,"src=/a', () => false), usageError(/^--secret .*not closed/));
    assert.throws(() => parseSecretSpec('id=npm,src=/a,b', () => false), usageError(/^--secret .*"b" is not key=value/));
  });

  it('parses --ssh as buildx (not CSV: ID=PATH[,PATH])', () => {
    assert.deepEqual(parseSshSpec('keys=/a.sock,/b.sock'), { id: 'keys', paths: ['/a.sock', '/b.sock'] });
    assert.deepEqual(parseSshSpec('default'), { id: 'default', paths: [] });
    assert.deepEqual(parseSshSpec('gh=/tmp/agent.sock'), { id: 'gh', paths: ['/tmp/agent.sock'] });
    assert.throws(() => parseSshSpec('=x'), usageError(/invalid --ssh/));
  });
});
