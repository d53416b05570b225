/**
 * Two processes on one state root: both ingest the same blobs at the same moment and tag names at
 * once. Run as a test, this file spawns itself twice as workers (STAGECRAFT_TEST_WORKER set).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { canonicalJson, parseDigest } from '../../src/core/index.js';
import { openContent } from '../../src/content/index.js';
import { Database } from '../../src/db/index.js';

const BLOBS = 6;
const BLOB_SIZE = 2 << 20;
const NAMES = 15;

function blobData(i: number): Buffer {
  const out = Buffer.alloc(BLOB_SIZE);
  let x = i + 1;
  for (let j = 0; j < out.length; j++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[j] = x & 0xff;
  }
  return out;
}

async function worker(root: string, id: string): Promise<void> {
  const db = Database.open(join(root, 'metadata.db'));
  const content = await openContent({ root: join(root, 'content'), db });
  await writeFile(join(root, `ready-${id}`), '');
  const go = join(root, 'go');
  while (!existsSync(go)) await sleep(5);
  const results: string[] = [];
  for (let i = 0; i < BLOBS; i++) {
    const data = blobData(i);
    const digest = parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    async function* slowly(): AsyncGenerator<Buffer> {
      for (let offset = 0; offset < data.length; offset += 64 << 10) {
        await new Promise((resolve) => setImmediate(resolve));
        yield data.subarray(offset, offset + (64 << 10));
      }
    }
    const blob = await content.blobs.ingest(slowly(), { digest, size: data.length });
    results.push(blob.digest);
  }
  const manifest = await content.blobs.put(canonicalJson({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
  for (let n = 0; n < NAMES; n++) {
    content.references.set(`localhost:5000/worker-${id}:${n}`, { digest: manifest.digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: manifest.size });
  }
  db.close();
  process.stdout.write(JSON.stringify(results));
}

function runWorker(root: string, id: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...process.env, STAGECRAFT_TEST_WORKER: `${root}\n${id}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const workerArg = process.env.STAGECRAFT_TEST_WORKER;
if (workerArg !== undefined) {
  const [root = '', id = ''] = workerArg.split('\n');
  await worker(root, id);
} else {
  describe('content: two processes on one store', () => {
    it('ingest the same blobs at once and tag at once; one verified copy each, no temp files, every name in index.json', { timeout: 120_000 }, async () => {
      const root = await mkdtemp(join(tmpdir(), 'stagecraft-concurrent-'));
      try {
        const runs = Promise.all([runWorker(root, 'a'), runWorker(root, 'b')]);
        // Release both workers together once both have opened the store.
        while (!existsSync(join(root, 'ready-a')) || !existsSync(join(root, 'ready-b'))) await sleep(10);
        await writeFile(join(root, 'go'), '');
        const [a, b] = await runs;
        assert.equal(a.code, 0, a.stderr);
        assert.equal(b.code, 0, b.stderr);
        const digestsA = z.array(z.string()).parse(JSON.parse(a.stdout));
        const digestsB = z.array(z.string()).parse(JSON.parse(b.stdout));
        assert.deepEqual(digestsA, digestsB);
        for (let i = 0; i < BLOBS; i++) {
          const stored = await readFile(join(root, 'content/blobs/sha256', (digestsA[i] ?? '').slice(7)));
          assert.ok(stored.equals(blobData(i)), `blob ${i} is intact`);
        }
        assert.deepEqual(await readdir(join(root, 'content/ingest')), []);
        const db = Database.open(join(root, 'metadata.db'));
        const content = await openContent({ root: join(root, 'content'), db });
        assert.equal(content.references.list().length, 2 * NAMES);
        db.close();
        const index = z.object({ manifests: z.array(z.object({ annotations: z.record(z.string(), z.string()) })) }).parse(JSON.parse(await readFile(join(root, 'content/index.json'), 'utf8')));
        assert.equal(index.manifests.length, 2 * NAMES, 'the last index.json rewrite saw every name');
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  });
}
