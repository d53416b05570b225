import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createEngine } from '../../src/engine/index.js';
import { makeBusyboxRootfs, pushLayout, writeLayoutImage } from '../helpers/base-image.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';
import { startProxy, type TestProxy } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

describe('a pull killed with SIGKILL', () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: TestProxy;
  let layerDigest: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-pullkill-'));
    registry = await startRegistry();
    const rootfs = join(work, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    writeFileSync(join(rootfs, 'big.bin'), randomBytes(16 << 20));
    const image = await writeLayoutImage(rootfs, join(work, 'layout'), ['sh']);
    layerDigest = image.layerDigest;
    pushLayout(image, `${registry.host}/big:latest`);
    // The proxy sends half of the big layer, then stalls with the connection open.
    proxy = await startProxy(registry.host, {
      respond: (req, upstream, res) => {
        if (req.method === 'GET' && (req.url ?? '').includes(layerDigest.slice(7))) {
          res.writeHead(upstream.status, upstream.headers);
          res.write(upstream.body.subarray(0, upstream.body.length >> 1));
          return;
        }
        res.writeHead(upstream.status, upstream.headers);
        res.end(upstream.body);
      },
    });
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('leaves a store that lists images, pulls again, and loses the partial file at the next GC', { timeout: 120_000 }, async () => {
    const root = join(work, 'state');
    const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'pull', `${proxy.host}/big:latest`], { stdio: 'ignore' });
    const ingest = join(root, 'content/ingest');
    const deadline = Date.now() + 60_000;
    const partialBytes = (): number => (existsSync(ingest) ? readdirSync(ingest).reduce((sum, f) => sum + statSync(join(ingest, f)).size, 0) : 0);
    while (partialBytes() < 4 << 20) {
      assert.ok(Date.now() < deadline, 'the pull never started writing the layer');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.ok(readdirSync(ingest).length > 0, 'the killed pull left its partial file');
    assert.equal(existsSync(join(root, 'content/blobs/sha256', layerDigest.slice(7))), false, 'nothing unverified became a blob');

    const images = runCli(['--root', root, 'images']);
    assert.equal(images.status, 0, images.stderr);
    const again = runCli(['--root', root, 'pull', `${registry.host}/big:latest`]);
    assert.equal(again.status, 0, again.stderr);
    const inspect = runCli(['--root', root, 'inspect', `${registry.host}/big:latest`]);
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.ok(inspect.stdout.includes(layerDigest));

    const engine = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: root } }));
    try {
      const result = await engine.gc();
      assert.ok(result.staleIngests >= 1, 'GC removed the dead process\'s partial file');
    } finally {
      engine.close();
    }
    assert.deepEqual(readdirSync(ingest), []);
  });
});
