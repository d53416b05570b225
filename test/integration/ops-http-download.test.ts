/**
 * `ADD <url>` against a real local HTTP server that misbehaves: bodies cut short (connection closed
 * before Content-Length bytes), resets mid-body, 5xx then success; the downloads land in the content
 * store under their digest, held by the build's lease, and nothing short or mismatching is stored.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError, sha256Digest } from '../../src/core/index.js';
import { openContent, type Content } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { HttpDownloads, type DownloadOptions } from '../../src/ops/http.js';

const BODY = Buffer.alloc(256 * 1024, 'x');
/** Served at /unique and at /wrong: content no other test stores. */
const UNIQUE = Buffer.alloc(100 * 1024, 'u');
const OTHER = Buffer.alloc(100 * 1024, 'o');
let server: Server;
let base: string;
let work: string;
let db: Database;
let content: Content;
const hits = new Map<string, number>();

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'stagecraft-http-'));
  db = Database.open(join(work, 'metadata.db'));
  content = await openContent({ root: join(work, 'content'), db });
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
    if (path === '/unique' || path === '/wrong') {
      response.writeHead(200, { 'content-length': String(UNIQUE.length) });
      response.end(path === '/unique' ? UNIQUE : OTHER);
      return;
    }
    if (path === '/reset') {
      // No Content-Length: only the reset tells that the body is incomplete.
      response.writeHead(200);
      response.write(BODY.subarray(0, 1000), () => response.socket?.destroy());
      return;
    }
    if (path.startsWith('/missing')) {
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
  db.close();
  await rm(work, { recursive: true, force: true });
});

const signal = new AbortController().signal;
// The servers listen on loopback: downloads from the host itself need `--allow network.host`.
const fast = { baseDelayMs: 1, allowHostLocal: true };
/** The downloads of one "build" with root `root`. */
const downloads = (root: string, options: Partial<DownloadOptions> = {}): HttpDownloads => new HttpDownloads({ root, content, ...fast, ...options });

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
    assert.deepEqual(await readdir(root).catch(() => []), [], 'no partial download is left behind');
    assert.equal(await content.blobs.has(sha256Digest(BODY.subarray(0, BODY.length / 4))), false, 'the short body is not stored');
    assert.deepEqual(await readdir(content.blobs.ingestDir), [], 'no partial blob is left in the store');
  });

  it('a reset body without Content-Length is not stored', async () => {
    await assert.rejects(downloads(join(work, 'reset')).fetch({ type: 'http', url: `${base}/reset`, filename: 'f' }, signal), (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.match(error.message, /the download was cut short after \d+ bytes: .*\(3 attempts\)$/);
      return true;
    });
    assert.equal(await content.blobs.has(sha256Digest(BODY.subarray(0, 1000))), false);
    assert.deepEqual(await readdir(content.blobs.ingestDir), []);
  });

  it('stores the download in the content store under its digest, held by the build until it ends', async () => {
    const digest = sha256Digest(UNIQUE);
    const build = downloads(join(work, 'stored'));
    const op = { type: 'http', url: `${base}/unique`, filename: 'u.bin' } as const;
    const dir = await build.fetch(op, signal);
    assert.equal(await build.blob(op, signal), digest);
    assert.deepEqual(await content.blobs.read(digest), UNIQUE);
    assert.ok(content.leases.isLeased(digest), 'the build holds the blob');
    // The ADD copies a file written from the store, 0600 as BuildKit's HTTP source.
    assert.deepEqual(await readFile(join(dir, 'u.bin')), UNIQUE);
    assert.equal((await stat(join(dir, 'u.bin'))).mode & 0o777, 0o600);
    assert.equal((await stat(content.blobs.blobPath(digest))).mode & 0o777, 0o644, 'the stored blob keeps its own mode');
    await build[Symbol.asyncDispose]();
    assert.equal(content.leases.isLeased(digest), false, 'the lease ends with the build');
    assert.ok(await content.blobs.has(digest));
  });

  for (const algorithm of ['sha256', 'sha512'] as const) {
    it(`a download that does not match --checksum=${algorithm}:… fails and is not stored`, async () => {
      // Content never stored (a stored sha256 blob would be used without a download).
      const checksum = `${algorithm}:${createHash(algorithm).update('never served').digest('hex')}`;
      const before = hits.get('/wrong') ?? 0;
      await assert.rejects(downloads(join(work, `wrong-${algorithm}`)).fetch({ type: 'http', url: `${base}/wrong`, checksum, filename: 'f' }, signal), (error: unknown) => {
        assert.ok(isStagecraftError(error), String(error));
        assert.equal(error.code, 'DIGEST_MISMATCH');
        assert.equal(error.message, `ADD ${base}/wrong: digest mismatch ${algorithm}:${createHash(algorithm).update(OTHER).digest('hex')} != ${checksum}`);
        return true;
      });
      assert.equal(hits.get('/wrong'), before + 1, 'a mismatch is not retried');
      assert.equal(await content.blobs.has(sha256Digest(OTHER)), false, 'the mismatching body is not stored');
      assert.deepEqual(await readdir(content.blobs.ingestDir), []);
    });
  }

  it('a sha512 checksum that matches keys the download by the checksum and stores it by sha256', async () => {
    const checksum = `sha512:${createHash('sha512').update(UNIQUE).digest('hex')}`;
    const build = downloads(join(work, 'sha512'));
    const op = { type: 'http', url: `${base}/unique`, checksum, filename: 'f' } as const;
    assert.deepEqual(await build.cacheKey(op, signal), { type: 'http', checksum, filename: 'f' });
    assert.deepEqual(await readFile(join(await build.fetch(op, signal), 'f')), UNIQUE);
    assert.equal(await build.blob(op, signal), sha256Digest(UNIQUE));
  });

  it('a sha256 checksum naming a blob already in the store still downloads: a Dockerfile cannot read store blobs by digest', async () => {
    // A "private layer" in the store, whose digest a hostile Dockerfile knows.
    const secret = Buffer.alloc(4096, 's');
    const digest = sha256Digest(secret);
    await content.blobs.put(secret);
    await assert.rejects(downloads(join(work, 'known')).fetch({ type: 'http', url: `${base}/missing-private`, checksum: digest, filename: 'c' }, signal), { code: 'NOT_FOUND' });
    const before = hits.get('/wrong') ?? 0;
    await assert.rejects(downloads(join(work, 'known-2')).fetch({ type: 'http', url: `${base}/wrong`, checksum: digest, filename: 'c' }, signal), { code: 'DIGEST_MISMATCH' });
    assert.equal(hits.get('/wrong'), before + 1);
  });

  it('a stored blob damaged on disk is refused when the ADD reads it', async () => {
    const op = { type: 'http', url: `${base}/unique`, filename: 'd' } as const;
    const digest = await downloads(join(work, 'damage-1')).blob(op, signal);
    await writeFile(content.blobs.blobPath(digest), Buffer.alloc(UNIQUE.length, 'd'));
    await assert.rejects(downloads(join(work, 'damage-2')).fetch(op, signal), { code: 'STORE_CORRUPT' });
    await rm(content.blobs.blobPath(digest));
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
