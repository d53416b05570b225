import assert from 'node:assert/strict';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { explainContentHit, explainMiss } from '../../src/cache/index.js';
import { selectContent, type Selector } from '../../src/ops/file/select.js';
import { Limiter } from '../../src/util/limiter.js';

const root = mkdtempSync(join(tmpdir(), 'stagecraft-select-'));
after(() => rmSync(root, { recursive: true, force: true }));

const copy = (sources: string[], excludes: string[] = [], parents = false): Selector => ({ sources, excludes, parents, literal: false });
const select = (selector: Selector): Promise<string[]> =>
  selectContent(root, selector, new Limiter(4), new AbortController().signal).then((lines) => lines.map((l) => `${l[0]} ${l[1]} ${l[5]}${l.length > 6 ? ` ${l.slice(6).join(' ')}` : ''}`));

mkdirSync(join(root, 'dist/sub'), { recursive: true });
writeFileSync(join(root, 'dist/a.txt'), 'a\n');
writeFileSync(join(root, 'dist/b.txt'), 'b\n');
writeFileSync(join(root, 'dist/c.bin'), 'c\n');
writeFileSync(join(root, 'dist/sub/d.txt'), 'd\n');
symlinkSync('/dist/a.txt', join(root, 'dist/link'));
symlinkSync('dist', join(root, 'current'));
linkSync(join(root, 'dist/b.txt'), join(root, 'dist/sub/b-again.txt'));

describe('what a COPY --from or a mount selects of a stage (content lines)', () => {
  it('keys a file by its content and metadata, not its times', async () => {
    const before = await selectContent(root, copy(['/dist/a.txt']), new Limiter(1), new AbortController().signal);
    utimesSync(join(root, 'dist/a.txt'), 1, 1);
    assert.deepEqual(await selectContent(root, copy(['/dist/a.txt']), new Limiter(1), new AbortController().signal), before);
    writeFileSync(join(root, 'dist/a.txt'), 'A\n');
    const changed = await selectContent(root, copy(['/dist/a.txt']), new Limiter(1), new AbortController().signal);
    assert.notDeepEqual(changed, before);
    writeFileSync(join(root, 'dist/a.txt'), 'a\n');
  });

  it('expands wildcards as the copy does, one component deep', async () => {
    assert.deepEqual((await select(copy(['/dist/*.txt']))).map((l) => l.split(' ')[0]), ['/dist/a.txt', '/dist/b.txt']);
  });

  it('walks a directory source, keeping symlinks as links, hardlinks as such, and honours --exclude', async () => {
    const lines = await select(copy(['/dist'], ['*.bin']));
    assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), [
      '/dist dir', '/dist/a.txt file', '/dist/b.txt file', '/dist/link symlink', '/dist/sub dir', '/dist/sub/b-again.txt file', '/dist/sub/d.txt file',
    ]);
    assert.ok(lines.includes('/dist/link symlink link:/dist/a.txt'));
    assert.ok(lines.some((l) => l.startsWith('/dist/sub/b-again.txt file sha256:') && l.endsWith('hardlink:/dist/b.txt')), lines.join('\n'));
  });

  it('follows a named source that is a symlink (inside the root), as the copy does', async () => {
    const lines = await select(copy(['/current/sub/d.txt']));
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^\/current\/sub\/d\.txt file sha256:/);
  });

  it('selects --parents paths by their include pattern', async () => {
    const lines = await select(copy(['/dist/./sub/d.txt'], [], true));
    assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), ['/dist/sub/d.txt required', '/dist dir', '/dist/sub dir', '/dist/sub/d.txt file']);
  });

  it('turns a missing source into a line (the step fails on its own) instead of an error', async () => {
    assert.deepEqual(await select(copy(['/nope'])), ['/nope missing ']);
    assert.deepEqual(await select(copy(['/nope/*.txt'])), ['/nope/*.txt error FILE_NOT_FOUND']);
    assert.deepEqual(await select({ sources: ['/dist/[*.txt'], excludes: [], parents: false, literal: true }), ['/dist/[*.txt missing ']);
  });
});

describe('content hit and miss sentences', () => {
  it('says which stage\'s files were unchanged, with a short digest', () => {
    assert.equal(explainContentHit([{ source: 'stage build', digest: `sha256:${'ab'.repeat(32)}` }]), 'files selected from stage build unchanged (sha256:abababababab…)');
    assert.equal(explainContentHit([]), undefined);
  });

  it('names the selected paths that changed, appeared or went', () => {
    const pre = (digest: string, files: [string, string][]): unknown => ({ op: {}, inputs: ['k0', digest], selected: [{ input: 1, digest, files }] });
    const reasons = explainMiss(pre('d2', [['/out/a', 'x2'], ['/out/new', 'n']]), { key: 'old', preimage: pre('d1', [['/out/a', 'x1'], ['/out/gone', 'g']]) }, [
      { name: 'base', key: 'k0' },
      { name: '[build 3/3] RUN make', key: 'k1', source: 'stage build' },
    ]);
    assert.deepEqual(reasons, ['file /out/a selected from stage build changed', 'file /out/new selected from stage build was added', 'file /out/gone selected from stage build was removed']);
    const unlisted = explainMiss({ op: {}, inputs: ['k0', 'sha256:2'], selected: [{ input: 1, digest: 'sha256:2' }] }, { key: 'old', preimage: { op: {}, inputs: ['k0', 'sha256:1'], selected: [{ input: 1, digest: 'sha256:1' }] } }, [
      { name: 'base', key: 'k0' },
      { name: 'x', key: 'k1', source: 'image alpine' },
    ]);
    assert.deepEqual(unlisted, ['the files selected from image alpine changed (sha256:1 → sha256:2)']);
  });
});
