/**
 * Lazy layers (issue 18), on real overlayfs and the copy snapshotter: a committed step result's
 * layer, made later with `diffCommitted`, is byte for byte the layer `diff()` gave before the commit
 * (also after a child snapshot was built on it); `LayerStore.commit` stores no blob; `resolve` makes
 * the blob once, records it (a later store finds it; a collected blob is made again, the same), and a
 * view of the made stack uses the lazy snapshot (no unpacking); a stack whose snapshot is gone is
 * unavailable (the cache treats it as a miss); `clamp` of a made layer packs it again from its
 * snapshot with the epoch, the same bytes as rewriting its blob, without reading that blob; `resolve(…, { blobs: false })` only hashes a layer, its blob made
 * from the snapshot by `ensureBlob` when needed.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { LazyLayers, isLazyLayer, type LayerRecord } from '../../src/cache/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { parseDigest, sha256Digest } from '../../src/core/index.js';
import { Database } from '../../src/db/index.js';
import { LayerStore } from '../../src/ops/layers.js';
import { CopySnapshotter, OverlaySnapshotter, mountPoints, type ImmutableSnapshot, type Snapshotter } from '../../src/snapshot/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

let work: string;
let image: LayoutImage;
let blob: string;
const signal = new AbortController().signal;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-lazy-'));
  image = await makeBusyboxImage(work);
  blob = join(image.layout, 'blobs/sha256', image.layerDigest.slice('sha256:'.length));
});
after(async () => {
  for (const m of (await mountPoints()).filter((p) => p.startsWith(work)).reverse()) execFileSync('umount', ['-l', m]);
  await rm(work, { recursive: true, force: true });
});

/** Edits with whiteouts, a rename, a hardlink, an opaque directory (removed then made again). */
async function edit(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'app'));
  await writeFile(join(rootfs, 'app/hello'), 'hello\n');
  await link(join(rootfs, 'app/hello'), join(rootfs, 'app/hl'));
  await unlink(join(rootfs, 'etc/group'));
  await rename(join(rootfs, 'etc/passwd'), join(rootfs, 'etc/passwd.bak'));
  await rm(join(rootfs, 'home'), { recursive: true });
  await rm(join(rootfs, 'var'), { recursive: true });
  await mkdir(join(rootfs, 'var'));
  await writeFile(join(rootfs, 'var/new'), 'n\n');
}

