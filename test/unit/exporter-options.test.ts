import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseOutputSpec, parseSecretSpec, parseSshSpec } from '../../src/exporter/index.js';

const usageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);

describe('--output specs (buildx syntax)', () => {
  it('takes a bare path as a local export and - as a tar on stdout', () => {
    assert.deepEqual(parseOutputSpec('out'), { raw: 'out', type: 'local', dest: 'out' });
    assert.deepEqual(parseOutputSpec('-'), { raw: '-', type: 'tar', dest: '-' });
  });

  it('parses local, tar, oci, docker and image/registry outputs', () => {
    assert.equal(parseOutputSpec('type=local,dest=./x').type, 'local');
    const oci = parseOutputSpec('type=oci,dest=img.tar,name=app:1,compression=zstd,compression-level=3');
    assert.ok(oci.type === 'oci');
    assert.deepEqual([oci.dest, oci.names, oci.compression.compression, oci.compression.level, oci.ociMediaTypes], ['img.tar', ['app:1'], 'zstd', 3, true]);
    const docker = parseOutputSpec('type=docker,dest=img.tar');
    assert.ok(docker.type === 'docker' && !docker.ociMediaTypes);
    const registry = parseOutputSpec('type=registry,name=localhost:5000/app:1');
    assert.ok(registry.type === 'image' && registry.push);
    const image = parseOutputSpec('type=image,"name=a:1,b:2",push=true');
    assert.ok(image.type === 'image' && image.push);
    assert.deepEqual(image.type === 'image' ? image.names : [], ['a:1', 'b:2']);
  });

  it('rejects mistakes before any work with the flag named and a fix', () => {
    assert.throws(() => parseOutputSpec('type=zip,dest=x'), usageError(/unknown output type "zip"/));
    assert.throws(() => parseOutputSpec('type=local'), usageError(/needs dest=/));
    assert.throws(() => parseOutputSpec('type=local,dst=x'), usageError(/unknown option "dst" for output type local/));
    assert.throws(() => parseOutputSpec('type=oci,dest=a.tar,compression=lz4'), usageError(/unsupported compression "lz4"/));
    assert.throws(() => parseOutputSpec('type=oci,dest=a.tar,compression=gzip,compression-level=12'), usageError(/invalid compression-level "12"/));
    assert.throws(() => parseOutputSpec('type=oci,dest=a.tar,compression=gzip,compression-level=0'), usageError(/invalid compression-level "0"/));
    assert.throws(() => parseOutputSpec('type=image,push=true'), usageError(/needs name=/));
    assert.throws(() => parseOutputSpec('dest=x'), usageError(/has no type/));
  });
});

describe('--secret and --ssh specs', () => {
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

  it('parses --ssh', () => {
    assert.deepEqual(parseSshSpec('default'), { id: 'default', paths: [] });
    assert.deepEqual(parseSshSpec('gh=/tmp/agent.sock'), { id: 'gh', paths: ['/tmp/agent.sock'] });
    assert.throws(() => parseSshSpec('=x'), usageError(/invalid --ssh/));
  });
});
