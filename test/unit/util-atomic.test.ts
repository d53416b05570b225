import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic, writeStreamAtomic } from '../../src/util/atomic.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stagecraft-atomic-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function* chunks(parts: readonly string[], failAfter?: number): AsyncGenerator<Buffer> {
  for (const [index, part] of parts.entries()) {
    if (index === failAfter) throw new Error('source broke');
    yield Buffer.from(part);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('writeStreamAtomic', () => {
  it('writes every chunk, with the mode asked for, creating parents when asked', async () => {
    const target = join(dir, 'new', 'sub', 'out.tar');
    await writeStreamAtomic(target, chunks(['a', 'b', 'c']), { parents: true, mode: 0o600 });
    assert.equal(await readFile(target, 'utf8'), 'abc');
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(join(dir, 'new', 'sub')), ['out.tar']);
  });

  it('leaves the old file whole and no temp file when the source fails', async () => {
    const target = join(dir, 'kept');
    await writeFile(target, 'old');
    await assert.rejects(writeStreamAtomic(target, chunks(['new', 'er', 'st'], 2)), /source broke/);
    assert.equal(await readFile(target, 'utf8'), 'old');
    assert.deepEqual((await readdir(dir)).filter((name) => name.includes('kept')), ['kept']);
  });

  it('stops on abort with the signal\'s reason and leaves nothing behind', async () => {
    const target = join(dir, 'aborted');
    const controller = new AbortController();
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from('part');
      controller.abort(new Error('stop now'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      yield Buffer.from('more');
    }
    await assert.rejects(writeStreamAtomic(target, slow(), { signal: controller.signal }), /stop now/);
    assert.deepEqual((await readdir(dir)).filter((name) => name.includes('aborted')), []);
  });

  it('replaces a symlink at the target instead of writing through it', async () => {
    const outside = join(dir, 'outside');
    await writeFile(outside, 'canary');
    const { symlink } = await import('node:fs/promises');
    const target = join(dir, 'link');
    await symlink(outside, target);
    await writeFileAtomic(target, 'replaced');
    assert.equal(await readFile(outside, 'utf8'), 'canary');
    assert.equal(await readFile(target, 'utf8'), 'replaced');
    assert.equal((await import('node:fs/promises').then((fs) => fs.lstat(target))).isSymbolicLink(), false);
  });
});
