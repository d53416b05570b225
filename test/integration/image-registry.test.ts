/** pull and push through the engine against real registries (open, and with htpasswd basic auth). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { isStagecraftError, parsePlatform } from '../../src/core/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const CREDS = { username: 'ci', password: 's3cret-pa55' };

function sha(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Adds a two-platform index (amd64 = the busybox manifest, arm64 = same layer, another config) to the layout, tagged `multi`. */
async function addIndex(image: LayoutImage): Promise<{ index: string; arm64: string }> {
  const blobs = join(image.layout, 'blobs/sha256');
  const manifestBytes = await readFile(join(blobs, image.manifestDigest.slice(7)));
  const config = z.looseObject({ architecture: z.string() }).parse(JSON.parse((await readFile(join(blobs, image.configDigest.slice(7)))).toString()));
  const armConfig = Buffer.from(JSON.stringify({ ...config, architecture: 'arm64' }));
  await writeFile(join(blobs, sha(armConfig).slice(7)), armConfig);
  const manifest = z.looseObject({ config: z.looseObject({}) }).parse(JSON.parse(manifestBytes.toString()));
  const armManifest = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: sha(armConfig), size: armConfig.length } }));
  await writeFile(join(blobs, sha(armManifest).slice(7)), armManifest);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifestBytes.length, platform: { os: 'linux', architecture: 'amd64' } },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(armManifest), size: armManifest.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  }));
  await writeFile(join(blobs, sha(index).slice(7)), index);
  const layoutIndex = z.object({ manifests: z.array(z.looseObject({})) }).parse(JSON.parse(await readFile(join(image.layout, 'index.json'), 'utf8')));
  layoutIndex.manifests.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(index), size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
  await writeFile(join(image.layout, 'index.json'), JSON.stringify({ schemaVersion: 2, ...layoutIndex }));
  return { index: sha(index), arm64: sha(armManifest) };
}

