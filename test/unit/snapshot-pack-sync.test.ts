/**
 * The synchronous layer walk (fs calls made in time slices, entries through the tar writer without a
 * promise each): same bytes as the asynchronous path, byte-order names, files that change while
 * packed refused, never a symlink followed, aborts honoured, the event loop given turns.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { packDirectory, packItems, packItemsSync, walkTreeSync, type LayerItem } from '../../src/snapshot/pack.js';
import { compareNames } from '../../src/snapshot/sync-fs.js';
import { writeTar } from '../../src/snapshot/tar/writer.js';

const work = mkdtempSync(join(tmpdir(), 'stagecraft-pack-sync-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function tree(name: string, files: Record<string, string | Buffer>): string {
  const root = join(work, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

/** A path item whose stat was taken before `change` ran. */
function staleItem(root: string, path: string, change: () => void): LayerItem {
  const source = join(root, path);
  const stat = lstatSync(source, { bigint: true });
  change();
  return { kind: 'path', path, source, stat };
}

describe('compareNames', () => {
  it('orders names as their UTF-8 bytes, also around surrogates and characters above U+D800', () => {
    const alphabet = ['a', 'b', 'z', '~', '\u00e9', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1f600}', '\ud800', '\udc00', '\udbff'];
    let state = 7;
    const next = (n: number): number => {
      // xorshift32
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const word = (): string => Array.from({ length: next(4) }, () => alphabet[next(alphabet.length)]).join('');
    for (let i = 0; i < 20000; i++) {
      const a = word();
      const b = next(3) === 0 ? a + word() : word();
      const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
      assert.equal(Math.sign(compareNames(a, b)), expected, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      assert.equal(Math.sign(compareNames(b, a)), 0 - expected, `${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
    }
  });
});

describe('synchronous layer packing', () => {
  it('gives the same bytes as the entries made asynchronously', async () => {
    const root = tree('same', { 'b/one': 'one', 'a/big': Buffer.alloc(300 * 1024, 7), 'a/empty': '', 'c': 'c', '\u00e9': 'e' });
    symlinkSync('b/one', join(root, 'link'));
    const items = (): LayerItem[] => [...walkTreeSync(root)].map((entry) => ({ kind: 'path', ...entry }));
    async function* slowly(): AsyncGenerator<LayerItem> {
      for (const item of items()) yield await Promise.resolve(item);
    }
    const sync = await collect(writeTar(packItemsSync(items(), { sourceDateEpoch: 5 })));
    const async = await collect(writeTar(packItems(slowly(), { sourceDateEpoch: 5 })));
    assert.ok(sync.equals(async));
    assert.ok(sync.equals(await collect(packDirectory(root, { sourceDateEpoch: 5 }))));
  });

  it('refuses a file that grew or shrank after its lstat, small or streamed', async () => {
    const root = tree('changing', { small: '12345', shrinks: '1234567890', big: Buffer.alloc(300 * 1024, 1) });
    const grew = staleItem(root, 'small', () => writeFileSync(join(root, 'small'), '1234567890'));
    await assert.rejects(collect(writeTar(packItemsSync([grew]))), /small grew while it was archived/);
    const shrank = staleItem(root, 'shrinks', () => writeFileSync(join(root, 'shrinks'), '12'));
    await assert.rejects(collect(writeTar(packItemsSync([shrank]))), /shrinks shrank while it was archived \(2 of 10 bytes\)/);
    const bigShrank = staleItem(root, 'big', () => writeFileSync(join(root, 'big'), Buffer.alloc(1024)));
    await assert.rejects(collect(writeTar(packItemsSync([bigShrank]))), /big shrank while it was archived/);
  });

  it('never reads through a symlink put in place of a file after its lstat', async () => {
    const root = tree('swapped', { secret: 'host secret', file: 'plain' });
    const item = staleItem(root, 'file', () => {
      unlinkSync(join(root, 'file'));
      symlinkSync(join(root, 'secret'), join(root, 'file'));
    });
    await assert.rejects(collect(writeTar(packItemsSync([item]))), /ELOOP/);
  });

  it('stops when aborted, with the reason', async () => {
    const root = tree('abort', Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, 'x'])));
    const controller = new AbortController();
    controller.abort(new Error('stop now'));
    await assert.rejects(collect(packDirectory(root, { signal: controller.signal })), /stop now/);
  });

  it('gives the event loop turns while it packs a large tree', async () => {
    const root = tree('large', Object.fromEntries(Array.from({ length: 6000 }, (_, i) => [`d${i % 60}/f${i}`, `file ${i}`])));
    let turns = 0;
    let packing = true;
    const tick = (): void => {
      turns++;
      if (packing) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    await collect(packDirectory(root));
    const took = performance.now() - started;
    packing = false;
    // A turn at least every 8 ms of work (plus the one queued before the pack started).
    assert.ok(turns >= Math.min(3, Math.floor(took / 20)), `${turns} turns in ${took.toFixed(0)} ms`);
  });
});
