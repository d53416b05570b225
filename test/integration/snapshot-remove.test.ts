/**
 * A committed snapshot kept outside the layer chains (the rootfs of a failed step, kept for
 * `stagecraft debug`): committed without a diffID it gets an id of its own over its parent; a new
 * writable snapshot over it sees its files and leaves it unchanged; `remove` deletes it (and its
 * overlay short link) and nothing of its parent. Real overlayfs (root), and the copy snapshotter.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { sha256Digest } from '../../src/core/index.js';
import { CopySnapshotter, OverlaySnapshotter, mountPoints, packDirectory, type Snapshotter } from '../../src/snapshot/index.js';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function base(snapshotter: Snapshotter, work: string): Promise<Awaited<ReturnType<Snapshotter['applyLayer']>>> {
  const dir = join(work, 'base-tree');
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'base-file'), 'base\n');
  const chunks: Buffer[] = [];
  for await (const chunk of packDirectory(dir, { sourceDateEpoch: 1 })) chunks.push(Buffer.from(chunk as Uint8Array));
  const tar = Buffer.concat(chunks);
  return snapshotter.applyLayer(null, Readable.from([tar]), sha256Digest(tar));
}

for (const make of [(root: string) => new OverlaySnapshotter({ root }), (root: string) => new CopySnapshotter({ root })]) {
  describe(`kept snapshot (${make('/nonexistent').name})`, () => {
    it('is committed over its parent, serves fresh writable snapshots unchanged, and is removed alone', async () => {
      const work = await mkdtemp(join(tmpdir(), 'stagecraft-snap-remove-'));
      roots.push(work);
      const snapshotter = make(join(work, 'root'));
      const parent = await base(snapshotter, work);
      const failed = await snapshotter.prepare(parent, 'failed-step');
      const fs = await failed.mount();
      await writeFile(join(fs.path, 'marker'), 'hi\n');
      await fs[Symbol.asyncDispose]();
      const kept = await failed.commit();
      assert.equal(kept.chainId, null);
      assert.equal(kept.parent?.id, parent.id);
      assert.deepEqual(await snapshotter.get(kept.id), kept);

      for (let session = 0; session < 2; session++) {
        const debug = await snapshotter.prepare(kept, 'debug');
        const view = await debug.mount();
        assert.equal(await readFile(join(view.path, 'marker'), 'utf8'), 'hi\n');
        assert.equal(await readFile(join(view.path, 'etc', 'base-file'), 'utf8'), 'base\n');
        assert.equal(await lstat(join(view.path, 'session-0')).then(() => true, () => false), false, 'the first session left nothing');
        await writeFile(join(view.path, `session-${session}`), 'scribble');
        await debug[Symbol.asyncDispose]();
      }

      await snapshotter.remove(kept);
      assert.equal(await snapshotter.get(kept.id), null);
      assert.deepEqual(await snapshotter.get(parent.id), parent);
      await snapshotter.remove(kept);
      const links = await readdir(join(work, 'root', 'links')).catch(() => [] as string[]);
      for (const name of links) assert.notEqual(await readlink(join(work, 'root', 'links', name)), `../snapshots/${kept.id}/fs`);
      assert.deepEqual((await mountPoints()).filter((m) => m.startsWith(work)), []);
    });
  });
}
