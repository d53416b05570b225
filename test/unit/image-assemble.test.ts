import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest, sha256Digest } from '../../src/core/index.js';
import { assembleImage } from '../../src/image/index.js';
import { parseImageConfig } from '../../src/oci/index.js';

const layer = { diffId: sha256Digest(Buffer.from('tar')), digest: sha256Digest(Buffer.from('blob')), size: 4, mediaType: 'application/vnd.oci.image.layer.v1.tar' };

describe('image assembly from an oci ImageConfig', () => {
  // A base image's config as a registry serves it: Docker's extra fields, nulls, non-empty port values.
  const base = parseImageConfig(Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    author: 'someone',
    container_config: { Hostname: 'builder' },
    docker_version: '20.10',
    config: {
      Hostname: 'abc',
      ExposedPorts: { '80/tcp': { extra: 1 }, '53/udp': {} },
      Volumes: { '/z': { x: true }, '/a': {} },
      Env: ['A=1'],
      Entrypoint: null,
      Labels: { z: '1', a: '2' },
      Healthcheck: { Test: ['CMD', 'true'], Interval: 5 },
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '2020-01-01T00:00:00Z', created_by: 'base', extra_field: 'x' }],
  })), { source: 'test' });

  it('writes only the fields Docker defines, in Go\'s order, sets as {} and maps sorted', () => {
    const assembled = assembleImage({
      architecture: base.architecture,
      os: base.os,
      variant: base.variant,
      author: base.author,
      config: base.config ?? {},
      history: base.history ?? [],
      layers: [layer],
      created: '1970-01-01T00:01:40Z',
    });
    assert.equal(assembled.config.toString('utf8'), JSON.stringify({
      created: '1970-01-01T00:01:40Z',
      author: 'someone',
      architecture: 'amd64',
      os: 'linux',
      config: {
        ExposedPorts: { '53/udp': {}, '80/tcp': {} },
        Env: ['A=1'],
        Volumes: { '/a': {}, '/z': {} },
        Labels: { a: '2', z: '1' },
        Healthcheck: { Test: ['CMD', 'true'], Interval: 5 },
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2020-01-01T00:00:00Z', created_by: 'base' }],
    }));
    assert.equal(assembled.configDigest, parseDigest(sha256Digest(assembled.config)));
  });
});
