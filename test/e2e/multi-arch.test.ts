/**
 * Multi-platform builds (issue 21, multi-arch): a base image index with linux/amd64 and linux/arm64
 * (Debian's arm64 busybox-static) in a real docker-registry; `--platform linux/amd64,linux/arm64`
 * runs the cross-compilation pattern (a `FROM --platform=$BUILDPLATFORM` stage, `ARG TARGETARCH`),
 * runs the arm64 stage's RUN through QEMU (binfmt_misc), pushes one index, and is checked with skopeo
 * and the files inside each platform's layers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RawJsonLine } from '../../src/events/index.js';
import { arm64BusyboxBinary, makeBusyboxRootfs, makeBusyboxRootfsOf, pushLayoutIndex, writeLayoutIndex } from '../helpers/base-image.js';
import { runCli } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

type Event = ReturnType<typeof RawJsonLine.parse>;

describe('multi-platform builds (QEMU, one index)', { timeout: 180_000 }, () => {
  let work: string;
  let registry: TestRegistry;
  let base: string;
  let context: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-multiarch-'));
    registry = await startRegistry();
    const amd64 = join(work, 'rootfs-amd64');
    const arm64 = join(work, 'rootfs-arm64');
    await makeBusyboxRootfs(amd64);
    await makeBusyboxRootfsOf(await arm64BusyboxBinary(), arm64);
    const index = await writeLayoutIndex([{ rootfs: amd64, architecture: 'amd64' }, { rootfs: arm64, architecture: 'arm64' }], join(work, 'base-layout'), ['sh']);
    base = `${registry.host}/busybox-multi:latest`;
    pushLayoutIndex(index, base);
    context = join(work, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), [
      `FROM --platform=$BUILDPLATFORM ${base} AS build`,
      'RUN uname -m > /build-arch && echo shared > /shared',
      `FROM --platform=$BUILDPLATFORM ${base} AS cross`,
      'ARG TARGETARCH',
      'ARG TARGETPLATFORM',
      'ARG BUILDPLATFORM',
      'RUN echo "$TARGETARCH $TARGETPLATFORM $BUILDPLATFORM $(uname -m)" > /cross',
      `FROM ${base}`,
      'ARG TARGETVARIANT',
      'COPY --from=build /build-arch /shared /',
      'COPY --from=cross /cross /',
      'RUN uname -m > /run-arch && echo "variant=$TARGETVARIANT" > /variant',
      '',
    ].join('\n'));
  });

  after(async () => {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  });

  const build = (args: readonly string[]): { status: number | null; stderr: string; stdout: string; events: Event[] } => {
    const run = runCli(['--root', join(work, 'root'), 'build', '--progress=rawjson', ...args]);
    const events = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l)));
    return { ...run, events };
  };
  const started = (events: readonly Event[], pattern: RegExp): number => events.filter((e) => e.type === 'vertex.started' && pattern.test(e.name)).length;
  const skopeo = (args: readonly string[]): string => execFileSync('skopeo', [...args], { encoding: 'utf8' });

  /** The files of one platform's image in the registry: its layers extracted in order. */
  function rootfsOf(ref: string, digest: string, name: string): string {
    const dir = join(work, `copy-${name}`);
    skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${ref}@${digest}`, `dir:${dir}`]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: { digest: string }[] };
    const root = join(work, `pushed-${name}`);
    mkdirSync(root);
    for (const layer of manifest.layers) execFileSync('tar', ['-xzf', join(dir, layer.digest.slice('sha256:'.length)), '-C', root]);
    return root;
  }

  it('builds linux/amd64 and linux/arm64, pushes one index; the $BUILDPLATFORM stage runs once and natively, the arm64 RUN through QEMU', () => {
    const ref = `${registry.host}/app:multi`;
    const run = build(['--platform', 'linux/amd64,linux/arm64', '--push', '-t', ref, context]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.events.filter((e) => e.type === 'build.started').length, 1, 'one build in the stream');
    assert.equal(run.events.filter((e) => e.type === 'build.completed').length, 1);
    // The shared stage resolves to the same steps for both platforms: it runs once, the second platform hits the cache.
    assert.equal(started(run.events, /RUN uname -m > \/build-arch/), 1, 'the shared $BUILDPLATFORM stage runs once');
    assert.ok(run.events.some((e) => e.type === 'vertex.cached' && /RUN uname -m > \/build-arch/.test(e.name)), 'and is a cache hit for the second platform');
    // TARGETARCH differs: the cross stage runs (natively) once per target; the final stage once per platform.
    assert.equal(started(run.events, /RUN echo .* > \/cross/), 2);
    assert.equal(started(run.events, /RUN uname -m > \/run-arch/), 2);

    const raw = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as { mediaType: string; manifests: { digest: string; platform?: { os: string; architecture: string; variant?: string }; annotations?: Record<string, string> }[] };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    const images = raw.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    assert.deepEqual(images.map((m) => `${m.platform?.os}/${m.platform?.architecture}`), ['linux/amd64', 'linux/arm64']);
    // Provenance (buildx's default mode=min) for each platform, referring to its image.
    const attestations = raw.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
    assert.deepEqual(attestations.map((a) => a.annotations?.['vnd.docker.reference.digest']), images.map((m) => m.digest));

    const arm = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${ref}`])) as { Architecture: string };
    assert.equal(arm.Architecture, 'arm64');
    const amd = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--override-arch', 'amd64', `docker://${ref}`])) as { Architecture: string };
    assert.equal(amd.Architecture, 'amd64');

    const armRoot = rootfsOf(`${registry.host}/app`, images[1]?.digest ?? '', 'arm64');
    assert.equal(readFileSync(join(armRoot, 'run-arch'), 'utf8'), 'aarch64\n', 'the arm64 RUN ran as aarch64 (QEMU)');
    assert.equal(readFileSync(join(armRoot, 'build-arch'), 'utf8'), 'x86_64\n', 'the build stage ran natively');
    assert.equal(readFileSync(join(armRoot, 'shared'), 'utf8'), 'shared\n');
    assert.equal(readFileSync(join(armRoot, 'cross'), 'utf8'), 'arm64 linux/arm64 linux/amd64 x86_64\n', 'TARGETARCH/TARGETPLATFORM for the target, compiled natively');
    assert.equal(readFileSync(join(armRoot, 'variant'), 'utf8'), 'variant=\n', 'linux/arm64 has no variant (v8 is the baseline)');
    const amdRoot = rootfsOf(`${registry.host}/app`, images[0]?.digest ?? '', 'amd64');
    assert.equal(readFileSync(join(amdRoot, 'run-arch'), 'utf8'), 'x86_64\n');
    assert.equal(readFileSync(join(amdRoot, 'cross'), 'utf8'), 'amd64 linux/amd64 linux/amd64 x86_64\n');
    // The arm64 image's base layer is the arm64 busybox: its ELF header says aarch64 (e_machine 0xb7).
    assert.equal(readFileSync(join(armRoot, 'bin/busybox')).readUInt16LE(18), 0xb7);
    assert.equal(readFileSync(join(amdRoot, 'bin/busybox')).readUInt16LE(18), 0x3e);
  });

  it('the repeated flag is the same list; the store name and -o type=oci hold the index; a second build runs nothing', () => {
    const oci = join(work, 'multi.tar');
    const run = build(['--platform', 'linux/amd64', '--platform', 'linux/aarch64', '--sbom=true', '-t', 'local/app:multi', '-o', `type=oci,dest=${oci}`, context]);
    assert.equal(run.status, 0, run.stderr);
    const done = run.events.find((e) => e.type === 'build.completed');
    assert.equal(done?.type === 'build.completed' ? done.executed : -1, 0, 'every step cached from the first test');
    const layout = join(work, 'oci-out');
    mkdirSync(layout);
    execFileSync('tar', ['-xf', oci, '-C', layout]);
    const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { mediaType: string; digest: string }[] };
    assert.equal(top.manifests[0]?.mediaType, 'application/vnd.oci.image.index.v1+json');
    const inner = JSON.parse(readFileSync(join(layout, 'blobs/sha256', (top.manifests[0]?.digest ?? '').slice(7)), 'utf8')) as { manifests: { platform?: { architecture: string } }[] };
    assert.deepEqual(inner.manifests.map((m) => m.platform?.architecture).filter((a) => a !== 'unknown'), ['amd64', 'arm64'], 'linux/aarch64 normalised to arm64');
    // Each platform has its own SBOM and provenance, in an attestation manifest that refers to its image.
    const blob = (digest: string): { layers: { annotations?: Record<string, string> }[] } => JSON.parse(readFileSync(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8')) as { layers: { annotations?: Record<string, string> }[] };
    const attested = (inner as unknown as { manifests: { digest: string; annotations?: Record<string, string> }[] }).manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
    assert.equal(attested.length, 2);
    for (const a of attested) {
      assert.deepEqual(blob(a.digest).layers.map((l) => l.annotations?.['in-toto.io/predicate-type']).sort(), ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);
    }
    // Every blob of both platforms is in the archive (skopeo reads the arm64 image from it).
    const arm = JSON.parse(skopeo(['inspect', '--override-arch', 'arm64', `oci-archive:${oci}`])) as { Architecture: string };
    assert.equal(arm.Architecture, 'arm64');
    // The store names the index.
    const storeIndex = JSON.parse(readFileSync(join(work, 'root', 'content', 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const named = storeIndex.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name']?.endsWith('local/app:multi') === true);
    assert.equal(named?.digest, top.manifests[0]?.digest);
    assert.ok(readdirSync(join(layout, 'blobs/sha256')).length > 6);
  });

  it('one foreign platform builds a plain arm64 manifest; outputs that hold one platform are refused before the build', () => {
    const single = build(['--platform', 'linux/arm64', '-o', `type=oci,dest=${join(work, 'arm.tar')}`, '--provenance=false', context]);
    assert.equal(single.status, 0, single.stderr);
    const arm = JSON.parse(skopeo(['inspect', `oci-archive:${join(work, 'arm.tar')}`])) as { Architecture: string };
    assert.equal(arm.Architecture, 'arm64');
    // A failing step of the second platform fails the one build, naming the step.
    const failing = join(work, 'failing');
    mkdirSync(failing);
    writeFileSync(join(failing, 'Dockerfile'), `FROM ${base}\nRUN test "$(uname -m)" = x86_64\n`);
    const failed = build(['--platform', 'linux/amd64,linux/arm64', failing]);
    assert.equal(failed.status, 1, failed.stderr);
    assert.equal(failed.events.filter((e) => e.type === 'build.started').length, 1);
    const end = failed.events.filter((e) => e.type === 'build.failed');
    assert.equal(end.length, 1);
    assert.equal(end[0]?.type === 'build.failed' ? end[0].code : '', 'BUILD_STEP_FAILED');
    assert.ok(end[0]?.type === 'build.failed' && end[0].vertex !== undefined, 'the failed step is named');
    for (const output of ['type=local,dest=x', 'type=docker,dest=x.tar']) {
      const refused = build(['--platform', 'linux/amd64,linux/arm64', '-o', output, context]);
      assert.equal(refused.status, 2, refused.stderr);
      assert.ok(!refused.events.some((e) => e.type === 'build.started'), 'nothing started');
    }
  });
});
