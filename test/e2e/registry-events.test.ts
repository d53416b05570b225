/**
 * Registry retries and blob transfers as progress events, through the built CLI: a proxy in front of
 * a real registry fails the first request of each kind (503 for manifests and uploads, a dropped
 * connection mid-blob); the rawjson stream has `registry.retry` naming the request and the reason,
 * and the plain renderer prints it, for `build`, `pull` and `push` alike.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RawJsonLine } from '../../src/events/index.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { CLI_PATH } from '../helpers/cli.js';
import { sendUpstream, startProxy, type TestProxy } from '../helpers/http-proxy.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

/** Runs the CLI without blocking this process's event loop (the proxy lives here). */
function cli(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function rawjson(stderr: string): ReturnType<typeof RawJsonLine.parse>[] {
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l)));
}

describe('registry retries and transfers are progress events', { timeout: 240_000 }, () => {
  let work: string;
  let registry: TestRegistry;
  let proxy: TestProxy;
  let image: LayoutImage;
  /** What the proxy has failed once already (reset before each test). */
  let failed = new Set<string>();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-registry-events-'));
    registry = await startRegistry();
    image = await makeBusyboxImage(work);
    pushLayout(image, `${registry.host}/library/busybox:1`);
    proxy = await startProxy(registry.host, {
      intercept: (req, res) => {
        const url = req.url ?? '';
        // No cross-repository mounts, so that a push uploads its blobs.
        if (req.method === 'POST' && url.includes('mount=')) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
          return true;
        }
        // The first manifest GET and the first blob upload (a PUT with ?digest=) answer 503.
        const kind = req.method === 'GET' && url.includes('/manifests/') ? 'manifest' : req.method === 'PUT' && url.includes('/blobs/uploads/') ? 'upload' : undefined;
        if (kind === undefined || failed.has(kind)) return false;
        failed.add(kind);
        res.writeHead(503, 'Service Unavailable', { 'content-type': 'text/plain' }).end('try later');
        return true;
      },
      respond: (req, upstream, res) => {
        // The first layer download is cut after half its bytes: the client resumes it.
        if (req.method === 'GET' && (req.url ?? '').endsWith(image.layerDigest) && upstream.status === 200 && !failed.has('layer')) {
          failed.add('layer');
          res.writeHead(200, { ...upstream.headers, 'content-length': String(upstream.body.length) });
          res.write(upstream.body.subarray(0, upstream.body.length >> 1), () => res.destroy());
          return;
        }
        sendUpstream(upstream, res);
      },
    });
  });
  beforeEach(() => {
    failed = new Set();
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  });

  async function context(name: string): Promise<string> {
    const dir = join(work, name);
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), `FROM ${proxy.host}/library/busybox:1\nCOPY hello /hello\n`);
    await writeFile(join(dir, 'hello'), 'hi\n');
    return dir;
  }

  it('build --progress=rawjson: the retried manifest GET and the resumed layer say why; the layer transfer completes', async () => {
    const run = await cli(['--root', join(work, 'root-rawjson'), 'build', '--progress=rawjson', await context('rawjson')]);
    assert.equal(run.status, 0, run.stderr);
    const events = rawjson(run.stderr);
    const retries = events.filter((e) => e.type === 'registry.retry');
    const manifest = retries.find((e) => e.what.startsWith('GET manifest'));
    assert.ok(manifest !== undefined, JSON.stringify(retries));
    assert.equal(manifest.reason, '503 Service Unavailable');
    assert.equal(manifest.what, `GET manifest ${proxy.host}/library/busybox:1`);
    assert.equal(manifest.attempt, 1);
    assert.equal(manifest.attempts, 5);
    const layer = retries.find((e) => e.what === `GET blob ${proxy.host}/library/busybox@${image.layerDigest}`);
    assert.ok(layer !== undefined, JSON.stringify(retries));
    assert.match(layer.reason, /terminated|other side closed|socket/i);
    const done = events.find((e) => e.type === 'transfer.completed' && e.digest === image.layerDigest);
    assert.ok(done?.type === 'transfer.completed' && done.outcome === 'done' && done.direction === 'pull' && done.kind === 'layer', JSON.stringify(done));
    assert.ok(events.some((e) => e.type === 'transfer.started' && e.digest === image.layerDigest));
  });

  it('build --progress=plain prints the retry with its reason', async () => {
    const run = await cli(['--root', join(work, 'root-plain'), 'build', '--progress=plain', await context('plain')]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`RETRY: GET manifest ${proxy.host.replace(/\./g, '\\.')}/library/busybox:1: 503 Service Unavailable, retry 1 of 4 in \\d+\\.\\d s`));
    assert.match(run.stderr, /RETRY: GET blob \S+@[a-f0-9]{12}: .*retry 1 of 4/);
    assert.match(run.stderr, new RegExp(`pull ${proxy.host.replace(/\./g, '\\.')}/library/busybox@${image.layerDigest.slice(7, 19)}: layer done`));
  });

  it('build --progress=tty shows the layer transfer and the retries with their reasons', async () => {
    const run = await cli(['--root', join(work, 'root-tty'), 'build', '--progress=tty', await context('tty')], { ...process.env, COLUMNS: '220' });
    assert.equal(run.status, 0, run.stderr);
    // The last frame is painted when the build ends; the text of every frame stays in the output.
    const text = run.stderr.replace(/\x1b\[[0-9]*[ABK]/g, '');
    assert.match(text, /RETRY: GET manifest \S+\/library\/busybox:1: 503 Service Unavailable, retry 1 of 4 in \d+\.\d s/);
    assert.match(text, /RETRY: GET blob \S+@[a-f0-9]{12}: .*retry 1 of 4/);
    assert.match(text, new RegExp(` => pull \\S+/library/busybox@${image.layerDigest.slice(7, 19)} layer \\S+ done`));
  });

  it('pull and push use the same events: retries and transfers in plain and rawjson', async () => {
    const root = join(work, 'root-pull');
    const pulled = await cli(['--root', root, 'pull', '--progress=plain', `${proxy.host}/library/busybox:1`]);
    assert.equal(pulled.status, 0, pulled.stderr);
    assert.match(pulled.stderr, /RETRY: GET manifest \S+: 503 Service Unavailable, retry 1 of 4/);
    assert.match(pulled.stderr, /: layer done, /);
    failed = new Set(['manifest', 'layer']);
    const pushed = await cli(['--root', root, 'push', '--progress=rawjson', `${proxy.host}/library/busybox:1`, `${proxy.host}/copy/busybox:2`]);
    assert.equal(pushed.status, 0, pushed.stderr);
    const events = rawjson(pushed.stderr);
    const upload = events.find((e) => e.type === 'registry.retry' && e.what.startsWith('upload blob'));
    assert.ok(upload?.type === 'registry.retry' && upload.reason.startsWith('503 Service Unavailable'), JSON.stringify(events.filter((e) => e.type === 'registry.retry')));
    const outcomes = events.flatMap((e) => (e.type === 'transfer.completed' && e.direction === 'push' ? [`${e.kind}:${e.outcome}`] : []));
    assert.ok(outcomes.includes('manifest:done'), outcomes.join(' '));
    assert.ok(outcomes.includes('layer:done'), outcomes.join(' '));
    assert.ok(events.some((e) => e.type === 'transfer.progress' && e.direction === 'push'), 'upload progress');
  });
});
