import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { assembleAttestedIndex, imagePurl, imageSubjects, makeStatement } from '../../src/attest/index.js';
import { parseDigest } from '../../src/core/index.js';

const sha = (text: string | Buffer): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const IMAGE = parseDigest(sha('image manifest'));

describe('in-toto statements and the attestation index (BuildKit attestation-storage.md)', () => {
  it('names subjects as BuildKit: pkg:docker/<familiar name>@<tag>?platform=<p>, one per name, the manifest digest', () => {
    assert.equal(imagePurl('docker.io/library/busybox:1.36', 'linux/amd64'), 'pkg:docker/busybox@1.36?platform=linux%2Famd64');
    assert.equal(imagePurl('localhost:5000/team/app:v1', 'linux/arm64/v8'), 'pkg:docker/localhost:5000/team/app@v1?platform=linux%2Farm64%2Fv8');
    assert.equal(imagePurl('docker.io/acme/web', 'linux/amd64'), 'pkg:docker/acme/web@latest?platform=linux%2Famd64');
    const hex = IMAGE.slice(7);
    assert.deepEqual(imageSubjects(['docker.io/library/a:1', 'docker.io/library/b:2'], 'linux/amd64', IMAGE), [
      { name: 'pkg:docker/a@1?platform=linux%2Famd64', digest: { sha256: hex } },
      { name: 'pkg:docker/b@2?platform=linux%2Famd64', digest: { sha256: hex } },
    ]);
    assert.deepEqual(imageSubjects([], 'linux/amd64', IMAGE), [{ name: '_', digest: { sha256: hex } }]);
    assert.deepEqual(makeStatement([], 'https://spdx.dev/Document', { a: 1 }), { _type: 'https://in-toto.io/Statement/v1', subject: [], predicateType: 'https://spdx.dev/Document', predicate: { a: 1 } });
  });

  it('OCI: index = image (platform) + attestation manifest (unknown/unknown, reference annotations); artifact manifest with empty config and subject', () => {
    const subject = imageSubjects(['docker.io/library/app:1'], 'linux/amd64', IMAGE);
    const statements = [makeStatement(subject, 'https://spdx.dev/Document', { spdxVersion: 'SPDX-2.3' }), makeStatement(subject, 'https://slsa.dev/provenance/v1', { buildDefinition: {} })];
    const out = assembleAttestedIndex({ image: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 1234 }, platform: { os: 'linux', architecture: 'amd64' }, statements, docker: false });
    const blob = (digest: string): Buffer => {
      const found = out.blobs.find((b) => b.digest === digest);
      assert.ok(found !== undefined, `blob ${digest}`);
      assert.equal(sha(found.bytes), digest, 'each blob hashes to its digest');
      return found.bytes;
    };
    const index = JSON.parse(blob(out.index.digest).toString('utf8')) as unknown;
    assert.deepEqual(index, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 1234, platform: { architecture: 'amd64', os: 'linux' } },
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: out.attestationManifest.digest,
          size: out.attestationManifest.size,
          annotations: { 'vnd.docker.reference.digest': IMAGE, 'vnd.docker.reference.type': 'attestation-manifest' },
          platform: { architecture: 'unknown', os: 'unknown' },
        },
      ],
    });
    assert.equal(out.index.mediaType, 'application/vnd.oci.image.index.v1+json');
    const manifest = JSON.parse(blob(out.attestationManifest.digest).toString('utf8')) as { layers: { digest: string; size: number }[] };
    assert.deepEqual(manifest, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.docker.attestation.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2, data: 'e30=' },
      layers: statements.map((s, i) => ({ mediaType: 'application/vnd.in-toto+json', digest: manifest.layers[i]?.digest, size: manifest.layers[i]?.size, annotations: { 'in-toto.io/predicate-type': s.predicateType } })),
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 1234 },
    });
    assert.deepEqual(manifest.layers.map((l) => JSON.parse(blob(l.digest).toString('utf8')) as unknown), statements, 'each layer is its statement');
    assert.equal(blob('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a').toString(), '{}');
    // Deterministic: the same statements give the same bytes.
    assert.equal(assembleAttestedIndex({ image: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: IMAGE, size: 1234 }, platform: { os: 'linux', architecture: 'amd64' }, statements, docker: false }).index.digest, out.index.digest);
  });

  it('Docker media types: a manifest list and a Docker manifest whose dummy config lists the statements (oci-artifact=false)', () => {
    const statements = [makeStatement(imageSubjects([], 'linux/arm64/v8', IMAGE), 'https://slsa.dev/provenance/v1', {})];
    const out = assembleAttestedIndex({ image: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: IMAGE, size: 99, annotations: { a: 'b' } }, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, statements, docker: true });
    const read = (digest: string): unknown => JSON.parse(out.blobs.find((b) => b.digest === digest)?.bytes.toString('utf8') ?? 'null');
    const index = read(out.index.digest) as { mediaType: string; manifests: { platform: unknown; annotations?: unknown; mediaType: string }[] };
    assert.equal(index.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.deepEqual(index.manifests[0]?.platform, { architecture: 'arm64', os: 'linux', variant: 'v8' });
    assert.deepEqual(index.manifests[0]?.annotations, { a: 'b' });
    assert.equal(index.manifests[1]?.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    const manifest = read(out.attestationManifest.digest) as { config: { mediaType: string; digest: string }; layers: { digest: string }[]; subject?: unknown; artifactType?: unknown };
    assert.equal(manifest.subject, undefined);
    assert.equal(manifest.artifactType, undefined);
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(read(manifest.config.digest), { architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: manifest.layers.map((l) => l.digest) } });
  });
});
