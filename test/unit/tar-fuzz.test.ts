/**
 * Property tests (fast-check, fixed seeds): the tar reader and layer extraction throw nothing but typed
 * StagecraftErrors on random and mutated archives, and extraction never changes anything outside its
 * root, whatever the entries say.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isStagecraftError } from '../../src/core/index.js';
import { extractArchive } from '../../src/ops/file/unpack.js';
import { applyLayer, applyTar, readTar } from '../../src/snapshot/index.js';
import { describeTree, plantCanaries } from '../helpers/canary.js';
import { archive, entry, pax, type RawEntry } from '../helpers/tar-craft.js';

let work: string;
let host: string;
let canaries: string[];
before(async () => {
  // tmpfs when there is one: thousands of tiny extractions are metadata-bound.
  work = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'stagecraft-tarfuzz-'));
  host = join(work, 'host');
  await plantCanaries(host);
  canaries = await describeTree(host);
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function readAll(tar: Buffer): Promise<void> {
  for await (const { body } of readTar(Readable.from([tar]))) for await (const _ of body) void _;
}

function assertTyped(error: unknown): void {
  if (!isStagecraftError(error)) assert.fail(`untyped error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  assert.match(error.code, /^(LAYER_INVALID|LAYER_UNSAFE|SNAPSHOT)$/, error.message);
}

/** Path components an attacker would use, the host path among them. */
const component = fc.constantFrom('a', 'b', 'c', '..', '.', '', 'etc', '.wh.a', '.wh.b', '.wh..wh..opq', '.wh..wh.plnk', 'x\u00e9', 'host', 'secret', 'sub');
const pathArb = fc.oneof(
  fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/')),
  fc.array(component, { minLength: 0, maxLength: 3 }).map((parts) => [host, ...parts].join('/')),
  fc.array(component, { minLength: 0, maxLength: 3 }).map((parts) => ['..', 'host', ...parts].join('/')),
);
const typeArb = fc.constantFrom('0', '0', '0', '1', '2', '2', '5', '6', '3', '7', 'g', 'S');
const entryArb: fc.Arbitrary<RawEntry> = fc.record({
  name: pathArb,
  type: typeArb,
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o2755, 0o1777, 0, 0o7777),
  linkname: pathArb,
  data: fc.constantFrom('', 'pwned', 'x'.repeat(600)),
});
const archiveArb = fc.array(fc.oneof(
  { weight: 8, arbitrary: entryArb.map((e) => entry(e)) },
  { weight: 1, arbitrary: fc.tuple(pathArb, pathArb).map(([path, link]) => pax([['path', path], ['linkpath', link]])) },
), { minLength: 1, maxLength: 12 }).map((parts) => archive(...parts));

/** A valid archive with one header field overwritten by random bytes and the checksum fixed. */
const mutatedArb = fc.tuple(archiveArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([tar, at, bytes]) => {
  const out = Buffer.from(tar);
  const blocks = Math.max(1, Math.floor((out.length - 1024) / 512));
  const block = (at % blocks) * 512;
  const offset = block + (at % 500);
  Buffer.from(bytes).copy(out, offset);
  if (offset < block + 148 || offset >= block + 156) {
    out.fill(0x20, block + 148, block + 156);
    let sum = 0;
    for (let i = block; i < block + 512; i++) sum += out[i] ?? 0;
    out.write(`${sum.toString(8).padStart(6, '0')}\0 `, block + 148, 'latin1');
  }
  return out;
});

let roots = 0;
async function applyInFreshRoot(tar: Buffer, whiteouts: 'delete' | 'overlay'): Promise<void> {
  const root = join(work, `root-${roots++}`);
  await mkdir(root);
  try {
    await applyTar(root, Readable.from([tar]), { whiteouts, devices: false, chown: false });
    // A second layer over the first: whiteouts and symlinks from the first now exist.
    await applyTar(root, Readable.from([tar]), { whiteouts, devices: false, chown: false });
  } catch (error) {
    assertTyped(error);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

describe('tar reader properties', () => {
  it('random bytes: only typed errors', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 3000 }), async (bytes) => {
      await readAll(Buffer.from(bytes)).catch(assertTyped);
    }), { seed: 1301, numRuns: 3000 });
  });

  it('mutated archives: only typed errors', async () => {
    await fc.assert(fc.asyncProperty(mutatedArb, async (tar) => {
      await readAll(tar).catch(assertTyped);
    }), { seed: 1302, numRuns: 3000 });
  });
});

describe('layer extraction properties', () => {
  it('hostile entries never reach outside the root and fail only with typed errors', async () => {
    await fc.assert(fc.asyncProperty(archiveArb, fc.constantFrom<'delete' | 'overlay'>('delete', 'delete', 'overlay'), async (tar, whiteouts) => {
      await applyInFreshRoot(tar, process.getuid?.() === 0 ? whiteouts : 'delete');
    }), { seed: 1303, numRuns: 600 });
    assert.deepEqual(await describeTree(host), canaries);
    assert.deepEqual((await readdir(work)).sort(), ['host']);
  });

  it('mutated archives never reach outside the root and fail only with typed errors', async () => {
    await fc.assert(fc.asyncProperty(mutatedArb, async (tar) => {
      await applyInFreshRoot(tar, 'delete');
    }), { seed: 1304, numRuns: 600 });
    assert.deepEqual(await describeTree(host), canaries);
  });

  it('mutated gzip layers: only typed errors', async () => {
    await fc.assert(fc.asyncProperty(archiveArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 }), async (tar, at, bytes) => {
      const gz = gzipSync(tar);
      Buffer.from(bytes).copy(gz, at % gz.length);
      const root = join(work, `root-${roots++}`);
      await mkdir(root);
      try {
        await applyLayer(root, Readable.from([gz]), { devices: false, chown: false });
      } catch (error) {
        assertTyped(error);
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }), { seed: 1305, numRuns: 800 });
    assert.deepEqual(await describeTree(host), canaries);
  });
});

describe('ADD archive extraction properties', () => {
  it('hostile or mutated archives never reach outside the destination and fail only with FILE_OPERATION', async () => {
    const signal = new AbortController().signal;
    await fc.assert(fc.asyncProperty(fc.oneof(archiveArb, mutatedArb), async (tar) => {
      const base = join(work, `add-${roots++}`);
      const dest = join(base, 'rootfs/app');
      await mkdir(dest, { recursive: true });
      await writeFile(join(base, 'a.tar'), tar);
      try {
        await extractArchive(join(base, 'a.tar'), dest, { name: '/a.tar', signal });
      } catch (error) {
        if (!isStagecraftError(error)) assert.fail(`untyped error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        assert.equal(error.code, 'FILE_OPERATION', error.message);
        assert.match(error.message, /^ADD \/a\.tar: /u);
      } finally {
        assert.deepEqual((await readdir(base)).sort(), ['a.tar', 'rootfs']);
        assert.deepEqual(await readdir(join(base, 'rootfs')), ['app']);
        await rm(base, { recursive: true, force: true });
      }
    }), { seed: 1306, numRuns: 800 });
    assert.deepEqual(await describeTree(host), canaries);
  });
});
