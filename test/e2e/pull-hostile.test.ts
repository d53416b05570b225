/**
 * The built CLI against a registry behind a hostile proxy: what the user sees is a registry error that
 * names the blob or manifest and what is wrong (exit 5), never "internal error" (exit 70).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { CLI_PATH } from '../helpers/cli.js';
import { sendUpstream, startProxy, type TestProxy } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/** Runs the CLI without blocking this process's event loop (the proxy lives here). */
function cli(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

const sha = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

describe('stagecraft pull and build from a hostile registry', { timeout: 180_000 }, () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: TestProxy;
  let image: LayoutImage;
  let corrupted = '';
  let layerSize = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-pull-hostile-'));
    registry = await startRegistry();
    image = await makeBusyboxImage(work);
    pushLayout(image, `${registry.host}/library/busybox:1`);
    const manifest = await readFile(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)));
    // Reads as an image manifest and, by its `manifests`, as an index of itself.
    const ambiguous = Buffer.from(JSON.stringify({
      ...(JSON.parse(manifest.toString()) as Record<string, unknown>),
      mediaType: undefined,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } }],
    }));
    proxy = await startProxy(registry.host, {
      intercept: (req, res) => {
        if (!(req.url ?? '').endsWith('/manifests/amb')) return false;
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.index.v1+json' }).end(ambiguous);
        return true;
      },
      respond: (req, upstream, res) => {
        const url = req.url ?? '';
        if (req.method === 'GET' && url.endsWith(image.configDigest) && upstream.status === 200) {
          // The config comes slowly, so it is still downloading when the layer fails.
          setTimeout(() => sendUpstream(upstream, res), 1500).unref();
          return;
        }
        if (req.method === 'GET' && url.endsWith(image.layerDigest) && upstream.status === 200) {
          const body = Buffer.from(upstream.body);
          body[body.length >> 1]! ^= 0xff;
          corrupted = sha(body);
          layerSize = body.length;
          sendUpstream({ ...upstream, body }, res);
          return;
        }
        sendUpstream(upstream, res);
      },
    });
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a corrupted layer: DIGEST_MISMATCH naming the repository, the blob and both digests; nothing stored', async () => {
    const root = join(work, 'root-pull');
    const result = await cli(['--root', root, 'pull', `${proxy.host}/library/busybox:1`]);
    assert.equal(result.status, 5, result.stderr);
    assert.doesNotMatch(result.stderr, /internal error/);
    assert.ok(result.stderr.includes(`blob ${image.layerDigest} from ${proxy.host}/library/busybox: expected ${image.layerDigest} (${layerSize} bytes), got ${corrupted} (${layerSize} bytes)`), result.stderr);
    assert.ok(!(await readdir(join(root, 'content/blobs/sha256'))).includes(image.layerDigest.slice(7)));
    assert.deepEqual(await readdir(join(root, 'content/ingest')), []);
  });

  it('an ambiguous manifest: INVALID_MANIFEST naming the reference, from pull and from a Dockerfile FROM', async () => {
    const root = join(work, 'root-amb');
    const pulled = await cli(['--root', root, 'pull', `${proxy.host}/library/busybox:amb`]);
    assert.equal(pulled.status, 5, pulled.stderr);
    assert.match(pulled.stderr, new RegExp(`${proxy.host}/library/busybox:amb is ambiguous: it is an index`));
    const context = join(work, 'context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), `FROM ${proxy.host}/library/busybox:amb\nRUN true\n`);
    const built = await cli(['--root', root, 'build', '--progress=plain', context]);
    assert.equal(built.status, 5, built.stderr);
    assert.match(built.stderr, /is ambiguous/);
  });
});
