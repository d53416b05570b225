/**
 * Deep layer chains on real overlayfs (root): Docker builds images of up to 125 layers, and a chain
 * must mount however deep it is. 130 layers fit one overlay mount through the short links; 620 layers
 * (past overlayfs's 500-lower limit and far past a page of lowerdirs) are mounted with the bottom of
 * the chain flattened, and whiteouts of the upper layers still hide what they delete below.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { sha256Digest } from '../../src/core/index.js';
import { OverlaySnapshotter, makeHeader, mountPoints, writeTar, type ImmutableSnapshot, type TarWriteEntry } from '../../src/snapshot/index.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function file(name: string, text: string): TarWriteEntry {
  const data = Buffer.from(text);
  return { header: makeHeader({ name, type: 'file', size: data.length }), body: () => [data] };
}

/** Layer i adds /layers/<i>; layer 3 adds /gone, and layer `deleteAt` removes it again. */
async function layerTar(i: number, deleteAt: number): Promise<Buffer> {
  const entries: TarWriteEntry[] = [{ header: makeHeader({ name: 'layers/', type: 'dir', mode: 0o755 }) }, file(`layers/${i}`, `layer ${i}\n`)];
  if (i === 3) entries.push(file('gone', 'deleted later\n'));
  if (i === deleteAt) entries.push({ header: makeHeader({ name: '.wh.gone', type: 'file' }) });
  return collect(writeTar(entries));
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-deep-'));
});
after(async () => {
  for (const m of (await mountPoints()).filter((p) => p.startsWith(work)).reverse()) execFileSync('umount', ['-l', m]);
  await rm(work, { recursive: true, force: true });
});

async function chainOf(snapshotter: OverlaySnapshotter, count: number, deleteAt: number): Promise<ImmutableSnapshot> {
  let parent: ImmutableSnapshot | null = null;
  for (let i = 0; i < count; i++) {
    const tar = await layerTar(i, deleteAt);
    parent = await snapshotter.applyLayer(parent, Readable.from([tar]), sha256Digest(tar));
  }
  if (parent === null) throw new Error('no layers');
  return parent;
}

for (const [count, deleteAt] of [[130, 100], [620, 610]] as const) {
  describe(`a chain of ${count} layers`, () => {
    let snapshotter: OverlaySnapshotter;
    let top: ImmutableSnapshot;
    before(async () => {
      snapshotter = new OverlaySnapshotter({ root: join(work, `root-${count}`) });
      top = await chainOf(snapshotter, count, deleteAt);
    });

    it('mounts writable with every layer visible and the deleted file hidden', async () => {
      const snapshot = await snapshotter.prepare(top, 'deep');
      try {
        const rootfs = await snapshot.mount();
        const names = await readdir(join(rootfs.path, 'layers'));
        assert.equal(names.length, count);
        assert.equal(await readFile(join(rootfs.path, 'layers', '0'), 'utf8'), 'layer 0\n');
        assert.equal(await readFile(join(rootfs.path, 'layers', String(count - 1)), 'utf8'), `layer ${count - 1}\n`);
        await assert.rejects(readFile(join(rootfs.path, 'gone')), { code: 'ENOENT' });
        await rootfs[Symbol.asyncDispose]();
      } finally {
        await snapshot[Symbol.asyncDispose]();
      }
    });

    it('mounts a read-only view of it', async () => {
      const target = join(work, `view-${count}`);
      execFileSync('mkdir', ['-p', target]);
      const view = await snapshotter.view(top, target);
      try {
        assert.equal((await readdir(join(target, 'layers'))).length, count);
        await assert.rejects(readFile(join(target, 'gone')), { code: 'ENOENT' });
      } finally {
        await view[Symbol.asyncDispose]();
      }
      assert.deepEqual((await mountPoints()).filter((p) => p.startsWith(work)), []);
    });
  });
}
