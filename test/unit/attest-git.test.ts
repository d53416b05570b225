import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gitSource } from '../../src/attest/git.js';

/** Real repositories made with the git binary; gitSource reads them without it. */
function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'gc.auto=0', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'c', GIT_COMMITTER_EMAIL: 'c@example.com', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();
}

async function repo(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '-q');
  return dir;
}

async function commit(dir: string, file: string, text: string, time: number): Promise<string> {
  await writeFile(join(dir, file), text);
  git(dir, 'add', file);
  execFileSync('git', ['commit', '-q', '-m', `change ${file}\n\n${'a long, similar commit message body so that packs store commits as deltas\n'.repeat(40)}${text}`], {
    cwd: dir,
    env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'c', GIT_COMMITTER_EMAIL: 'c@example.com', GIT_AUTHOR_DATE: `${time} +0200`, GIT_COMMITTER_DATE: `${time} +0200`, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  return git(dir, 'rev-parse', 'HEAD');
}

describe('gitSource', () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'gitsource-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('reads HEAD → branch → loose commit, its committer time, and origin without credentials', async () => {
    const dir = await repo(tmp, 'loose');
    const id = await commit(dir, 'a.txt', 'one', 1_700_000_000);
    git(dir, 'remote', 'add', 'origin', 'https://user:s3cr3t-token@example.com/org/repo.git');
    const source = await gitSource(dir);
    assert.deepEqual(source, { uri: 'https://example.com/org/repo.git', commit: id, commitTime: 1_700_000_000, ref: 'refs/heads/main', subdir: '' });
    assert.ok(!JSON.stringify(source).includes('s3cr3t'));
  });

  it('finds the work tree from a subdirectory and says where the directory is in it', async () => {
    const dir = await repo(tmp, 'sub');
    await mkdir(join(dir, 'app/src'), { recursive: true });
    const id = await commit(dir, 'app/src/x', 'x', 1_700_000_100);
    const source = await gitSource(join(dir, 'app/src'));
    assert.equal(source?.commit, id);
    assert.equal(source?.subdir, 'app/src');
    assert.equal(source?.uri, undefined);
  });

  it('reads packed refs and packed commits (git gc), including commits stored as deltas', async () => {
    const dir = await repo(tmp, 'packed');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await commit(dir, `f${i}`, `content ${i}`, 1_700_001_000 + i * 60));
    git(dir, 'remote', 'add', 'origin', 'git@example.com:org/repo.git');
    git(dir, 'gc', '-q', '--aggressive', '--prune=now');
    git(dir, 'repack', '-adf', '--window=50', '--depth=50');
    // No loose refs or objects left: everything is read from packed-refs and the pack.
    assert.equal(git(dir, 'count-objects', '-v').split('\n').find((l) => l.startsWith('count:')), 'count: 0');
    const head = await gitSource(dir);
    assert.deepEqual(head, { uri: 'git@example.com:org/repo.git', commit: ids[11], commitTime: 1_700_001_000 + 11 * 60, ref: 'refs/heads/main', subdir: '' });
    // A commit the pack holds as a delta (git verify-pack lists its chain depth), read at a detached HEAD.
    const pack = git(dir, 'rev-parse', '--git-path', 'objects/pack');
    const idx = (await import('node:fs/promises')).readdir(join(dir, pack));
    const idxName = (await idx).find((n) => n.endsWith('.idx')) ?? '';
    const verify = git(dir, 'verify-pack', '-v', join(pack, idxName));
    const deltas = verify.split('\n').map((l) => l.split(/\s+/u)).filter((f) => f[1] === 'commit' && f.length >= 7).map((f) => f[0] ?? '');
    assert.ok(deltas.length > 0, `no commit stored as a delta:\n${verify}`);
    for (const id of deltas) {
      await writeFile(join(dir, '.git/HEAD'), `${id}\n`);
      const source = await gitSource(dir);
      const index = ids.indexOf(id);
      assert.equal(source?.commit, id);
      assert.equal(source?.ref, undefined);
      assert.equal(source?.commitTime, 1_700_001_000 + index * 60, `commit ${index}`);
    }
  });

  it('reads a linked work tree (.git is a gitdir: file, refs in the common dir)', async () => {
    const dir = await repo(tmp, 'main-tree');
    const id = await commit(dir, 'a', 'a', 1_700_002_000);
    const linked = join(tmp, 'linked-tree');
    git(dir, 'worktree', 'add', '-q', '-b', 'feature', linked);
    const source = await gitSource(linked);
    assert.equal(source?.commit, id);
    assert.equal(source?.ref, 'refs/heads/feature');
    assert.equal(source?.commitTime, 1_700_002_000);
  });

  it('is undefined outside a repository and for a repository without commits', async () => {
    const plain = join(tmp, 'plain');
    await mkdir(plain);
    // tmpdir is not in a work tree on the test machines; a fresh repo has an unborn branch.
    assert.equal(await gitSource(plain), undefined);
    const empty = await repo(tmp, 'empty');
    assert.equal(await gitSource(empty), undefined);
  });

  it('never reads out of .git through symlinks, and a FIFO or a huge HEAD neither hangs nor throws', async () => {
    const outside = join(tmp, 'outside');
    await mkdir(outside);
    const foreign = 'ref: refs/heads/stolen';
    await writeFile(join(outside, 'HEAD'), foreign);
    // .git itself a symlink to another repository: not followed.
    const other = await repo(tmp, 'other');
    await commit(other, 'a', 'a', 1_700_003_000);
    const linkDir = join(tmp, 'link-dotgit');
    await mkdir(linkDir);
    await symlink(join(other, '.git'), join(linkDir, '.git'));
    assert.equal(await gitSource(linkDir), undefined);

    const dir = await repo(tmp, 'hostile');
    const id = await commit(dir, 'a', 'a', 1_700_003_100);
    // A loose ref that is a symlink to a host file holding an object id: resolved inside .git (missing).
    await writeFile(join(outside, 'id'), `${id}\n`);
    await rm(join(dir, '.git/refs/heads/main'));
    await symlink(join(outside, 'id'), join(dir, '.git/refs/heads/main'));
    assert.equal(await gitSource(dir), undefined);
    // HEAD a FIFO: not opened.
    await rm(join(dir, '.git/HEAD'));
    execFileSync('mkfifo', [join(dir, '.git/HEAD')]);
    assert.equal(await gitSource(dir), undefined);
    // HEAD huge: capped, not read.
    await rm(join(dir, '.git/HEAD'));
    await writeFile(join(dir, '.git/HEAD'), Buffer.alloc(2 * 1024 * 1024, 0x61));
    assert.equal(await gitSource(dir), undefined);
    // HEAD naming a ref with `..`: refused before any path is made of it.
    await writeFile(join(dir, '.git/HEAD'), 'ref: refs/../../../outside/id\n');
    assert.equal(await gitSource(dir), undefined);
    // A corrupt object: the commit is known, its time is not; no throw.
    await writeFile(join(dir, '.git/HEAD'), `${id}\n`);
    const object = join(dir, '.git/objects', id.slice(0, 2), id.slice(2));
    await rm(object, { force: true });
    await writeFile(object, Buffer.from('not zlib at all'));
    assert.deepEqual(await gitSource(dir), { uri: undefined, commit: id, commitTime: undefined, ref: undefined, subdir: '' });
  });
});
