/**
 * A layer made from a step's changes never holds a name the layer format reserves (issue 13, fault 3):
 * a file named `.wh.bin` would delete /bin for whoever pulls the image.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { overlayChanges, treeChanges, type LayerItem } from '../../src/snapshot/index.js';

async function collect(items: AsyncIterable<LayerItem>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of items) out.push(`${item.kind}:${item.path}`);
  return out;
}

const reserved = (path: string) => (error: unknown): boolean =>
  isStagecraftError(error) && error.code === 'FILE_OPERATION' && error.message.includes(`/${path}:`) && /reserved for layer whiteouts/.test(error.message) && (error.hint ?? '').includes(path);

describe('layer diffs refuse names reserved for whiteouts', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-diffnames-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const tree = async (name: string, files: Record<string, string>): Promise<string> => {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  };

  it('in an overlay upper directory, at any depth', async () => {
    const lower = await tree('lower', { 'bin/sh': 'sh', 'etc/passwd': 'p' });
    await assert.rejects(collect(overlayChanges(await tree('up1', { '.wh.bin': '' }), [lower])), reserved('.wh.bin'));
    await assert.rejects(collect(overlayChanges(await tree('up2', { 'etc/.wh..wh..opq': '' }), [lower])), reserved('etc/.wh..wh..opq'));
    await assert.rejects(collect(overlayChanges(await tree('up3', { 'new/.wh.': '' }), [lower])), reserved('new/.wh.'));
  });

  it('in a full-tree diff (the copy snapshotter), new or under a new directory', async () => {
    const lower = await tree('tlower', { 'bin/sh': 'sh', 'etc/passwd': 'p' });
    await assert.rejects(collect(treeChanges(lower, await tree('t1', { 'bin/sh': 'sh', 'etc/passwd': 'p', '.wh.etc': '' }))), reserved('.wh.etc'));
    await assert.rejects(collect(treeChanges(lower, await tree('t2', { 'bin/sh': 'sh', 'etc/passwd': 'p', 'opt/x/.wh..wh..opq': '' }))), reserved('opt/x/.wh..wh..opq'));
    await assert.rejects(collect(treeChanges(null, await tree('t3', { 'etc/.wh.passwd': '' }))), reserved('etc/.wh.passwd'));
  });

  it('keeps ordinary names that only contain .wh.', async () => {
    const lower = await tree('olower', { 'bin/sh': 'sh' });
    assert.deepEqual(await collect(overlayChanges(await tree('ok', { 'a.wh.b': '', 'bin/wh.x': '' }), [lower])), ['path:a.wh.b', 'path:bin', 'path:bin/wh.x']);
  });
});
