/**
 * The copy snapshotter on a full filesystem (a 3 MiB tmpfs, root): copying a parent that no longer
 * fits ends in NO_SPACE (not a bare SNAPSHOT error), and the failed mutable snapshot leaves nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { isStagecraftError, sha256Digest } from '../../src/core/index.js';
import { CopySnapshotter, makeHeader, writeTar, type MutableSnapshot } from '../../src/snapshot/index.js';

let work: string;
let root: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-nospace-'));
  root = join(work, 'root');
  await mkdir(root);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', root]);
});
after(async () => {
  execFileSync('umount', ['-l', root]);
  await rm(work, { recursive: true, force: true });
});

it('ends a copy that fills the disk in NO_SPACE and keeps no partial snapshot', async () => {
  const snapshotter = new CopySnapshotter({ root });
  const data = randomBytes(1 << 20);
  const chunks: Buffer[] = [];
  for await (const chunk of writeTar([{ header: makeHeader({ name: 'blob', type: 'file', size: data.length }), body: () => [data] }])) chunks.push(Buffer.from(chunk as Uint8Array));
  const tar = Buffer.concat(chunks);
  const base = await snapshotter.applyLayer(null, Readable.from([tar]), sha256Digest(tar));
  const held: MutableSnapshot[] = [];
  try {
    await assert.rejects(async () => {
      for (let i = 0; i < 4; i++) held.push(await snapshotter.prepare(base, `copy-${i}`));
    }, (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.equal(error.code, 'NO_SPACE', error.message);
      assert.match(error.hint ?? '', /stagecraft prune/u);
      return true;
    });
    assert.ok(held.length >= 1 && held.length < 4);
    assert.equal((await readdir(join(root, 'active'))).length, held.length, 'the failed snapshot left nothing');
  } finally {
    for (const snapshot of held) await snapshot[Symbol.asyncDispose]();
  }
  assert.deepEqual(await readdir(join(root, 'active')), []);
});
