/**
 * Odd context file names: newlines are ordinary names (as in BuildKit); names that are not UTF-8 and
 * paths past PATH_MAX are refused with a FILE_OPERATION error naming the path and the fix, unless
 * .dockerignore excludes them.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { BuildContext } from '../../src/cache/context.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-ctxnames-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Removes what `makeDeepTree` made, one level at a time (rm cannot reach past PATH_MAX either). */
function removeDeepTree(dir: string): void {
  const previous = process.cwd();
  try {
    process.chdir(dir);
    let depth = 0;
    while (existsSync('d'.repeat(200))) {
      process.chdir('d'.repeat(200));
      depth++;
    }
    rmSync('f', { force: true });
    for (; depth > 0; depth--) {
      process.chdir('..');
      rmdirSync('d'.repeat(200));
    }
  } finally {
    process.chdir(previous);
  }
}

/** Each test runs twice: contexts walked on the thread pool, and walked by the stat worker from the start. */
let workerAfter: number | undefined;

async function contextDir(name: string): Promise<string> {
  const dir = join(work, `${name}-${workerAfter === undefined ? 'pool' : 'worker'}`);
  await mkdir(dir);
  await writeFile(join(dir, 'ok'), 'ok');
  return dir;
}

function context(dir: string, ignore: string[] = []): BuildContext {
  return new BuildContext({ dir, ignore, viewRoot: join(work, 'views'), workerAfter });
}

/** A chain of 200-byte directory names whose deepest file's path is past PATH_MAX. */
function makeDeepTree(dir: string): void {
  const previous = process.cwd();
  try {
    process.chdir(dir);
    for (let i = 0; i < 22; i++) {
      mkdirSync('d'.repeat(200));
      process.chdir('d'.repeat(200));
    }
    writeFileSync('f', 'deep');
  } finally {
    process.chdir(previous);
  }
}

function refused(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), `expected a StagecraftError, got ${String(error)}`);
    assert.equal(error.code, 'FILE_OPERATION');
    assert.match(error.message, pattern);
    assert.match(error.hint ?? '', /\.dockerignore/);
    return true;
  };
}

for (const walker of ['thread pool', 'worker'] as const) {
describe(`odd context file names (walked on the ${walker})`, () => {
  before(() => {
    workerAfter = walker === 'worker' ? 0 : undefined;
  });

  it('walks, hashes and views names with newlines and other control characters', async () => {
    const dir = await contextDir('newline');
    await writeFile(join(dir, 'a\nb'), 'x');
    await mkdir(join(dir, 'd\r\tir'));
    await writeFile(join(dir, 'd\r\tir', ' f '), 'y');
    const ctx = context(dir);
    assert.deepEqual((await ctx.entries()).map((e) => e.path), ['a\nb', 'd\r\tir', 'd\r\tir/ f ', 'ok']);
    const { files } = await ctx.hash(['a\nb'], []);
    assert.deepEqual(files.map(([path]) => path), ['a\nb']);
    await using view = await ctx.view([''], []);
    assert.equal(await readFile(join(view.path, 'a\nb'), 'utf8'), 'x');
    assert.equal(await readFile(join(view.path, 'd\r\tir', ' f '), 'utf8'), 'y');
  });

  it('refuses a name that is not UTF-8, naming it with its bytes escaped', async () => {
    const dir = await contextDir('latin1');
    await mkdir(join(dir, 'sub'));
    writeFileSync(Buffer.concat([Buffer.from(join(dir, 'sub/caf')), Buffer.from([0xe9])]), 'x');
    await assert.rejects(context(dir).hash([''], []), refused(/not valid UTF-8: "sub\/caf\\xe9"/));
    // Also when only another file is copied: the context is walked whole, as BuildKit sends it whole.
    await assert.rejects(context(dir).hash(['ok'], []), refused(/UTF-8/));
  });

  it('ignores such a name when .dockerignore excludes it', async () => {
    const dir = await contextDir('latin1-ignored');
    writeFileSync(Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9])]), 'x');
    const ctx = context(dir, ['caf*']);
    assert.deepEqual((await ctx.entries()).map((e) => e.path), ['ok']);
  });

  it('refuses a path past PATH_MAX, unless excluded', async () => {
    const dir = await contextDir('deep');
    await mkdir(join(dir, 'deep'));
    makeDeepTree(join(dir, 'deep'));
    try {
      await assert.rejects(context(dir).entries(), refused(/"deep\/d{50}.*bytes long, more than the 4095 bytes \(PATH_MAX\)/));
      assert.deepEqual((await context(dir, ['deep']).entries()).map((e) => e.path), ['ok']);
    } finally {
      removeDeepTree(join(dir, 'deep'));
    }
    assert.deepEqual((await readdir(dir)).sort(), ['deep', 'ok']);
  });
});
}
