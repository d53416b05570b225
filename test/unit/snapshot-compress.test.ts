import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { compressLayer, decompressLayer, detectCompression, type CompressionAlgorithm } from '../../src/snapshot/index.js';

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** A pseudo-random but compressible "tar" of `size` bytes. */
function payload(size: number): Buffer {
  const data = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    data[i] = (x >> 16) % 16 + 97;
  }
  return data;
}

async function compress(data: Buffer, algorithm: CompressionAlgorithm, level?: number): Promise<{ blob: Buffer; diffId: string; digest: string; size: number }> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  const chunked = Array.from({ length: Math.ceil(data.length / 65536) }, (_, i) => data.subarray(i * 65536, (i + 1) * 65536));
  const result = await compressLayer(Readable.from(chunked), sink, { algorithm, level });
  return { blob: Buffer.concat(chunks), diffId: result.diffId, digest: result.digest, size: result.size };
}

describe('compressLayer', () => {
  for (const algorithm of ['gzip', 'zstd'] as const) {
    it(`${algorithm}: digests in one pass, reproducible, readable by the system tool`, async () => {
      const data = payload(3_000_000);
      const one = await compress(data, algorithm);
      const two = await compress(data, algorithm);
      assert.equal(one.diffId, sha256(data));
      assert.equal(one.digest, sha256(one.blob));
      assert.equal(one.size, one.blob.length);
      assert.ok(one.blob.equals(two.blob), 'same input → same blob');
      assert.ok(one.size < data.length);
      const tool = algorithm === 'gzip' ? 'gzip' : 'zstd';
      const back = execFileSync(tool, ['-dc'], { input: one.blob, maxBuffer: 1 << 26 });
      assert.ok(back.equals(data));
      const { compression, tar } = await decompressLayer(Readable.from([one.blob.subarray(0, 7), one.blob.subarray(7)]));
      assert.equal(compression, algorithm);
      const chunks: Buffer[] = [];
      for await (const chunk of tar) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(data));
    });
  }

  it('writes a fixed gzip header: no mtime, no name, OS byte 255', async () => {
    const { blob } = await compress(payload(1000), 'gzip');
    assert.deepEqual([...blob.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
    assert.equal(blob.readUInt32LE(4), 0);
    assert.equal(blob[9], 0xff);
  });

  it('gzip of a big layer is several members (one per 4 MiB piece), each with the fixed header, read whole by gzip and by decompressLayer; empty input is one member', async () => {
    const data = payload(9 * 1024 * 1024 + 123);
    const { blob } = await compress(data, 'gzip');
    const members: number[] = [];
    for (let i = 0; i + 10 < blob.length; i++) if (blob[i] === 0x1f && blob[i + 1] === 0x8b && blob[i + 2] === 8 && blob[i + 9] === 0xff && blob.readUInt32LE(i + 4) === 0) members.push(i);
    assert.ok(members.length >= 3, `${members.length} members`);
    assert.ok(execFileSync('gzip', ['-dc'], { input: blob, maxBuffer: 1 << 26 }).equals(data));
    const { tar } = await decompressLayer(Readable.from([blob]));
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(data));
    const empty = await compress(Buffer.alloc(0), 'gzip');
    assert.equal(execFileSync('gzip', ['-dc'], { input: empty.blob }).length, 0);
  });

  it('rejects an invalid level before doing work', async () => {
    await assert.rejects(compress(payload(10), 'gzip', 12), { code: 'USAGE' });
    await assert.rejects(compress(payload(10), 'zstd', 0), { code: 'USAGE' });
  });

  it('passes plain tar through decompressLayer untouched', async () => {
    const data = payload(5000);
    const { compression, tar } = await decompressLayer(Readable.from([data]));
    assert.equal(compression, 'none');
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(data));
  });
});

describe('detectCompression', () => {
  it('detects compression by magic bytes', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0])), 'gzip');
    assert.equal(detectCompression(Buffer.from('BZh91AY')), 'bzip2');
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
    assert.equal(detectCompression(Buffer.from('plain')), 'none');
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b])), 'none');
    assert.equal(detectCompression(Buffer.alloc(0)), 'none');
  });

  it('decompressLayer refuses bzip2 and xz layers, which no layer media type allows', async () => {
    for (const [tool, compression] of [['bzip2', 'bzip2'], ['xz', 'xz']] as const) {
      const blob = execFileSync(tool, ['-c'], { input: payload(4096) });
      await assert.rejects(decompressLayer(Readable.from([blob])), (error) => isStagecraftError(error) && error.code === 'LAYER_INVALID' && error.message.includes(compression));
    }
  });
});
