/**
 * `ADD <url>` against a real local HTTP server that misbehaves: bodies cut short (connection closed
 * before Content-Length bytes), resets mid-body, 5xx then success.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { HttpDownloads, type DownloadOptions } from '../../src/ops/http.js';

const BODY = Buffer.alloc(256 * 1024, 'x');
let server: Server;
let base: string;
let work: string;
const hits = new Map<string, number>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-http-'));
  server = createServer((request, response) => {
    const path = request.url ?? '/';
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    if (path.startsWith('/cut')) {
      // Promises the whole body, sends a third, then drops the connection.
      response.writeHead(200, { 'content-length': String(BODY.length) });
      response.write(BODY.subarray(0, BODY.length / 4), () => response.socket?.destroy());
      return;
    }
    if (path === '/flaky' && hit < 3) {
      if (hit === 1) {
        response.writeHead(503);
        response.end();
      } else {
        response.writeHead(200, { 'content-length': String(BODY.length) });
        response.write(BODY.subarray(0, 1000), () => response.socket?.destroy());
      }
      return;
    }
    if (path === '/missing') {
      response.writeHead(404);
      response.end();
      return;
    }
    response.writeHead(200, { 'content-length': String(BODY.length) });
    response.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

const signal = new AbortController().signal;
// The servers listen on loopback: downloads from the host itself need `--allow network.host`.
const fast = { baseDelayMs: 1, allowHostLocal: true };
/** The downloads of one "build" with root `root`. */
const downloads = (root: string, options: Partial<DownloadOptions> = {}): HttpDownloads => new HttpDownloads({ root, ...fast, ...options });

describe('ADD <url> downloads', () => {
  it('a body cut short ends in a clear error naming the URL and the bytes, after retries', async () => {
    const root = join(work, 'cut');
    await assert.rejects(downloads(root).fetch({ type: 'http', url: `${base}/cut?X-Signature=hunter2`, filename: 'f' }, signal), (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.equal(error.code, 'REGISTRY_ERROR');
      assert.match(error.message, /^ADD http:\/\/127\.0\.0\.1:\d+\/cut\?…: the download was cut short after 65536 of 262144 bytes/);
      assert.match(error.message, /\(3 attempts\)$/);
      assert.doesNotMatch(error.message, /hunter2|internal error/);
      return true;
    });
    assert.equal(hits.get('/cut?X-Signature=hunter2'), 3);
    assert.deepEqual(await readdir(root), [], 'no partial download is left behind');
  });

  it('retries a 503 and a reset, then succeeds', async () => {
    const root = join(work, 'flaky');
    const events = new RecordingSink();
    const build = downloads(root, { events });
    const dir = await build.fetch({ type: 'http', url: `${base}/flaky`, filename: 'f' }, signal);
    assert.equal(hits.get('/flaky'), 3);
    // Each retry says why.
    const retries = events.events.flatMap((e) => (e.type === 'registry.retry' ? [`${e.what} | ${e.reason} | ${e.attempt}/${e.attempts}`] : []));
    assert.equal(retries.length, 2, retries.join('\n'));
    assert.match(retries[0] ?? '', /^ADD http:\/\/127\.0\.0\.1:\d+\/flaky \| the server answered 503 Service Unavailable \| 1\/3$/);
    assert.match(retries[1] ?? '', /^ADD \S+ \| the download was cut short after \d+ of 262144 bytes.* \| 2\/3$/);
    assert.deepEqual(await readFile(join(dir, 'f')), BODY);
    assert.equal((await stat(join(dir, 'f'))).mode & 0o777, 0o600);
    // The cache-key phase of the same build uses the same download (no new request).
    const key = await build.cacheKey({ type: 'http', url: `${base}/flaky`, filename: 'f' }, signal);
    assert.equal(hits.get('/flaky'), 3);
    assert.deepEqual(key, { type: 'http', digest: `sha256:${createHash('sha256').update(BODY).digest('hex')}`, filename: 'f' });
  });

  it('each build owns its downloads: another build fetches the URL again into its own root', async () => {
    const op = { type: 'http', url: `${base}/owned`, filename: 'f' } as const;
    const first = await downloads(join(work, 'owned-1')).fetch(op, signal);
    const second = await downloads(join(work, 'owned-2')).fetch(op, signal);
    assert.equal(hits.get('/owned'), 2);
    assert.ok(first.startsWith(join(work, 'owned-1')) && second.startsWith(join(work, 'owned-2')));
  });

  it('does not retry a 404', async () => {
    await assert.rejects(downloads(join(work, 'missing')).fetch({ type: 'http', url: `${base}/missing`, filename: 'f' }, signal), { code: 'NOT_FOUND' });
    assert.equal(hits.get('/missing'), 1);
  });
});
