import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { parseOutputSpec } from '../../src/exporter/index.js';

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

  it('reads CSV quoting as buildx: a quoted field keeps its commas and doubled quotes', () => {
    assert.deepEqual(parseOutputSpec('type=local,"dest=/a,b"'), { raw: 'type=local,"dest=/a,b"', type: 'local', dest: '/a,b' });
    const tar = parseOutputSpec('"type=tar","dest=/out/""q"".tar"');
    assert.ok(tar.type === 'tar' && tar.dest === '/out/"q".tar');
    const oci = parseOutputSpec('type=oci,"dest=/x,y.tar","name=a:1,b:2"');
    assert.ok(oci.type === 'oci');
    assert.deepEqual([oci.dest, oci.names], ['/x,y.tar', ['a:1', 'b:2']]);
    // Unquoted, the comma ends the field: "b" is not key=value.
    assert.throws(() => parseOutputSpec('type=local,dest=/a,b'), usageError(/--output "type=local,dest=\/a,b": "b" is not key=value/));
  });

  it('refuses malformed quoting naming --output', () => {
    assert.throws(() => parseOutputSpec('type=local,dest="/a,b"'), usageError(/^--output .*a quote inside an unquoted field/));
    assert.throws(() => parseOutputSpec('type=local,"dest=/a'), usageError(/^--output .*quoted field is not closed/));
    assert.throws(() => parseOutputSpec('type=local,"dest"=/a'), usageError(/^--output .*text after the closing quote/));
    assert.throws(() => parseOutputSpec('out"dir'), usageError(/^--output .*a quote inside an unquoted field/));
  });
});
