import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStagecraftError, sha256Digest } from '../../src/core/index.js';
import { MAX_IMAGE_CONFIG_BYTES, MEDIA_TYPES, layerCompression, manifestDescriptor, parseImageConfig, parseManifest } from '../../src/oci/index.js';

const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const d = (name: string, mediaType: string = MEDIA_TYPES.ociLayerGzip) => ({ mediaType, digest: sha256Digest(name), size: 10 });

function expectCode(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStagecraftError(e), String(e));
    assert.equal(e.code, code);
    if (pattern !== undefined) assert.match(`${e.message} ${e.hint ?? ''}`, pattern);
    return true;
  });
}

const ociManifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: d('c', MEDIA_TYPES.ociConfig), layers: [d('l1'), d('l2')], annotations: { a: 'b' } };

describe('parseManifest', () => {
  it('OCI manifest with digest of the exact bytes', () => {
    const bytes = enc(ociManifest);
    const parsed = parseManifest(bytes);
    assert.equal(parsed.kind, 'manifest');
    assert.equal(parsed.mediaType, MEDIA_TYPES.ociManifest);
    assert.equal(parsed.digest, sha256Digest(bytes));
    assert.equal(parsed.size, bytes.byteLength);
    if (parsed.kind !== 'manifest') return;
    assert.equal(parsed.manifest.layers.length, 2);
    assert.deepEqual(manifestDescriptor(parsed), { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(bytes), size: bytes.byteLength });
  });

  it('OCI manifest and index without mediaType, told apart by shape or header', () => {
    const { mediaType: _m, ...bare } = ociManifest;
    assert.equal(parseManifest(enc(bare)).mediaType, MEDIA_TYPES.ociManifest);
    const index = { schemaVersion: 2, manifests: [{ ...d('m', MEDIA_TYPES.ociManifest), platform: { os: 'linux', architecture: 'amd64' } }] };
    const parsed = parseManifest(enc(index));
    assert.equal(parsed.kind, 'index');
    assert.equal(parsed.mediaType, MEDIA_TYPES.ociIndex);
    assert.equal(parseManifest(enc(index), `${MEDIA_TYPES.ociIndex}; charset=utf-8`).kind, 'index');
  });

  it('Docker schema 2 manifest and manifest list', () => {
    const manifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifest, config: d('c', MEDIA_TYPES.dockerConfig), layers: [d('l', MEDIA_TYPES.dockerLayerGzip)] };
    const parsed = parseManifest(enc(manifest), MEDIA_TYPES.dockerManifest);
    assert.equal(parsed.kind, 'manifest');
    assert.equal(parsed.mediaType, MEDIA_TYPES.dockerManifest);
    const list = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifestList, manifests: [{ ...d('m', MEDIA_TYPES.dockerManifest), platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }] };
    const parsedList = parseManifest(enc(list));
    assert.equal(parsedList.kind, 'index');
    if (parsedList.kind === 'index') assert.equal(parsedList.index.manifests[0]?.platform?.variant, 'v7');
    // A manifest list entry must name its platform.
    expectCode(() => parseManifest(enc({ ...list, manifests: [d('m', MEDIA_TYPES.dockerManifest)] })), 'INVALID_MANIFEST', /manifests\[0\]\.platform/);
  });

  it('Docker schema 1 is UNSUPPORTED_MEDIA_TYPE with a hint', () => {
    const schema1 = { schemaVersion: 1, name: 'x', tag: 'latest', fsLayers: [{ blobSum: sha256Digest('l') }], history: [] };
    expectCode(() => parseManifest(enc(schema1)), 'UNSUPPORTED_MEDIA_TYPE', /schema 1.*skopeo copy --format v2s2/s);
    expectCode(() => parseManifest(enc({ schemaVersion: 2 }), MEDIA_TYPES.dockerSchema1SignedManifest), 'UNSUPPORTED_MEDIA_TYPE', /schema 1/);
  });

  it('unknown media types are UNSUPPORTED_MEDIA_TYPE naming what is supported', () => {
    expectCode(() => parseManifest(enc({ schemaVersion: 2, mediaType: 'application/vnd.example+json' })), 'UNSUPPORTED_MEDIA_TYPE', /vnd\.example.*vnd\.oci\.image\.index/s);
    expectCode(() => parseManifest(enc({ schemaVersion: 2 }), 'application/octet-stream'), 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('invalid documents are INVALID_MANIFEST with the path of the problem', () => {
    expectCode(() => parseManifest(enc('{not json')), 'INVALID_MANIFEST', /not valid JSON/);
    expectCode(() => parseManifest(enc('[]')), 'INVALID_MANIFEST', /not a JSON object/);
    expectCode(() => parseManifest(new Uint8Array([0xff, 0xfe])), 'INVALID_MANIFEST', /UTF-8/);
    expectCode(() => parseManifest(enc({ ...ociManifest, layers: [{ ...d('x'), digest: 'sha256:abc' }] }), undefined, { source: 'registry r/x' }), 'INVALID_MANIFEST', /layers\[0\]\.digest.*|registry r\/x/);
    expectCode(() => parseManifest(enc({ ...ociManifest, schemaVersion: 3 })), 'INVALID_MANIFEST', /schemaVersion/);
    expectCode(() => parseManifest(enc({ ...ociManifest, config: { ...d('c'), size: -1 } })), 'INVALID_MANIFEST', /config\.size/);
  });

  it('a body media type that contradicts the Content-Type is refused', () => {
    expectCode(() => parseManifest(enc(ociManifest), MEDIA_TYPES.dockerManifest), 'INVALID_MANIFEST', /served as/);
    // A generic Content-Type is not a contradiction.
    assert.equal(parseManifest(enc(ociManifest), 'application/json').kind, 'manifest');
  });

  describe('ambiguous documents are refused (image-spec mediaType rules, containerd validateManifest)', () => {
    const { mediaType: _m, ...bareManifest } = ociManifest;
    const entries = [{ ...d('m', MEDIA_TYPES.ociManifest), platform: { os: 'linux', architecture: 'amd64' } }];
    const bareIndex = { schemaVersion: 2, manifests: entries };
    const both = { ...bareManifest, manifests: entries };

    it('served as an index, the body an image manifest (no mediaType), or the reverse', () => {
      expectCode(() => parseManifest(enc(bareManifest), MEDIA_TYPES.ociIndex, { source: 'r.io/a/b:1' }), 'INVALID_MANIFEST', /r\.io\/a\/b:1 is ambiguous: it is an index .* has "config" and "layers", fields of an image manifest/);
      expectCode(() => parseManifest(enc(bareIndex), MEDIA_TYPES.ociManifest, { source: 'r.io/a/b:1' }), 'INVALID_MANIFEST', /r\.io\/a\/b:1 is ambiguous: it is an image manifest .* has "manifests", a field of an index/);
      expectCode(() => parseManifest(enc(bareIndex), MEDIA_TYPES.dockerManifest), 'INVALID_MANIFEST', /ambiguous/);
      expectCode(() => parseManifest(enc({ ...bareManifest, mediaType: MEDIA_TYPES.dockerManifest }), MEDIA_TYPES.dockerManifestList), 'INVALID_MANIFEST', /served as/);
    });

    it('a document with the fields of both, whatever it is served or labelled as', () => {
      for (const header of [undefined, 'application/json', MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.dockerManifest]) {
        expectCode(() => parseManifest(enc(both), header), 'INVALID_MANIFEST', /ambiguous/);
        expectCode(() => parseManifest(enc({ ...both, mediaType: MEDIA_TYPES.ociIndex }), header === MEDIA_TYPES.ociIndex ? header : undefined), 'INVALID_MANIFEST', /ambiguous.*"config" and "layers"/);
        expectCode(() => parseManifest(enc({ ...both, mediaType: MEDIA_TYPES.ociManifest }), header === MEDIA_TYPES.ociManifest ? header : undefined), 'INVALID_MANIFEST', /ambiguous.*"manifests"/);
      }
      // Present but null still counts (a null `manifests` is not "absent" to every reader).
      expectCode(() => parseManifest(enc({ ...bareManifest, manifests: null })), 'INVALID_MANIFEST', /ambiguous/);
      expectCode(() => parseManifest(enc({ ...bareIndex, layers: [] })), 'INVALID_MANIFEST', /ambiguous.*"layers"/);
    });

    it('the descriptor that points to a document must name its kind', () => {
      expectCode(() => parseManifest(enc(ociManifest), undefined, { descriptorMediaType: MEDIA_TYPES.ociIndex, source: 'r.io/a@sha256:x' }), 'INVALID_MANIFEST', /is an image manifest .* the descriptor that points to it says application\/vnd\.oci\.image\.index\.v1\+json/);
      expectCode(() => parseManifest(enc(bareIndex), undefined, { descriptorMediaType: MEDIA_TYPES.dockerManifest }), 'INVALID_MANIFEST', /is an index/);
      // Same kind, other format (a Docker list naming OCI manifests): allowed, as containerd does.
      assert.equal(parseManifest(enc(ociManifest), undefined, { descriptorMediaType: MEDIA_TYPES.dockerManifest }).kind, 'manifest');
      assert.equal(parseManifest(enc(bareIndex), undefined, { descriptorMediaType: `${MEDIA_TYPES.ociIndex}; charset=utf-8` }).kind, 'index');
    });
  });

  it('a manifest whose image config is declared past the limit is refused before the config is fetched', () => {
    const huge = { ...ociManifest, config: { ...d('c', MEDIA_TYPES.ociConfig), size: MAX_IMAGE_CONFIG_BYTES + 1 } };
    expectCode(() => parseManifest(enc(huge), undefined, { source: 'r.io/a:1' }), 'INVALID_MANIFEST', /r\.io\/a:1 declares an image config of \d+ bytes, more than the limit/);
    expectCode(() => parseManifest(enc({ ...huge, mediaType: MEDIA_TYPES.dockerManifest, config: { ...huge.config, mediaType: MEDIA_TYPES.dockerConfig } })), 'INVALID_MANIFEST', /limit/);
    // Other artifacts' configs (a build cache's) are not image configs.
    assert.equal(parseManifest(enc({ ...huge, config: { ...huge.config, mediaType: 'application/vnd.example.cache+json' } })).kind, 'manifest');
    expectCode(() => parseImageConfig(new Uint8Array(MAX_IMAGE_CONFIG_BYTES + 1)), 'INVALID_MANIFEST', /more than the limit/);
  });
});

describe('parseImageConfig', () => {
  const config = {
    architecture: 'arm64',
    os: 'linux',
    variant: 'v8',
    created: '2024-01-01T00:00:00Z',
    config: {
      User: '1000:1000',
      Env: ['PATH=/bin'],
      Entrypoint: null,
      Cmd: ['sh'],
      WorkingDir: '/app',
      Labels: { a: 'b' },
      ExposedPorts: { '80/tcp': {} },
      Volumes: { '/data': {} },
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Retries: 3 },
      OnBuild: null,
      Shell: ['/bin/sh', '-c'],
      ArgsEscaped: true,
      Hostname: 'kept',
    },
    rootfs: { type: 'layers', diff_ids: [sha256Digest('a')] },
    history: [{ created_by: 'x', empty_layer: true }],
    docker_version: '24.0',
  };
  it('reads every config field, null as absent, unknown fields kept', () => {
    const parsed = parseImageConfig(enc(config));
    assert.equal(parsed.config?.Entrypoint, undefined);
    assert.equal(parsed.config?.OnBuild, undefined);
    assert.deepEqual(parsed.config?.Cmd, ['sh']);
    assert.equal(parsed.config?.Healthcheck?.Interval, 30_000_000_000);
    assert.equal(parsed.config?.['Hostname'], 'kept');
    assert.equal(parsed['docker_version'], '24.0');
    assert.deepEqual(parsed.rootfs.diff_ids, [sha256Digest('a')]);
    assert.equal(parsed.history?.[0]?.empty_layer, true);
  });
  it('refuses documents nested deeper than any real one (they would overflow the stack when serialized again)', () => {
    const deep = (levels: number): string => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
    const text = (levels: number): string => `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":${deep(levels)}}`;
    expectCode(() => parseImageConfig(new TextEncoder().encode(text(1_000_000)), { source: 'r.io/a:1' }), 'INVALID_MANIFEST', /image config from r\.io\/a:1 is nested more than 64 levels deep/);
    expectCode(() => parseManifest(new TextEncoder().encode(`{"schemaVersion":2,"x":${deep(100)}}`)), 'INVALID_MANIFEST', /nested more than 64 levels/);
    const kept = parseImageConfig(new TextEncoder().encode(text(40)));
    assert.ok(JSON.stringify(kept).length > 0, 'a plausibly nested unknown field is kept');
  });

  it('rejects a config without rootfs or with a bad diff id', () => {
    const { rootfs: _r, ...noRootfs } = config;
    expectCode(() => parseImageConfig(enc(noRootfs)), 'INVALID_MANIFEST', /rootfs/);
    expectCode(() => parseImageConfig(enc({ ...config, rootfs: { type: 'layers', diff_ids: ['md5:x'] } })), 'INVALID_MANIFEST', /rootfs\.diff_ids\[0\]/);
    expectCode(() => parseImageConfig(enc({ ...config, config: { Env: 'PATH=/bin' } })), 'INVALID_MANIFEST', /config\.Env/);
  });
});

it('layerCompression', () => {
  assert.equal(layerCompression(MEDIA_TYPES.ociLayerGzip), 'gzip');
  assert.equal(layerCompression(MEDIA_TYPES.dockerLayerGzip), 'gzip');
  assert.equal(layerCompression(MEDIA_TYPES.ociLayerZstd), 'zstd');
  assert.equal(layerCompression(MEDIA_TYPES.ociLayer), 'none');
  assert.equal(layerCompression(MEDIA_TYPES.ociConfig), undefined);
});