for (const [label, make] of [
  ['overlayfs', (root: string): Snapshotter => new OverlaySnapshotter({ root })],
  ['copy', (root: string): Snapshotter => new CopySnapshotter({ root })],
] as const) {
  describe(`lazy layers on the ${label} snapshotter`, () => {
    let snapshotter: Snapshotter;
    let base: ImmutableSnapshot;
    let content: Content;
    let db: Database;

    before(async () => {
      snapshotter = make(join(work, `state-${label}`));
      await snapshotter.cleanup();
      base = await snapshotter.applyLayer(null, createReadStream(blob), parseDigest(image.diffId));
      db = Database.open(join(work, `meta-${label}.db`));
      content = await openContent({ root: join(work, `content-${label}`), db });
    });
    after(() => db.close());

    it('a committed snapshot diffs to the same bytes as before its commit, also with a child on it', async () => {
      const mutable = await snapshotter.prepare(base, 'edit');
      let committed: ImmutableSnapshot;
      let before: Buffer;
      let clamped: Buffer;
      try {
        const rootfs = await mutable.mount();
        await edit(rootfs.path);
        await rootfs[Symbol.asyncDispose]();
        before = await collect(snapshotter.diff(mutable));
        clamped = await collect(snapshotter.diff(mutable, { sourceDateEpoch: 1 }));
        committed = await mutable.commit();
      } finally {
        await mutable[Symbol.asyncDispose]();
      }
      assert.ok(before.length > 2048 && !before.equals(clamped));
      assert.equal(committed.chainId, null, 'a lazy result is no layer chain');
      assert.ok((await collect(snapshotter.diffCommitted(committed))).equals(before));
      assert.ok((await collect(snapshotter.diffCommitted(committed, { sourceDateEpoch: 1 }))).equals(clamped));
      // A later step on it (overlay: its fs is a lower dir) leaves it as it was.
      const child = await snapshotter.prepare(committed, 'child');
      let grandchild: ImmutableSnapshot;
      let childLayer: Buffer;
      try {
        const rootfs = await child.mount();
        await writeFile(join(rootfs.path, 'app/hello'), 'changed\n');
        await rm(join(rootfs.path, 'app/hl'));
        assert.equal(await readFile(join(rootfs.path, 'var/new'), 'utf8'), 'n\n');
        await rootfs[Symbol.asyncDispose]();
        childLayer = await collect(snapshotter.diff(child));
        grandchild = await child.commit();
      } finally {
        await child[Symbol.asyncDispose]();
      }
      assert.ok((await collect(snapshotter.diffCommitted(committed))).equals(before));
      assert.ok((await collect(snapshotter.diffCommitted(grandchild))).equals(childLayer));
    });

    it('LayerStore: commit stores no blob; resolve makes it once and records it; views need no unpacking; a gone snapshot is unavailable', async () => {
      const lazy = new LazyLayers(db);
      const store = (): LayerStore => new LayerStore({ snapshotter, blobs: content.blobs, lazy, runDir: join(work, `run-${label}`), fetchBlob: () => Promise.reject(new Error('no fetch')) });
      const layers = store();
      const baseLayer: LayerRecord = { diffId: parseDigest(image.diffId), digest: parseDigest(image.diffId), size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
      const blobsBefore = await readdir(join(work, `content-${label}`, 'blobs', 'sha256')).catch(() => []);
      const mutable = await snapshotter.prepare(base, 'step');
      const rootfs = await mutable.mount();
      await edit(rootfs.path);
      await rootfs[Symbol.asyncDispose]();
      const expected = await collect(snapshotter.diff(mutable));
      const step = await layers.commit(mutable, signal);
      assert.ok(isLazyLayer(step));
      assert.deepEqual(await readdir(join(work, `content-${label}`, 'blobs', 'sha256')).catch(() => []), blobsBefore, 'no blob for a step result');
      // A second step on the lazy one.
      const parent = await layers.materialize([baseLayer, step], signal);
      assert.equal(parent?.id, step.snapshot, 'a lazy stack is its snapshot');
      const second = await snapshotter.prepare(parent, 'step2');
      const secondFs = await second.mount();
      await writeFile(join(secondFs.path, 'second'), '2\n');
      await secondFs[Symbol.asyncDispose]();
      const step2 = await layers.commit(second, signal);

      const [made0, made1, made2] = await Promise.all([layers.resolve([baseLayer, step, step2], signal), layers.resolve([baseLayer, step], signal)]).then(([a]) => a);
      assert.deepEqual(made0, baseLayer);
      assert.ok(made1 !== undefined && made2 !== undefined);
      assert.equal(made1.diffId, sha256Digest(expected), 'the made layer is the diff the step would have stored');
      assert.equal(made1.created, step.created);
      assert.ok((await readFile(content.blobs.blobPath(made1.digest))).equals(expected));
      assert.deepEqual(lazy.get(step.snapshot), { diffId: made1.diffId, digest: made1.digest, size: made1.size, mediaType: made1.mediaType });
      assert.deepEqual(layers.known([baseLayer, step, step2])?.map((l) => l.digest), [baseLayer.digest, made1.digest, made2.digest]);
      // A view of the made stack is the lazy snapshot's: nothing unpacked (no new snapshot dir).
      const snapshotsBefore = await readdir(join(work, `state-${label}`, 'snapshots'));
      const view = await layers.view([baseLayer, made1, made2].map(({ created: _c, ...l }) => l), signal);
      try {
        assert.equal(await readFile(join(view.path, 'second'), 'utf8'), '2\n');
      } finally {
        await view[Symbol.asyncDispose]();
      }
      assert.deepEqual((await readdir(join(work, `state-${label}`, 'snapshots'))).sort(), snapshotsBefore.sort());
      // Another store (a later build) finds it recorded; a collected blob is made again, the same bytes.
      const again = await store().resolve([step], signal);
      assert.equal(again[0]?.digest, made1.digest);
      await rm(content.blobs.blobPath(made1.digest));
      const remade = await store().resolve([step], signal);
      assert.equal(remade[0]?.digest, made1.digest);
      // A removed snapshot: its stacks are unavailable, resolve says what happened.
      assert.equal(await layers.available([baseLayer, step, step2]), true);
      const gone = await snapshotter.get(step2.snapshot);
      assert.ok(gone !== null);
      await snapshotter.remove(gone);
      assert.equal(await layers.available([baseLayer, step, step2]), false);
      // Its made layer serves while its blob is there; without either, nothing can make it.
      assert.equal((await store().resolve([step2], signal))[0]?.digest, made2.digest);
      await rm(content.blobs.blobPath(made2.digest));
      await assert.rejects(store().resolve([step2], signal), { code: 'STORE_CORRUPT' });
    });

    it('resolve without blobs only hashes a layer: recorded, its blob made from the snapshot when needed (verified)', async () => {
      const lazy = new LazyLayers(db);
      const store = (): LayerStore => new LayerStore({ snapshotter, blobs: content.blobs, lazy, runDir: join(work, `run-hash-${label}`), fetchBlob: () => Promise.reject(new Error('no fetch')) });
      const layers = store();
      const mutable = await snapshotter.prepare(base, 'hash-only');
      const rootfs = await mutable.mount();
      await edit(rootfs.path);
      await writeFile(join(rootfs.path, 'app/only-here'), 'hash only\n');
      await rootfs[Symbol.asyncDispose]();
      const expected = await collect(snapshotter.diff(mutable));
      const step = await layers.commit(mutable, signal);
      const [made] = await layers.resolve([step], signal, { blobs: false });
      assert.ok(made !== undefined);
      assert.equal(made.diffId, sha256Digest(expected));
      assert.equal(made.size, expected.length);
      assert.equal(await content.blobs.has(made.digest), false, 'no blob stored');
      assert.deepEqual(lazy.get(step.snapshot), { diffId: made.diffId, digest: made.digest, size: made.size, mediaType: made.mediaType });
      // A later store finds the record without making anything; one that needs the blob makes it.
      assert.equal((await store().resolve([step], signal, { blobs: false }))[0]?.digest, made.digest);
      assert.equal(await content.blobs.has(made.digest), false);
      // ensureBlob packs it from the snapshot, checked against the record's digest and size.
      const { created: _created, ...record } = made;
      await assert.rejects(layers.ensureBlob({ ...record, size: record.size + 1 }, signal), { code: 'DIGEST_MISMATCH' });
      assert.equal(await content.blobs.has(made.digest), false);
      await layers.ensureBlob(record, signal);
      assert.ok((await readFile(content.blobs.blobPath(made.digest))).equals(expected));
      await rm(content.blobs.blobPath(made.digest));
      // Another store knows no snapshot for the digest: it fetches (here: fails); resolve with blobs makes it.
      await assert.rejects(store().ensureBlob(record, signal), /no fetch/);
      assert.equal((await store().resolve([step], signal))[0]?.digest, made.digest);
      assert.ok((await readFile(content.blobs.blobPath(made.digest))).equals(expected));
    });

    it('clamp of a layer resolve made packs it again from its snapshot: the bytes of rewriting its blob, which is not read', async () => {
      const store = (): LayerStore => new LayerStore({ snapshotter, blobs: content.blobs, runDir: join(work, `run-clamp-${label}`), fetchBlob: () => Promise.reject(new Error('no fetch')) });
      const layers = store();
      const mutable = await snapshotter.prepare(base, 'clamp');
      const rootfs = await mutable.mount();
      await edit(rootfs.path);
      await writeFile(join(rootfs.path, 'app/big'), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
      await rootfs[Symbol.asyncDispose]();
      const step = await layers.commit(mutable, signal);
      const [made] = await layers.resolve([step], signal);
      assert.ok(made !== undefined);
      // Another store (a later process) knows no snapshot for it: it rewrites the plain blob.
      const fromBlob = await store().clamp(made, 1, signal);
      assert.notEqual(fromBlob.digest, made.digest, 'the epoch changes its times');
      const expected = await readFile(content.blobs.blobPath(fromBlob.digest));
      await rm(content.blobs.blobPath(fromBlob.digest));
      // Without the plain blob (its fetch fails), the store that made the layer packs it from the snapshot.
      await rm(content.blobs.blobPath(made.digest));
      const fromSnapshot = await layers.clamp(made, 1, signal);
      assert.deepEqual({ ...fromSnapshot }, { ...fromBlob });
      assert.ok((await readFile(content.blobs.blobPath(fromSnapshot.digest))).equals(expected));
      assert.equal(await content.blobs.has(made.digest), false, 'the plain blob was not made again');
      // With its snapshot gone it falls back to the blob, which is gone too: nothing can make it.
      const gone = await snapshotter.get(step.snapshot);
      assert.ok(gone !== null);
      await snapshotter.remove(gone);
      await rm(content.blobs.blobPath(fromBlob.digest));
      await assert.rejects(layers.clamp(made, 1, signal), /no fetch/);
    });
  });
}
