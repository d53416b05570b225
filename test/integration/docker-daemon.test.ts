/**
 * `loadIntoDockerDaemon` against a real dockerd (a private one, see test/helpers/dockerd.ts): the
 * docker-archive stagecraft writes is loaded, `docker image inspect` sees the tag with the config
 * digest as its ID, and the daemon's own errors come back as StagecraftErrors.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { isStagecraftError, parseDigest } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { loadIntoDockerDaemon } from '../../src/exporter/index.js';
import { writeDockerArchive, type SaveImage } from '../../src/image/index.js';
import { makeHeader, writeTar } from '../../src/snapshot/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';
import { startDockerd, type TestDockerd } from '../helpers/dockerd.js';

const NAME = 'docker.io/library/stagecraft-load-test:v1';
const OTHER = '127.0.0.1:5000/team/box:v2';

describe('exporter: load into a real Docker daemon', () => {
  let work: string;
  let image: LayoutImage;
  let db: Database;
  let content: Content;
  let saved: SaveImage;
  let daemon: TestDockerd | undefined;
  let skip: string | undefined;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-daemon-'));
    image = await makeBusyboxImage(work);
    db = Database.open(join(work, 'metadata.db'));
    content = await openContent({ root: join(work, 'content'), db });
    for (const digest of [image.layerDigest, image.configDigest, image.manifestDigest]) {
      await content.blobs.ingest(createReadStream(join(image.layout, 'blobs/sha256', digest.slice(7))), { digest: parseDigest(digest) });
    }
    const size = (await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)))).length;
    saved = { names: [NAME, OTHER], descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: parseDigest(image.manifestDigest), size } };
    const started = await startDockerd();
    if ('skip' in started) skip = started.skip;
    else daemon = started;
  });
  after(async () => {
    await daemon?.stop();
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  it('loads a docker-archive written by stagecraft; docker sees both tags with the config digest as image ID', { timeout: 120_000 }, async (t) => {
    if (daemon === undefined) return t.skip(skip);
    const result = await loadIntoDockerDaemon(() => writeDockerArchive(content, [saved]), { socketPath: daemon.socket });
    assert.deepEqual([...result.loaded].sort(), ['127.0.0.1:5000/team/box:v2', 'stagecraft-load-test:v1']);
    const inspected = z.array(z.object({ Id: z.string(), RepoTags: z.array(z.string()), RootFS: z.object({ Layers: z.array(z.string()) }) }))
      .parse(JSON.parse(daemon.docker(['image', 'inspect', 'stagecraft-load-test:v1'])));
    assert.equal(inspected[0]?.Id, image.configDigest);
    assert.deepEqual([...(inspected[0]?.RepoTags ?? [])].sort(), ['127.0.0.1:5000/team/box:v2', 'stagecraft-load-test:v1']);
    assert.deepEqual(inspected[0]?.RootFS.Layers, [image.diffId]);
    assert.equal(daemon.docker(['run', '--rm', '--network', 'none', 'stagecraft-load-test:v1', 'echo', 'ran from the loaded image']), 'ran from the loaded image\n');
  });

  it('returns the daemon\'s error for an archive it cannot load', { timeout: 60_000 }, async (t) => {
    if (daemon === undefined) return t.skip(skip);
    // A docker-archive whose manifest.json names a layer the tar does not hold.
    const manifest = JSON.stringify([{ Config: 'config.json', RepoTags: ['broken:1'], Layers: ['missing/layer.tar'] }]);
    const config = '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}}';
    const broken = writeTar([
      { header: makeHeader({ type: 'file', name: 'manifest.json', size: Buffer.byteLength(manifest) }), body: () => [Buffer.from(manifest)] },
      { header: makeHeader({ type: 'file', name: 'config.json', size: Buffer.byteLength(config) }), body: () => [Buffer.from(config)] },
    ]);
    await assert.rejects(loadIntoDockerDaemon(() => broken, { socketPath: daemon.socket }), (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.equal(error.code, 'EXTERNAL_TOOL');
      assert.match(error.message, /Docker daemon at .* (could not load the image|refused the request).*layer\.tar/);
      return true;
    });
  });
});
