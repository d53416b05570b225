/**
 * The files of an image's layers, each read once as it streams out of its blob (plain, gzip or zstd
 * tar; nothing is unpacked or copied to disk), top layer first: by the time a layer is read, every
 * whiteout, opaque directory and file of the layers above it is known, so a file those remove or
 * replace is reported `deleted` in one pass. Only regular-file entries are read: symlinks and
 * hardlinks are names, never followed. Binaries (by magic or NUL bytes) and files over the size cap
 * are skipped and counted.
 */
import { posix } from 'node:path';
import type { Digest } from '../../core/index.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, decompressLayer, readTar } from '../../snapshot/index.js';

export interface LayerBlob {
  /** Position in the manifest (0 = base). */
  readonly index: number;
  readonly digest: Digest;
  open(): Promise<AsyncIterable<Uint8Array>>;
}

export interface LayerFile {
  readonly layer: LayerBlob;
  /** Absolute, normalised (`/app/.npmrc`). */
  readonly path: string;
  /** Removed (whiteout, opaque directory) or replaced by a layer above. */
  readonly deleted: boolean;
  readonly data: Buffer;
}

export interface LayerWalkOptions {
  readonly maxFileBytes: number;
  readonly signal: AbortSignal;
  readonly warn: (message: string) => void;
  /** Called once per text file; awaited (back-pressure: the next entry is read afterwards). */
  readonly onText: (file: LayerFile) => Promise<void>;
}

export interface LayerWalkResult {
  readonly skippedFiles: number;
  readonly textBytes: number;
}

/** `./usr/bin/` → `/usr/bin`; a name climbing out (`../x`) stays inside the root, as it would unpack; undefined for the root. */
export function normaliseName(name: string): string | undefined {
  const path = posix.normalize(`/${name}`).replace(/\/+$/u, '');
  return path === '' ? undefined : path;
}

/** First bytes of formats that are never text. */
const MAGIC: readonly Buffer[] = [
  Buffer.from('\x7fELF', 'latin1'),
  Buffer.from([0x1f, 0x8b]), // gzip
  Buffer.from('PK\x03\x04', 'latin1'), // zip, jar, wheel
  Buffer.from('\x89PNG', 'latin1'),
  Buffer.from([0xff, 0xd8, 0xff]), // JPEG
  Buffer.from('GIF8', 'latin1'),
  Buffer.from('%PDF', 'latin1'),
  Buffer.from([0xca, 0xfe, 0xba, 0xbe]), // Java class, Mach-O fat
  Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), // Mach-O 64
  Buffer.from([0xce, 0xfa, 0xed, 0xfe]), // Mach-O 32
  Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), // zstd
  Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a]), // xz
  Buffer.from('BZh', 'latin1'),
  Buffer.from('7z\xbc\xaf', 'latin1'),
  Buffer.from('SQLite format 3', 'latin1'),
  Buffer.from('\0asm', 'latin1'),
  Buffer.from('!<arch>\n', 'latin1'), // ar, .deb, static libraries
];

export function isBinaryHead(head: Buffer): boolean {
  return MAGIC.some((magic) => head.length >= magic.length && head.subarray(0, magic.length).equals(magic));
}

/** What the layers above the one being read remove or replace. */
class Hidden {
  private readonly removed = new Set<string>();
  private readonly emptied = new Set<string>();
  /** Paths written above: true for a directory. */
  private readonly written = new Map<string, boolean>();
  private pending: (() => void)[] = [];

  has(path: string): boolean {
    if (this.removed.has(path) || this.written.has(path)) return true;
    for (let dir = posix.dirname(path); dir !== '/'; dir = posix.dirname(dir)) {
      if (this.removed.has(dir) || this.emptied.has(dir) || this.written.get(dir) === false) return true;
    }
    return this.emptied.has('/');
  }

  /** Records an entry of the layer being read; it hides lower layers only, from `commit` on. */
  note(path: string, type: 'remove' | 'empty' | 'dir' | 'other'): void {
    this.pending.push(() => {
      if (type === 'remove') this.removed.add(path);
      else if (type === 'empty') this.emptied.add(path);
      else if (!this.written.has(path)) this.written.set(path, type === 'dir');
    });
  }

  commit(): void {
    for (const apply of this.pending) apply();
    this.pending = [];
  }
}

/** Reads every layer, top first, handing each text file to `onText`. A damaged layer is a warning. */
export async function walkLayers(layers: readonly LayerBlob[], options: LayerWalkOptions): Promise<LayerWalkResult> {
  const hidden = new Hidden();
  let skippedFiles = 0;
  let textBytes = 0;
  for (const layer of [...layers].reverse()) {
    options.signal.throwIfAborted();
    try {
      const { tar } = await decompressLayer(await layer.open());
      try {
        for await (const entry of readTar(tar)) {
          options.signal.throwIfAborted();
          const path = normaliseName(entry.header.name);
          if (path === undefined) continue;
          const base = posix.basename(path);
          if (base === OPAQUE_WHITEOUT) {
            hidden.note(posix.dirname(path), 'empty');
            continue;
          }
          if (base.startsWith(WHITEOUT_PREFIX)) {
            hidden.note(posix.join(posix.dirname(path), base.slice(WHITEOUT_PREFIX.length)), 'remove');
            continue;
          }
          hidden.note(path, entry.header.type === 'dir' ? 'dir' : 'other');
          if (entry.header.type !== 'file' || entry.header.size === 0) continue;
          if (entry.header.size > options.maxFileBytes) {
            skippedFiles++;
            continue;
          }
          const data = await readText(entry.body, entry.header.size);
          if (data === undefined) {
            skippedFiles++;
            continue;
          }
          textBytes += data.length;
          await options.onText({ layer, path, deleted: hidden.has(path), data });
        }
      } finally {
        tar.destroy();
      }
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      options.warn(`layer ${layer.index} (${layer.digest}) could not be read to its end, the rest of it is not scanned: ${error instanceof Error ? error.message : String(error)}`);
    }
    hidden.commit();
  }
  return { skippedFiles, textBytes };
}

/** The body of a text file, or undefined for a binary (magic or a NUL byte); stops reading a binary at its first chunk that shows it. */
async function readText(body: AsyncIterable<Buffer>, size: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    if (length === 0 && isBinaryHead(chunk)) return undefined;
    if (chunk.includes(0)) return undefined;
    chunks.push(chunk);
    length += chunk.length;
    if (length > size) break;
  }
  const data = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, length);
  return isBinaryHead(data) ? undefined : data;
}
