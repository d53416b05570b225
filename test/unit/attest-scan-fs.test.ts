import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileTooLargeError, directoryScanFs } from '../../src/attest/index.js';

describe('directoryScanFs', () => {
  let dir: string;
  let root: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scanfs-'));
    root = join(dir, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    await mkdir(join(root, 'usr/lib'), { recursive: true });
    await writeFile(join(dir, 'host-secret'), 'HOST');
    await writeFile(join(root, 'etc/os-release'), 'ID=debian\n');
    await writeFile(join(root, 'usr/lib/big'), Buffer.alloc(100, 1));
    await symlink('/etc/os-release', join(root, 'usr/lib/os-release'));
    await symlink(join(dir, 'host-secret'), join(root, 'etc/escape'));
    await symlink('../../../../../../host-secret', join(root, 'etc/escape2'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('walks every entry once, sorted, without following symlinks', async () => {
    const fs = directoryScanFs(root);
    const entries = await fs.entries();
    assert.deepEqual(entries.map((e) => `${e.path}:${e.type}`), [
      '/etc:dir', '/etc/escape:symlink', '/etc/escape2:symlink', '/etc/os-release:file',
      '/usr:dir', '/usr/lib:dir', '/usr/lib/big:file', '/usr/lib/os-release:symlink',
    ]);
    assert.equal(entries.find((e) => e.path === '/usr/lib/big')?.size, 100);
  });

  it('resolves symlinks inside the root, never on the host', async () => {
    const fs = directoryScanFs(root);
    assert.equal((await fs.readFile('/usr/lib/os-release'))?.toString(), 'ID=debian\n');
    // Absolute and ../ targets start again at the root: the host file is not reached.
    assert.equal(await fs.readFile('/etc/escape'), undefined);
    assert.equal(await fs.readFile('/etc/escape2'), undefined);
    assert.equal(await fs.readFile('/etc'), undefined);
    assert.equal(await fs.readFile('/missing/file'), undefined);
  });

  it('reads ranges and refuses files over the limit', async () => {
    const fs = directoryScanFs(root);
    assert.deepEqual(await fs.readRange('/usr/lib/big', 95, 10), Buffer.alloc(5, 1));
    await assert.rejects(fs.readFile('/usr/lib/big', { maxBytes: 10 }), FileTooLargeError);
  });
});
