import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { topmostLayerWith } from '../../src/engine/attest.js';

describe('layerOf: the layer that last wrote a path (overlay layer dirs, topmost first)', () => {
  const root = mkdtempSync(join(tmpdir(), 'layer-of-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const layer = (name: string, files: Record<string, string>): string => {
    const dir = join(root, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const base = layer('base', { 'var/lib/dpkg/status': 'base', 'etc/os-release': 'ID=debian' });
  const middle = layer('middle', { 'var/lib/dpkg/status': 'updated', 'usr/bin/tool': 'x' });
  const top = layer('top', { 'app/main.js': '1' });
  // A symlink in the top layer pointing at a host directory that holds the path: never followed.
  const outside = layer('outside', { 'usr/bin/tool': 'host' });
  symlinkSync(join(outside, 'usr'), join(top, 'usr'));
  const dirs = [top, middle, base];

  it('finds the topmost layer holding the path, the base for files no later layer touched', async () => {
    assert.equal(await topmostLayerWith(dirs, '/var/lib/dpkg/status'), 1);
    assert.equal(await topmostLayerWith(dirs, '/etc/os-release'), 2);
    assert.equal(await topmostLayerWith(dirs, '/app/main.js'), 0);
    assert.equal(await topmostLayerWith(dirs, 'var/lib/dpkg/status'), 1, 'relative paths too');
  });

  it('never follows a symlink component, and refuses .. and absent paths', async () => {
    // top/usr is a symlink to a directory holding usr/bin/tool: it is not the writer.
    assert.equal(await topmostLayerWith(dirs, '/usr/bin/tool'), 1);
    assert.equal(await topmostLayerWith(dirs, '/../outside/usr/bin/tool'), undefined);
    assert.equal(await topmostLayerWith(dirs, '/nope'), undefined);
    assert.equal(await topmostLayerWith(dirs, '/'), undefined);
    assert.equal(await topmostLayerWith([undefined, base], '/etc/os-release'), 1, 'a layer without a directory is skipped');
  });
});
