/**
 * Real overlayfs (root): busybox layer → prepare → change files in the mounted rootfs → diff → the
 * layer has the right entries → applying it elsewhere reproduces the tree; nothing stays mounted.
 * The copy snapshotter must give the same diff.
 */
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { link, mkdir, mkdtemp, readFile, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { parseDigest, sha256Digest } from '../../src/core/index.js';
import {
  CopySnapshotter,
  OverlaySnapshotter,
  mountPoints,
  packDirectory,
  readTar,
  type ImmutableSnapshot,
  type Snapshotter,
} from '../../src/snapshot/index.js';
import { makeBusyboxImage, type LayoutImage } from '../helpers/base-image.js';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

async function entryNames(tar: Buffer): Promise<string[]> {
  const names: string[] = [];
  for await (const { header } of readTar(Readable.from([tar]))) names.push(header.type === 'link' ? `${header.name} => ${header.linkname}` : header.name);
  return names;
}

async function mountsUnder(path: string): Promise<string[]> {
  return (await mountPoints()).filter((m) => m.startsWith(path));
}

let work: string;
let image: LayoutImage;
let blob: string;
const EPOCH = 1;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-snap-'));
  image = await makeBusyboxImage(work);
  blob = join(image.layout, 'blobs/sha256', image.layerDigest.slice('sha256:'.length));
});
after(async () => {
  for (const m of (await mountsUnder(work)).reverse()) execFileSync('umount', ['-l', m]);
  await rm(work, { recursive: true, force: true });
});

/** The same edits for both snapshotters. */
async function edit(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'app'));
  await writeFile(join(rootfs, 'app/hello'), 'hello\n');
  await link(join(rootfs, 'app/hello'), join(rootfs, 'app/hl'));
  await unlink(join(rootfs, 'etc/group'));
  await rename(join(rootfs, 'etc/passwd'), join(rootfs, 'etc/passwd.bak'));
  await unlink(join(rootfs, 'bin/ls'));
  await rm(join(rootfs, 'home'), { recursive: true });
}

const EXPECTED = [
  'app/', 'app/hello', 'app/hl => app/hello',
  'bin/', 'bin/.wh.ls',
  'etc/', 'etc/.wh.group', 'etc/.wh.passwd', 'etc/passwd.bak',
  '.wh.home',
];

const diffs = new Map<string, Buffer>();

