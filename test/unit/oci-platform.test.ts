import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPlatform, hostPlatform, isStagecraftError, normalizePlatform, parsePlatform, platformEquals, sha256Digest } from '../../src/core/index.js';
import { MEDIA_TYPES, compatiblePlatforms, platformMatchRank, selectManifest, type Descriptor, type ImageIndex } from '../../src/oci/index.js';

describe('platform parsing and normalization', () => {
  const cases: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['Linux/AMD64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/aarch64', 'linux/arm64'],
    ['linux/aarch64/8', 'linux/arm64'],
    ['linux/arm64/v9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['linux/riscv64', 'linux/riscv64'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} → ${expected}`, () => assert.equal(formatPlatform(parsePlatform(input)), expected));
  }

  it('arm64 with and without v8 are the same platform', () => {
    assert.ok(platformEquals(parsePlatform('linux/arm64/v8'), normalizePlatform({ os: 'linux', architecture: 'arm64' })));
    assert.ok(!platformEquals(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7')));
  });

  it('rejects malformed platforms with a USAGE error and hint', () => {
    for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/am d64', '']) {
      assert.throws(() => parsePlatform(bad), (e: unknown) => isStagecraftError(e) && e.code === 'USAGE' && e.hint !== undefined);
    }
  });

  it('names the flag a platform came from, and refuses a list of platforms', () => {
    assert.throws(() => parsePlatform('linux', '--platform'), (e: unknown) =>
      isStagecraftError(e) && e.code === 'USAGE' && e.message === 'invalid --platform "linux"' && e.hint === 'platforms look like linux/amd64 or linux/arm64/v8');
    assert.throws(() => parsePlatform('linux/amd 64'), (e: unknown) => isStagecraftError(e) && e.message === 'invalid platform "linux/amd 64"');
    assert.throws(() => parsePlatform('linux/amd64,linux/arm64', '--platform'), (e: unknown) =>
      isStagecraftError(e) && e.code === 'USAGE' && e.message === '--platform linux/amd64,linux/arm64: one platform is expected here' && e.hint?.includes('only build') === true);
    assert.equal(formatPlatform(parsePlatform('linux/amd64/')), 'linux/amd64', 'an empty variant is no variant');
  });

  it('host platform from the Node arch passed in', () => {
    assert.equal(formatPlatform(hostPlatform('x64')), 'linux/amd64');
    assert.equal(formatPlatform(hostPlatform('arm64')), 'linux/arm64');
    assert.equal(formatPlatform(hostPlatform('arm', '6')), 'linux/arm/v6');
    assert.equal(formatPlatform(hostPlatform('arm')), 'linux/arm/v7');
  });
});

describe('platform matching', () => {
  it('orders compatible platforms best first', () => {
    assert.deepEqual(compatiblePlatforms(parsePlatform('linux/arm64')).map(formatPlatform), ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
    assert.deepEqual(compatiblePlatforms(parsePlatform('linux/amd64/v3')).map(formatPlatform), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']);
    assert.deepEqual(compatiblePlatforms(parsePlatform('linux/arm/v7')).map(formatPlatform), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  });
  it('ranks', () => {
    assert.equal(platformMatchRank(parsePlatform('linux/arm64'), parsePlatform('linux/arm64/v8')), 0);
    assert.equal(platformMatchRank(parsePlatform('linux/arm/v6'), parsePlatform('linux/arm/v7')), undefined);
    assert.equal(platformMatchRank(parsePlatform('linux/amd64'), parsePlatform('windows/amd64')), undefined);
    assert.equal(platformMatchRank(parsePlatform('linux/amd64'), parsePlatform('linux/amd64/v2')), undefined);
  });
});

function entry(name: string, platform?: { os: string; architecture: string; variant?: string }, annotations?: Record<string, string>): Descriptor {
  const d: Descriptor = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(name), size: 100 };
  if (platform !== undefined) d.platform = platform;
  if (annotations !== undefined) d.annotations = annotations;
  return d;
}

describe('selectManifest', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [
      entry('amd64', { os: 'linux', architecture: 'amd64' }),
      entry('arm-v6', { os: 'linux', architecture: 'arm', variant: 'v6' }),
      entry('arm-v7', { os: 'linux', architecture: 'arm', variant: 'v7' }),
      entry('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      entry('attestation', { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
    ],
  };
  it('picks the exact platform', () => {
    assert.equal(selectManifest(index, parsePlatform('linux/amd64')).digest, sha256Digest('amd64'));
    assert.equal(selectManifest(index, parsePlatform('linux/arm64')).digest, sha256Digest('arm64'));
    assert.equal(selectManifest(index, parsePlatform('linux/aarch64/v8')).digest, sha256Digest('arm64'));
    assert.equal(selectManifest(index, parsePlatform('linux/arm')).digest, sha256Digest('arm-v7'));
    assert.equal(selectManifest(index, parsePlatform('linux/arm/v6')).digest, sha256Digest('arm-v6'));
  });
  it('falls back to a compatible variant', () => {
    const only = { ...index, manifests: [index.manifests[1]!] };
    assert.equal(selectManifest(only, parsePlatform('linux/arm/v7')).digest, sha256Digest('arm-v6'));
  });
  it('uses an entry without platform only as a last resort', () => {
    const mixed: ImageIndex = { schemaVersion: 2, manifests: [entry('unknown'), entry('amd64', { os: 'linux', architecture: 'amd64' })] };
    assert.equal(selectManifest(mixed, parsePlatform('linux/amd64')).digest, sha256Digest('amd64'));
    assert.equal(selectManifest(mixed, parsePlatform('linux/s390x')).digest, sha256Digest('unknown'));
  });
  it('PLATFORM_MISMATCH lists what is available', () => {
    assert.throws(
      () => selectManifest(index, parsePlatform('linux/s390x'), { source: 'docker.io/library/x:1' }),
      (e: unknown) => {
        assert.ok(isStagecraftError(e));
        assert.equal(e.code, 'PLATFORM_MISMATCH');
        assert.match(e.message, /docker\.io\/library\/x:1.*linux\/s390x/);
        assert.match(e.hint ?? '', /linux\/amd64, linux\/arm\/v6, linux\/arm\/v7, linux\/arm64/);
        assert.doesNotMatch(e.hint ?? '', /unknown/);
        return true;
      },
    );
  });
});