describe('engine: pull and push with real registries', () => {
  let work: string;
  let image: LayoutImage;
  let multi: { index: string; arm64: string };
  let source: TestRegistry;
  let secured: TestRegistry;
  let engine: Engine;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-engine-'));
    image = await makeBusyboxImage(work);
    multi = await addIndex(image);
    [source, secured] = await Promise.all([startRegistry(), startRegistry({ auth: CREDS })]);
    pushLayout(image, `${source.host}/library/busybox:1.36`);
    execFileSync('skopeo', ['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${image.layout}:multi`, `docker://${source.host}/multi:latest`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const dockerConfig = join(work, 'docker');
    await mkdir(dockerConfig);
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64') } } }));
    engine = createEngine(loadConfig({ env: { HOME: work, DOCKER_CONFIG: dockerConfig, STAGECRAFT_ROOT: join(work, 'root') } }), { platform: parsePlatform('linux/amd64') });
  });
  after(async () => {
    engine.close();
    await Promise.all([source.stop(), secured.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('pulls an image: blobs verified into the store, the name set, progress reported', { timeout: 60_000 }, async () => {
    const events = new RecordingSink();
    const result = await engine.pull(`${source.host}/library/busybox:1.36`, { events });
    assert.equal(result.name, `${source.host}/library/busybox:1.36`);
    assert.equal(result.digest, image.manifestDigest);
    assert.equal(result.platform, 'linux/amd64');
    assert.ok(result.downloadedBytes > 0);
    assert.ok(events.events.some((e) => e.type === 'transfer.started' && e.digest === image.layerDigest && e.kind === 'layer' && e.direction === 'pull'));
    assert.ok(events.events.some((e) => e.type === 'transfer.completed' && e.digest === image.layerDigest && e.outcome === 'done' && e.ref === `${source.host}/library/busybox`));
    const root = join(work, 'root/content/blobs/sha256');
    const stored = new Set(await readdir(root));
    for (const digest of [image.manifestDigest, image.configDigest, image.layerDigest]) assert.ok(stored.has(digest.slice(7)), digest);
    const inspect = await engine.inspect(`${source.host}/library/busybox:1.36`);
    assert.equal(inspect.id, image.configDigest);
    assert.deepEqual(inspect.layers.map((l) => [l.digest, l.diffId]), [[image.layerDigest, image.diffId]]);
    const again = await engine.pull(`${source.host}/library/busybox:1.36`);
    assert.equal(again.downloadedBytes, 0, 'blobs already present are not fetched again');
    const listed = await engine.images();
    assert.deepEqual(listed.map((i) => i.name), [`${source.host}/library/busybox:1.36`]);
  });

  it('pulls the requested platform of a multi-platform index and keeps the index digest', { timeout: 60_000 }, async () => {
    const amd = await engine.pull(`${source.host}/multi`);
    assert.equal(amd.name, `${source.host}/multi:latest`);
    assert.equal(amd.digest, image.manifestDigest);
    assert.equal(amd.indexDigest, multi.index);
    const arm = await engine.pull(`${source.host}/multi:latest`, { platform: parsePlatform('linux/arm64') });
    assert.equal(arm.digest, multi.arm64);
    assert.equal(arm.platform, 'linux/arm64');
    await assert.rejects(engine.pull(`${source.host}/multi:latest`, { platform: parsePlatform('linux/s390x') }), (error) => isStagecraftError(error) && error.code === 'PLATFORM_MISMATCH');
    await assert.rejects(engine.pull(`${source.host}/absent:1`), (error) => isStagecraftError(error) && error.code === 'NOT_FOUND');
  });

  it('pushes to a registry with basic auth using the docker config credentials, then pulls it back', { timeout: 60_000 }, async () => {
    const target = `${secured.host}/team/busybox:v1`;
    await assert.rejects(
      createEngine(loadConfig({ env: { HOME: work, DOCKER_CONFIG: join(work, 'nodocker'), STAGECRAFT_ROOT: join(work, 'root') } })).push(`${source.host}/library/busybox:1.36`, target),
      (error) => isStagecraftError(error) && error.code === 'REGISTRY_AUTH',
    );
    const pushed = await engine.push(`${source.host}/library/busybox:1.36`, target);
    assert.equal(pushed.digest, image.manifestDigest, 'the manifest bytes are pushed unchanged');
    const info = z.object({ Digest: z.string(), Layers: z.array(z.string()) }).parse(JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--creds', `${CREDS.username}:${CREDS.password}`, `docker://${target}`], { encoding: 'utf8' })));
    assert.equal(info.Digest, image.manifestDigest);
    assert.deepEqual(info.Layers, [image.layerDigest]);

    await engine.tag(`${source.host}/library/busybox:1.36`, `${secured.host}/team/other:v2`);
    const second = await engine.push(`${secured.host}/team/other:v2`);
    assert.equal(second.name, `${secured.host}/team/other:v2`);

    const fresh = createEngine(loadConfig({ env: { HOME: work, DOCKER_CONFIG: join(work, 'docker'), STAGECRAFT_ROOT: join(work, 'root2') } }));
    try {
      const back = await fresh.pull(target);
      assert.equal(back.digest, image.manifestDigest);
    } finally {
      fresh.close();
    }
  });

  it('tags, removes and collects', { timeout: 60_000 }, async () => {
    await engine.tag(`${source.host}/library/busybox:1.36`, 'busybox:mine');
    const tagged = await engine.inspect('busybox:mine');
    assert.equal(tagged.name, 'docker.io/library/busybox:mine');
    assert.equal(tagged.familiarName, 'busybox:mine');
    assert.equal((await engine.inspect(image.configDigest.slice(7, 19))).id, image.configDigest, 'found by short image ID');
    const removed = await engine.rmi(['busybox:mine']);
    assert.deepEqual(removed.untagged, ['docker.io/library/busybox:mine']);
    await assert.rejects(engine.inspect('busybox:mine'), (error) => isStagecraftError(error) && error.code === 'NOT_FOUND');
    const all = await engine.rmi([image.manifestDigest]);
    assert.deepEqual([...all.untagged].sort(), [`${secured.host}/team/other:v2`, `${source.host}/library/busybox:1.36`].sort(), 'a digest removes every name of the image');
    assert.deepEqual((await engine.images()).map((i) => i.name), [`${source.host}/multi:latest`]);
    const gc = await engine.gc({ gracePeriodMs: 0 });
    const collected = new Set<string>(gc.removed.map((b) => b.digest));
    assert.ok(!collected.has(multi.arm64) && !collected.has(multi.index), 'the named image and its index stay');
    assert.ok(!collected.has(image.layerDigest), 'the shared layer stays');
    assert.ok(!collected.has(image.manifestDigest), 'the amd64 manifest stays: the kept index lists it');
    assert.equal((await engine.inspect(`${source.host}/multi`)).digest, multi.arm64);
    await engine.rmi([`${source.host}/multi`]);
    const everything = await engine.gc({ gracePeriodMs: 0 });
    assert.ok(everything.removed.some((b) => b.digest === image.layerDigest));
    assert.deepEqual(await readdir(join(work, 'root/content/blobs/sha256')), [], 'an empty store once nothing is named');
  });
});
