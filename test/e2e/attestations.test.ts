/**
 * Attestation storage end to end (BuildKit docs/attestations/attestation-storage.md): the store's
 * names, `-o type=oci`, `--push` to a real docker-registry read back with skopeo, `-o type=local`
 * files, `inspect --format`, and `--provenance=false` keeping a bare image manifest.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
  artifactType?: string;
  data?: string;
}
interface Index { mediaType: string; manifests: Descriptor[] }
interface Manifest { mediaType: string; artifactType?: string; config: Descriptor; layers: Descriptor[]; subject?: Descriptor }
interface Statement { _type: string; subject: { name: string; digest: { sha256: string } }[]; predicateType: string; predicate: Record<string, unknown> }

const sha = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Checks an index and its attestation manifest against the storage document; returns the statements. */
function checkIndex(index: Index, read: (digest: string) => Buffer): { image: Descriptor; statements: Statement[] } {
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.equal(index.manifests.length, 2);
  const [image, attestation] = index.manifests as [Descriptor, Descriptor];
  assert.equal(image.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.notEqual(image.platform?.os, 'unknown');
  assert.deepEqual(attestation.platform, { architecture: 'unknown', os: 'unknown' });
  assert.deepEqual(attestation.annotations, { 'vnd.docker.reference.digest': image.digest, 'vnd.docker.reference.type': 'attestation-manifest' });
  const manifestBytes = read(attestation.digest);
  assert.equal(sha(manifestBytes), attestation.digest);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  assert.equal(manifest.artifactType, 'application/vnd.docker.attestation.manifest.v1+json');
  assert.deepEqual(manifest.config, { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha('{}'), size: 2, data: 'e30=' });
  assert.deepEqual(manifest.subject, { mediaType: image.mediaType, digest: image.digest, size: image.size });
  const statements = manifest.layers.map((layer) => {
    assert.equal(layer.mediaType, 'application/vnd.in-toto+json');
    const bytes = read(layer.digest);
    assert.equal(sha(bytes), layer.digest);
    const statement = JSON.parse(bytes.toString('utf8')) as Statement;
    assert.equal(layer.annotations?.['in-toto.io/predicate-type'], statement.predicateType);
    assert.equal(statement._type, 'https://in-toto.io/Statement/v1');
    for (const subject of statement.subject) assert.equal(`sha256:${subject.digest.sha256}`, image.digest);
    return statement;
  });
  return { image, statements };
}

describe('attestations (store, oci, registry, local, inspect)', () => {
  let env: BuildEnv;
  let dir: string;
  let root: string;
  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
    dir = join(env.work, 'attest');
    mkdirSync(dir, { recursive: true });
    // A dpkg status for the SBOM to find; a build stage scanned with BUILDKIT_SBOM_SCAN_STAGE.
    writeFileSync(join(dir, 'status'), 'Package: hello\nStatus: install ok installed\nVersion: 2.10-3\nArchitecture: amd64\n\n');
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS build`,
      'ARG BUILDKIT_SBOM_SCAN_STAGE=true',
      'RUN mkdir -p /out && echo built > /out/artifact',
      `FROM ${env.busybox}`,
      'COPY status /var/lib/dpkg/status',
      'COPY --from=build /out/artifact /artifact',
      '',
    ].join('\n'));
  });
  after(async () => {
    await env.close();
  });

  it('--sbom --provenance=mode=max: the name points at an index with the image and its attestation manifest', () => {
    const oci = join(env.work, 'image.oci.tar');
    const run = env.build(['--sbom=true', '--provenance=mode=max', '-t', 'attest:1', '-o', `type=oci,dest=${oci}`, dir], { root });
    assert.equal(run.status, 0, run.stderr);
    // The store's layout index.json lists the index for the name.
    const layout = JSON.parse(readFileSync(join(root, 'content', 'index.json'), 'utf8')) as Index;
    const entry = layout.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/library/attest:1');
    assert.equal(entry?.mediaType, 'application/vnd.oci.image.index.v1+json');
    const blob = (digest: string): Buffer => readFileSync(join(root, 'content', 'blobs', 'sha256', digest.slice(7)));
    const { image, statements } = checkIndex(JSON.parse(blob(entry.digest).toString('utf8')) as Index, blob);
    assert.deepEqual(statements.map((s) => s.predicateType), ['https://spdx.dev/Document', 'https://spdx.dev/Document', 'https://slsa.dev/provenance/v1']);
    assert.equal(statements[0]?.subject[0]?.name, 'pkg:docker/attest@1?platform=linux%2Famd64');
    const spdx = statements[0]?.predicate as { packages?: { name: string; versionInfo?: string }[]; name?: string };
    assert.ok(spdx.packages?.some((p) => p.name === 'hello' && p.versionInfo === '2.10-3'), JSON.stringify(spdx).slice(0, 400));
    // Each package names the file it was found from and the layer that wrote it (the COPY's, the image's second).
    const files = (statements[0]?.predicate as { files?: { fileName: string; comment?: string }[] }).files ?? [];
    const manifest = JSON.parse(blob(image.digest).toString('utf8')) as Manifest;
    const config = JSON.parse(blob(manifest.config.digest).toString('utf8')) as { rootfs: { diff_ids: string[] } };
    assert.equal(files.find((f) => f.fileName === '/var/lib/dpkg/status')?.comment, `layerID: ${config.rootfs.diff_ids[1]}`, JSON.stringify(files));
    assert.equal((statements[1]?.predicate as { name?: string }).name, 'sbom-build', 'the scanned build stage has its own document');
    // inspect: the manifest digest stays the image manifest; the index is named too.
    const inspected = runCli(['--root', root, 'inspect', '--json', 'attest:1']);
    assert.equal(inspected.status, 0, inspected.stderr);
    const info = JSON.parse(inspected.stdout) as { digest: string; indexDigest: string };
    assert.equal(info.digest, image.digest);
    assert.equal(info.indexDigest, entry.digest);
    const byIndex = runCli(['--root', root, 'inspect', '--json', entry.digest]);
    assert.equal((JSON.parse(byIndex.stdout) as { digest: string }).digest, image.digest, 'the index digest finds the image');
    // A later build FROM the local image reads it through the index's manifest.
    const child = join(env.work, 'child');
    mkdirSync(child, { recursive: true });
    writeFileSync(join(child, 'Dockerfile'), 'FROM attest:1\nRUN cat /artifact > /copied\n');
    const from = env.build(['--provenance=false', child], { root });
    assert.equal(from.status, 0, from.stderr);

    // -o type=oci: index.json → the index, every blob present.
    const ociDir = join(env.work, 'oci-unpacked');
    mkdirSync(ociDir, { recursive: true });
    execFileSync('tar', ['-xf', oci, '-C', ociDir]);
    const ociIndex = JSON.parse(readFileSync(join(ociDir, 'index.json'), 'utf8')) as Index;
    assert.equal(ociIndex.manifests[0]?.mediaType, 'application/vnd.oci.image.index.v1+json');
    const ociBlob = (digest: string): Buffer => readFileSync(join(ociDir, 'blobs', 'sha256', digest.slice(7)));
    const fromOci = checkIndex(JSON.parse(ociBlob(ociIndex.manifests[0]?.digest ?? '').toString('utf8')) as Index, ociBlob);
    assert.equal(fromOci.statements.length, 3);
    // skopeo reads the archive: the index, and the image in it for this platform.
    const viaSkopeo = JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${oci}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    assert.equal(viaSkopeo.Digest, ociIndex.manifests[0]?.digest);
    assert.equal(viaSkopeo.Layers.length, (JSON.parse(ociBlob(fromOci.image.digest).toString('utf8')) as Manifest).layers.length);
  });

  it('inspect --format shows the SBOM and provenance from the store', () => {
    const sbom = runCli(['--root', root, 'inspect', '--format', '{{json .SBOM}}', 'attest:1']);
    assert.equal(sbom.status, 0, sbom.stderr);
    const parsed = JSON.parse(sbom.stdout) as { SPDX: { spdxVersion: string }; AdditionalSPDXs: unknown[] };
    assert.equal(parsed.SPDX.spdxVersion, 'SPDX-2.3');
    assert.equal(parsed.AdditionalSPDXs.length, 1);
    const prov = runCli(['--root', root, 'inspect', '--format', '{{ json .Provenance }}', 'attest:1']);
    assert.equal(prov.status, 0, prov.stderr);
    assert.ok((JSON.parse(prov.stdout) as { SLSA: Record<string, unknown> }).SLSA.buildDefinition !== undefined);
    const bad = runCli(['--root', root, 'inspect', '--format', '{{.Name}}', 'attest:1']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /\{\{json \.SBOM\}\}/);
  });

  it('--push: the registry holds the index, the attestation manifest and the statements (skopeo reads them back)', () => {
    const name = `${env.registry.host}/attest:pushed`;
    const run = env.build(['--sbom=true', '--push', '-t', name, dir], { root });
    assert.equal(run.status, 0, run.stderr);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as Index;
    const copy = join(env.work, 'pulled-oci');
    execFileSync('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${name}`, `oci:${copy}:x`], { stdio: 'pipe' });
    const read = (digest: string): Buffer => readFileSync(join(copy, 'blobs', 'sha256', digest.slice(7)));
    const { statements } = checkIndex(raw, read);
    assert.deepEqual(statements.map((s) => s.predicateType), ['https://spdx.dev/Document', 'https://spdx.dev/Document', 'https://slsa.dev/provenance/v1']);
    assert.equal(statements[0]?.subject[0]?.name, `pkg:docker/${env.registry.host}/attest@pushed?platform=linux%2Famd64`);
    // inspect --format from the registry (a fresh store has no such name).
    const fresh = join(env.work, 'fresh-root');
    const remote = runCli(['--root', fresh, 'inspect', '--format', '{{json .Provenance}}', name]);
    assert.equal(remote.status, 0, remote.stderr);
    assert.equal((JSON.parse(remote.stdout) as { SLSA: { runDetails?: unknown } }).SLSA.runDetails !== undefined, true);
  });

  it('-o type=local: sbom.spdx.json, sbom-build.spdx.json and provenance.json statements about the exported files', () => {
    const out = join(env.work, 'local-out');
    const run = env.build(['--sbom=true', '--provenance=mode=min', '-o', `type=local,dest=${out}`, dir], { root });
    assert.equal(run.status, 0, run.stderr);
    const names = readdirSync(out);
    for (const file of ['sbom.spdx.json', 'sbom-build.spdx.json', 'provenance.json']) assert.ok(names.includes(file), names.join(' '));
    assert.equal(statSync(join(out, 'provenance.json')).mode & 0o777, 0o600);
    const statement = JSON.parse(readFileSync(join(out, 'sbom.spdx.json'), 'utf8')) as Statement;
    assert.equal(statement.predicateType, 'https://spdx.dev/Document');
    const artifact = statement.subject.find((s) => s.name === 'artifact');
    assert.equal(`sha256:${artifact?.digest.sha256 ?? ''}`, sha('built\n'));
    // The default provenance is inline-only: a plain local build writes no file.
    const plain = join(env.work, 'local-plain');
    assert.equal(env.build(['-o', `type=local,dest=${plain}`, dir], { root }).status, 0);
    assert.ok(!readdirSync(plain).includes('provenance.json'));
  });

  it('--provenance=false keeps a bare image manifest; the default build gets an index with min provenance', () => {
    const epoch = ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'];
    const bare = env.build([...epoch, '--provenance=false', '-t', 'attest:bare', dir], { root });
    assert.equal(bare.status, 0, bare.stderr);
    const layout = JSON.parse(readFileSync(join(root, 'content', 'index.json'), 'utf8')) as Index;
    const entry = layout.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'docker.io/library/attest:bare');
    assert.equal(entry?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const info = JSON.parse(runCli(['--root', root, 'inspect', '--json', 'attest:bare']).stdout) as { digest: string; indexDigest?: string };
    assert.equal(info.digest, entry.digest);
    assert.equal(info.indexDigest, undefined);
    const none = runCli(['--root', root, 'inspect', '--format', '{{json .Provenance}}', 'attest:bare']);
    assert.equal(none.stdout.trim(), '{}');

    const byDefault = env.build([...epoch, '-t', 'attest:default', dir], { root });
    assert.equal(byDefault.status, 0, byDefault.stderr);
    const info2 = JSON.parse(runCli(['--root', root, 'inspect', '--json', 'attest:default']).stdout) as { digest: string; indexDigest?: string };
    assert.equal(info2.digest, info.digest, 'the image manifest is the same with or without attestations');
    assert.notEqual(info2.indexDigest, undefined);
    const prov = JSON.parse(runCli(['--root', root, 'inspect', '--format', '{{json .Provenance}}', 'attest:default']).stdout) as { SLSA?: unknown };
    assert.ok(prov.SLSA !== undefined);
    const sbom = runCli(['--root', root, 'inspect', '--format', '{{json .SBOM}}', 'attest:default']);
    assert.equal(sbom.stdout.trim(), '{}', 'no SBOM by default');
  });

  it('an unknown --attest type or key fails before the build, listing the choices', () => {
    const type = env.build(['--attest', 'type=vex', dir], { root });
    assert.equal(type.status, 2);
    assert.match(type.stderr, /unknown attestation type "vex"[\s\S]*sbom, provenance/);
    const key = env.build(['--attest', 'type=provenance,colour=red', dir], { root });
    assert.equal(key.status, 2);
    assert.match(key.stderr, /unknown key "colour"[\s\S]*mode, builder-id/);
    assert.ok(!key.events.some((e) => e.type === 'build.started'), 'nothing started');
  });
});