for (const [label, make] of [
  ['overlayfs', (root: string): Snapshotter => new OverlaySnapshotter({ root })],
  ['copy', (root: string): Snapshotter => new CopySnapshotter({ root })],
] as const) {
  describe(`${label} snapshotter`, () => {
    let snapshotter: Snapshotter;
    let root: string;
    let base: ImmutableSnapshot;

    before(async () => {
      root = join(work, `state-${label}`);
      snapshotter = make(root);
      await snapshotter.cleanup();
    });

    it('unpacks a layer once per chain ID, also when asked concurrently', async () => {
      const diffId = parseDigest(image.diffId);
      const [a, b] = await Promise.all([
        snapshotter.applyLayer(null, createReadStream(blob), diffId),
        snapshotter.applyLayer(null, createReadStream(blob), diffId),
      ]);
      assert.equal(a.id, b.id);
      assert.equal(a.chainId, diffId);
      base = a;
      assert.equal((await snapshotter.getByChainId(diffId))?.id, a.id);
      assert.deepEqual(await readdir(join(root, 'snapshots')), [a.id]);
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
    });

    it('refuses a layer whose content does not match the diffID, keeping nothing', async () => {
      const wrong = sha256Digest('not this layer');
      await assert.rejects(snapshotter.applyLayer(base, createReadStream(blob), wrong), { code: 'DIGEST_MISMATCH' });
      assert.deepEqual(await readdir(join(root, 'snapshots')), [base.id]);
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
    });

    it('diffs edits made in the mounted rootfs, and the layer reproduces the tree', async () => {
      const snapshot = await snapshotter.prepare(base, 'edit');
      let committed: ImmutableSnapshot;
      try {
        const rootfs = await snapshot.mount();
        assert.ok((await readFile(join(rootfs.path, 'etc/passwd'), 'utf8')).startsWith('root:'));
        await edit(rootfs.path);
        const layer = await collect(snapshotter.diff(snapshot, { sourceDateEpoch: EPOCH }));
        diffs.set(label, layer);
        assert.deepEqual(await entryNames(layer), EXPECTED);
        await rootfs[Symbol.asyncDispose]();
        committed = await snapshot.commit();
      } finally {
        await snapshot[Symbol.asyncDispose]();
      }

      // Apply the diff on the same base in a fresh state root: same tree as the committed snapshot.
      const otherRoot = join(work, `other-${label}`);
      const other = make(otherRoot);
      const base2 = await other.applyLayer(null, createReadStream(blob), parseDigest(image.diffId));
      const layer = diffs.get(label) as Buffer;
      const applied = await other.applyLayer(base2, Readable.from([layer]), sha256Digest(layer));
      assert.equal(applied.chainId, sha256Digest(`${image.diffId} ${sha256Digest(layer)}`));
      const viewA = join(work, `view-a-${label}`);
      const viewB = join(work, `view-b-${label}`);
      await mkdir(viewA, { recursive: true });
      await mkdir(viewB, { recursive: true });
      const a = await snapshotter.view(committed, viewA);
      const b = await other.view(applied, viewB);
      try {
        const treeA = await collect(packDirectory(a.path, { sourceDateEpoch: EPOCH }));
        const treeB = await collect(packDirectory(b.path, { sourceDateEpoch: EPOCH }));
        assert.ok(treeA.equals(treeB), 'applied layer reproduces the tree');
        assert.equal(await readFile(join(b.path, 'app/hello'), 'utf8'), 'hello\n');
      } finally {
        await a[Symbol.asyncDispose]();
        await b[Symbol.asyncDispose]();
      }
      assert.deepEqual(await mountsUnder(work), []);
      assert.deepEqual(await readdir(join(root, 'active')), []);
      assert.deepEqual(await readdir(join(root, 'mounts')), []);
    });

    it('a commit given its layer\'s diffID is stored under the chain ID; the same chain committed again returns the first', async () => {
      const commitEdit = async (): Promise<ImmutableSnapshot> => {
        const snapshot = await snapshotter.prepare(base, 'edit-chain');
        try {
          const rootfs = await snapshot.mount();
          await edit(rootfs.path);
          const layer = await collect(snapshotter.diff(snapshot, { sourceDateEpoch: EPOCH }));
          await rootfs[Symbol.asyncDispose]();
          return await snapshot.commit(undefined, sha256Digest(layer));
        } finally {
          await snapshot[Symbol.asyncDispose]();
        }
      };
      const first = await commitEdit();
      const layer = diffs.get(label) as Buffer;
      const chain = sha256Digest(`${image.diffId} ${sha256Digest(layer)}`);
      assert.equal(first.chainId, chain);
      assert.equal((await snapshotter.getByChainId(chain))?.id, first.id);
      const second = await commitEdit();
      assert.equal(second.id, first.id);
      assert.deepEqual(await readdir(join(root, 'active')), []);
      assert.deepEqual(await mountsUnder(work), []);
    });

    it('leaves nothing mounted when the work fails', async () => {
      const target = join(work, `target-${label}`);
      await mkdir(target, { recursive: true });
      const snapshot = await snapshotter.prepare(base, 'failing');
      await assert.rejects(
        (async () => {
          try {
            const rootfs = await snapshot.mount(target);
            await writeFile(join(rootfs.path, 'partial'), 'x');
            throw new Error('step failed');
          } finally {
            await snapshot[Symbol.asyncDispose]();
          }
        })(),
        /step failed/,
      );
      assert.deepEqual(await mountsUnder(work), []);
      assert.deepEqual(await readdir(join(root, 'active')), []);
      assert.deepEqual(await readdir(join(root, 'mounts')), []);
      // A mount that cannot happen leaves no journal entry either.
      const again = await snapshotter.prepare(base, 'bad-target');
      try {
        if (label === 'overlayfs') await assert.rejects(again.mount(join(work, 'no/such/dir')), { code: 'SNAPSHOT' });
      } finally {
        await again[Symbol.asyncDispose]();
      }
      assert.deepEqual(await readdir(join(root, 'mounts')), []);
    });

    it('cleanup() unmounts and removes what a crashed process left', async () => {
      const target = join(work, `crashed-${label}`);
      await mkdir(target, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', target]);
      const dead = '999999999-1';
      await writeFile(join(root, 'mounts', 'crashed.json'), JSON.stringify({ version: 1, owner: dead, target }));
      await mkdir(join(root, 'active', 'deadbeef', 'fs'), { recursive: true });
      await writeFile(join(root, 'active', 'deadbeef', 'owner.json'), JSON.stringify({ version: 1, owner: dead }));
      await mkdir(join(root, 'tmp', `${dead}-abc`, 'fs'), { recursive: true });
      await snapshotter.cleanup();
      assert.deepEqual(await mountsUnder(work), []);
      assert.deepEqual(await readdir(join(root, 'mounts')), []);
      assert.deepEqual(await readdir(join(root, 'active')), []);
      assert.deepEqual(await readdir(join(root, 'tmp')), []);
    });
  });
}

describe('overlayfs opaque directories', () => {
  it('diff a replaced directory as an opaque marker, and applying it hides the lower content', async () => {
    const snapshotter = new OverlaySnapshotter({ root: join(work, 'state-opaque') });
    const base = await snapshotter.applyLayer(null, createReadStream(blob), parseDigest(image.diffId));
    const snapshot = await snapshotter.prepare(base, 'opaque');
    let layer: Buffer;
    try {
      const rootfs = await snapshot.mount();
      await rm(join(rootfs.path, 'etc'), { recursive: true });
      await mkdir(join(rootfs.path, 'etc'));
      await writeFile(join(rootfs.path, 'etc/only'), 'x');
      layer = await collect(snapshotter.diff(snapshot, { sourceDateEpoch: EPOCH }));
    } finally {
      await snapshot[Symbol.asyncDispose]();
    }
    assert.deepEqual(await entryNames(layer), ['etc/', 'etc/.wh..wh..opq', 'etc/only']);
    const applied = await snapshotter.applyLayer(base, Readable.from([layer]), sha256Digest(layer));
    const target = join(work, 'view-opaque');
    await mkdir(target, { recursive: true });
    const view = await snapshotter.view(applied, target);
    try {
      assert.deepEqual(await readdir(join(view.path, 'etc')), ['only']);
      assert.ok((await readdir(join(view.path, 'bin'))).includes('busybox'));
    } finally {
      await view[Symbol.asyncDispose]();
    }
    assert.deepEqual(await mountsUnder(work), []);
  });
});

describe('overlayfs and copy', () => {
  it('give the same diff for the same edits', () => {
    const overlay = diffs.get('overlayfs');
    const copy = diffs.get('copy');
    assert.ok(overlay !== undefined && copy !== undefined);
    assert.ok(overlay.equals(copy), 'identical layer bytes');
  });
});
