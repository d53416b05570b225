/** save/load archives, checked against skopeo (an independent reader and writer of both formats). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { isStagecraftError, parseDigest, parsePlatform } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { loadArchive, writeDockerArchive, writeOciArchive, type SaveImage } from '../../src/image/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';

const NAME = 'docker.io/library/busybox:latest';
const OTHER = '127.0.0.1:5000/team/box:v1';
const platform = parsePlatform('linux/amd64');

async function openStore(root: string): Promise<{ db: Database; content: Content }> {
  const db = Database.open(join(root, 'metadata.db'));
  return { db, content: await openContent({ root: join(root, 'content'), db }) };
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function save(gen: AsyncIterable<Buffer>, file: string): Promise<void> {
  await pipeline(Readable.from(gen), createWriteStream(file));
}

const inspectSchema = z.object({ Digest: z.string(), Layers: z.array(z.string()), Os: z.string(), Architecture: z.string() });

describe('image: save and load archives', () => {
  let work: string;
  let image: LayoutImage;
  let db: Database;
  let content: Content;
  let saved: SaveImage;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-archive-'));
    image = await makeBusyboxImage(work);
    ({ db, content } = await openStore(join(work, 'root')));
    for (const digest of [image.layerDigest, image.configDigest, image.manifestDigest]) {
      await content.blobs.ingest(createReadStream(join(image.layout, 'blobs/sha256', digest.slice(7))), { digest: parseDigest(digest) });
    }
    const size = (await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)))).length;
    const descriptor = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: parseDigest(image.manifestDigest), size };
    for (const name of [NAME, OTHER]) content.references.set(name, { ...descriptor, platform: 'linux/amd64' });
    saved = { names: [NAME, OTHER], descriptor };
  });
  after(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('writes a docker-archive with manifest.json, repositories, config and uncompressed layers that skopeo reads', { timeout: 60_000 }, async () => {
    const file = join(work, 'docker.tar');
    await save(writeDockerArchive(content, [saved]), file);
    const extracted = join(work, 'docker-x');
    await mkdir(extracted);
    execFileSync('tar', ['-xf', file, '-C', extracted]);
    const manifest = z.array(z.object({ Config: z.string(), RepoTags: z.array(z.string()), Layers: z.array(z.string()) })).parse(JSON.parse(await readFile(join(extracted, 'manifest.json'), 'utf8')));
    assert.equal(manifest.length, 1);
    assert.deepEqual(manifest[0]?.RepoTags, ['busybox:latest', '127.0.0.1:5000/team/box:v1']);
    assert.equal(manifest[0]?.Config, `blobs/sha256/${image.configDigest.slice(7)}`);
    assert.deepEqual(manifest[0]?.Layers, [`blobs/sha256/${image.diffId.slice(7)}`]);
    const layer = await readFile(join(extracted, manifest[0]?.Layers[0] ?? ''));
    assert.equal(sha256(layer), image.diffId, 'layers are the uncompressed tars (their digest is the diff ID)');
    assert.equal(sha256(await readFile(join(extracted, manifest[0]?.Config ?? ''))), image.configDigest);
    const repositories = z.record(z.string(), z.record(z.string(), z.string())).parse(JSON.parse(await readFile(join(extracted, 'repositories'), 'utf8')));
    assert.deepEqual(Object.keys(repositories).sort(), ['127.0.0.1:5000/team/box', 'busybox']);
    assert.equal(repositories.busybox?.latest, image.diffId.slice(7));

    const info = inspectSchema.parse(JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}`], { encoding: 'utf8' })));
    assert.deepEqual(info.Layers, [image.diffId]);
    assert.equal(info.Os, 'linux');
    const again = join(work, 'docker-again.tar');
    await save(writeDockerArchive(content, [saved]), again);
    assert.ok((await readFile(again)).equals(await readFile(file)), 'the same images give the same bytes');
  });

  it('writes an OCI archive that skopeo reads by the full name', { timeout: 60_000 }, async () => {
    const file = join(work, 'oci.tar');
    await save(writeOciArchive(content, [saved]), file);
    const listing = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(listing.slice(0, 4), ['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
    assert.equal(listing.length, 7);
    for (const name of [NAME, OTHER]) {
      const info = inspectSchema.parse(JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${file}:${name}`], { encoding: 'utf8' })));
      assert.equal(info.Digest, image.manifestDigest);
      assert.deepEqual(info.Layers, [image.layerDigest]);
    }
  });

  it('loads both formats back into a fresh store, naming the images', { timeout: 60_000 }, async () => {
    const fresh = await openStore(join(work, 'fresh'));
    try {
      const oci = await loadArchive(fresh.content, createReadStream(join(work, 'oci.tar')), { platform, source: 'oci.tar' });
      assert.equal(oci.format, 'oci');
      assert.deepEqual(oci.images.map((i) => [i.manifest.digest, [...i.names].sort(), i.platform]), [[image.manifestDigest, [OTHER, NAME], 'linux/amd64']]);
      assert.equal(fresh.content.references.get(NAME)?.digest, image.manifestDigest, 'an OCI archive keeps the manifest digest');

      const docker = await loadArchive(fresh.content, createReadStream(join(work, 'docker.tar')), { platform, source: 'docker.tar' });
      assert.equal(docker.format, 'docker');
      const loaded = docker.images[0];
      assert.deepEqual(loaded?.names, [NAME, OTHER]);
      const ref = fresh.content.references.get(NAME);
      assert.equal(ref?.digest, loaded?.manifest.digest);
      const manifest = z.object({ config: z.object({ digest: z.string() }), layers: z.array(z.object({ digest: z.string(), mediaType: z.string() })) }).parse(JSON.parse((await fresh.content.blobs.read(parseDigest(ref?.digest ?? ''))).toString()));
      assert.equal(manifest.config.digest, image.configDigest, 'the config (the image ID) is unchanged');
      assert.deepEqual(manifest.layers, [{ digest: image.diffId, mediaType: 'application/vnd.oci.image.layer.v1.tar' }]);
      assert.deepEqual(fresh.content.leases.list(), [], 'the load lease is released');
      assert.deepEqual(await readdir(join(work, 'fresh/content/ingest')), []);
    } finally {
      fresh.db.close();
    }
  });

  it('loads a docker-archive written by skopeo (classic layout, gzip layers kept as they are)', { timeout: 60_000 }, async () => {
    const file = join(work, 'skopeo-docker.tar');
    execFileSync('skopeo', ['copy', '-q', `oci:${image.layout}:latest`, `docker-archive:${file}:example.com/app:1.0`]);
    const fresh = await openStore(join(work, 'from-skopeo'));
    try {
      const result = await loadArchive(fresh.content, createReadStream(file), { platform, source: file });
      assert.deepEqual(result.images[0]?.names, ['example.com/app:1.0']);
      const ref = fresh.content.references.get('example.com/app:1.0');
      assert.ok(ref !== undefined);
      const roundTrip = join(work, 'roundtrip.tar');
      await save(writeOciArchive(fresh.content, [{ names: ['example.com/app:1.0'], descriptor: { mediaType: ref.mediaType, digest: ref.digest, size: ref.size } }]), roundTrip);
      const config = z.object({ config: z.object({ Cmd: z.array(z.string()) }) }).parse(JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${roundTrip}:example.com/app:1.0`], { encoding: 'utf8' })));
      assert.deepEqual(config.config.Cmd, ['sh']);
    } finally {
      fresh.db.close();
    }
  });

  it('rejects a damaged archive with a digest error and names nothing', { timeout: 60_000 }, async () => {
    const extracted = join(work, 'tamper');
    await mkdir(extracted);
    execFileSync('tar', ['-xf', join(work, 'docker.tar'), '-C', extracted]);
    const layerPath = join(extracted, 'blobs/sha256', image.diffId.slice(7));
    const layer = await readFile(layerPath);
    layer[layer.length - 2000] = (layer[layer.length - 2000] ?? 0) ^ 0xff;
    await writeFile(layerPath, layer);
    const tampered = join(work, 'tampered.tar');
    execFileSync('tar', ['-cf', tampered, '-C', extracted, '.']);
    const fresh = await openStore(join(work, 'tampered-store'));
    try {
      await assert.rejects(loadArchive(fresh.content, createReadStream(tampered), { platform, source: tampered }), (error) => isStagecraftError(error) && error.code === 'DIGEST_MISMATCH');
      assert.deepEqual(fresh.content.references.list(), []);
      await assert.rejects(loadArchive(fresh.content, Readable.from([Buffer.from('not a tar at all'.repeat(64))]), { platform, source: 'junk' }), (error) => isStagecraftError(error) && error.code === 'ARCHIVE_INVALID');
    } finally {
      fresh.db.close();
    }
  });
});
