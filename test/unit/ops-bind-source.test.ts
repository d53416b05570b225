/** Bind-mount sources resolve inside their own root (issue 13, fault 1): no host path is ever handed to runc. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { resolveBindSource } from '../../src/ops/bind-source.js';

describe('resolveBindSource', () => {
  let work: string;
  let root: string;
  let host: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-bind-'));
    root = join(work, 'root');
    host = join(work, 'host');
    await mkdir(join(host, 'sub'), { recursive: true });
    await writeFile(join(host, 'secret'), 'HOST');
    // The root holds its own copy of the host path, where every link below must lead.
    await mkdir(join(root, host.slice(1), 'sub'), { recursive: true });
    await writeFile(join(root, host.slice(1), 'secret'), 'ROOT');
    await symlink(host, join(root, 'abs'));
    await symlink(`../../../../../../../../..${host}`, join(root, 'rel'));
    await symlink(join(host, 'secret'), join(root, 'file'));
    await mkdir(join(root, 'deep/a'), { recursive: true });
    await symlink(`../../../../../../../../..${host}`, join(root, 'deep/a/up'));
    await symlink('/loop', join(root, 'loop'));
    await symlink('/nowhere', join(root, 'dangling'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const inRoot = (path: string): string => join(root, path);

  it('follows absolute and climbing symlinks with the root as /', async () => {
    assert.equal(await resolveBindSource(root, '/abs'), inRoot(host));
    assert.equal(await resolveBindSource(root, 'rel'), inRoot(host));
    assert.equal(await resolveBindSource(root, '/file'), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/deep/a/up/secret'), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/abs/sub'), inRoot(join(host, 'sub')));
  });

  it('clamps .. in the source itself at the root', async () => {
    assert.equal(await resolveBindSource(root, `../../../../../..${host}/secret`), inRoot(join(host, 'secret')));
    assert.equal(await resolveBindSource(root, '/..'), root);
    assert.equal(await resolveBindSource(root, '/'), root);
  });

  it('reports what resolves to nothing inside the root as FILE_NOT_FOUND, naming the source', async () => {
    for (const source of ['/dangling', '/missing', '/file/below']) {
      await assert.rejects(resolveBindSource(root, source), (error: unknown) => isStagecraftError(error) && error.code === 'FILE_NOT_FOUND' && error.message.includes(`"${source}"`));
    }
    await assert.rejects(resolveBindSource(root, '/loop'), (error: unknown) => isStagecraftError(error) && /symbolic links/.test(error.message));
  });

  it('works when the root itself is reached through a symlink', async () => {
    const alias = join(work, 'alias');
    await symlink(root, alias);
    assert.equal(await resolveBindSource(alias, '/abs'), inRoot(host));
  });
});
