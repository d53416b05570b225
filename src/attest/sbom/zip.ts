/**
 * A small, bounds-checked zip reader for the archive catalogers (jar, war, ear): the central
 * directory (with ZIP64 counts and sizes, and data prepended to the archive, as in self-executing
 * jars), and the contents of one entry, stored or deflated. It reads through a `RandomAccess`, so a
 * large archive is never loaded whole. Archives are hostile input: every offset is checked against
 * the archive's size, counts and sizes are capped, and inflation stops at `maxBytes` (a zip bomb
 * becomes a `ZipError`, never unbounded memory).
 */
import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZipError';
  }
}

/** Random reads of an archive's bytes; `read` may return fewer bytes at the end. */
export interface RandomAccess {
  readonly size: number;
  read(position: number, length: number): Promise<Buffer | undefined>;
}

export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflated; anything else cannot be read. */
  readonly method: number;
  readonly flags: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Where the local header is, from the start of the source (prepended data accounted for). */
  readonly localHeaderOffset: number;
}

export interface ZipLimits {
  /** Entries in one central directory (default 500 000). */
  readonly maxEntries?: number | undefined;
  /** Bytes of central directory (default 64 MiB). */
  readonly maxDirectoryBytes?: number | undefined;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_BYTES = 22;
const MAX_COMMENT = 0xffff;

export function bufferSource(buffer: Buffer): RandomAccess {
  return {
    size: buffer.length,
    read: (position, length) => Promise.resolve(buffer.subarray(Math.min(position, buffer.length), Math.min(position + length, buffer.length))),
  };
}

/** The bytes `[offset, offset + size)` of `source` as a source of its own (a stored nested archive). */
export function sliceSource(source: RandomAccess, offset: number, size: number): RandomAccess {
  return {
    size,
    read: (position, length) => source.read(offset + position, Math.max(0, Math.min(length, size - position))),
  };
}

async function readExact(source: RandomAccess, position: number, length: number, what: string): Promise<Buffer> {
  if (position < 0 || length < 0 || position + length > source.size) throw new ZipError(`${what} lies outside the archive`);
  const data = await source.read(position, length);
  if (data?.length !== length) throw new ZipError(`${what} cannot be read`);
  return data;
}

function u64(buffer: Buffer, at: number, what: string): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${what} is out of range`);
  return Number(value);
}

/** Reads the central directory. Throws `ZipError` when the archive is not a readable zip. */
export async function readZipDirectory(source: RandomAccess, limits: ZipLimits = {}): Promise<ZipEntry[]> {
  const maxEntries = limits.maxEntries ?? 500_000;
  const maxDirectoryBytes = limits.maxDirectoryBytes ?? 64 * 1024 * 1024;
  if (source.size < EOCD_BYTES) throw new ZipError('too small to be a zip archive');
  // The end record is the last 22 bytes unless the archive has a comment (up to 64 KiB): look in
  // the last KiB first, and in the whole possible range only when it is not there.
  let tailStart = 0;
  let tail: Buffer = Buffer.alloc(0);
  let eocd = -1;
  for (const want of [1024, EOCD_BYTES + MAX_COMMENT]) {
    const tailLength = Math.min(source.size, want);
    tailStart = source.size - tailLength;
    tail = await readExact(source, tailStart, tailLength, 'the end of the archive');
    for (let at = tail.length - EOCD_BYTES; at >= 0; at--) {
      if (tail.readUInt32LE(at) === EOCD_SIGNATURE && at + EOCD_BYTES + tail.readUInt16LE(at + 20) <= tail.length) {
        eocd = at;
        break;
      }
    }
    if (eocd !== -1 || tailLength === source.size) break;
  }
  if (eocd === -1) throw new ZipError('no end of central directory record');
  let count = tail.readUInt16LE(eocd + 10);
  let directorySize = tail.readUInt32LE(eocd + 12);
  let directoryOffset = tail.readUInt32LE(eocd + 16);
  const eocdOffset = tailStart + eocd;
  let base = eocdOffset - directorySize - directoryOffset;
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    if (eocdOffset < 20) throw new ZipError('ZIP64 locator missing');
    const locator = await readExact(source, eocdOffset - 20, 20, 'the ZIP64 locator');
    if (locator.readUInt32LE(0) !== ZIP64_LOCATOR_SIGNATURE) throw new ZipError('ZIP64 locator missing');
    const recordOffset = u64(locator, 8, 'the ZIP64 record offset');
    const record = await readExact(source, recordOffset, 56, 'the ZIP64 end record');
    if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw new ZipError('bad ZIP64 end record');
    count = u64(record, 32, 'the ZIP64 entry count');
    directorySize = u64(record, 40, 'the ZIP64 directory size');
    directoryOffset = u64(record, 48, 'the ZIP64 directory offset');
    base = recordOffset - directorySize - directoryOffset;
  }
  if (base < 0) throw new ZipError('the central directory offset points past its end');
  if (count > maxEntries) throw new ZipError(`${count} entries, more than the ${maxEntries} read`);
  if (directorySize > maxDirectoryBytes) throw new ZipError(`a central directory of ${directorySize} bytes, more than the ${maxDirectoryBytes} read`);
  const directory = await readExact(source, base + directoryOffset, directorySize, 'the central directory');
  const entries: ZipEntry[] = [];
  let at = 0;
  while (entries.length < count) {
    if (at + 46 > directory.length || directory.readUInt32LE(at) !== CENTRAL_SIGNATURE) throw new ZipError(`central directory entry ${entries.length} is malformed`);
    const flags = directory.readUInt16LE(at + 8);
    const method = directory.readUInt16LE(at + 10);
    let compressedSize = directory.readUInt32LE(at + 20);
    let uncompressedSize = directory.readUInt32LE(at + 24);
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    let localHeaderOffset = directory.readUInt32LE(at + 42);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > directory.length) throw new ZipError(`central directory entry ${entries.length} runs past the directory`);
    // Bit 11: the name is UTF-8; otherwise CP437, read as latin1 (the names looked for are ASCII).
    const name = directory.toString((flags & 0x800) !== 0 ? 'utf8' : 'latin1', at + 46, at + 46 + nameLength);
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = directory.readUInt16LE(extra);
      const size = directory.readUInt16LE(extra + 2);
      if (extra + 4 + size > extraEnd) break;
      if (id === 0x0001) {
        let field = extra + 4;
        const next = (): number => {
          if (field + 8 > extra + 4 + size) throw new ZipError(`entry ${name}: short ZIP64 extra field`);
          const value = u64(directory, field, `entry ${name}: a ZIP64 size`);
          field += 8;
          return value;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      extra += 4 + size;
    }
    entries.push({ name, method, flags, compressedSize, uncompressedSize, localHeaderOffset: base + localHeaderOffset });
    at = end;
  }
  return entries;
}

/** Where an entry's data starts and how long it is (after its local header). */
export async function entryData(source: RandomAccess, entry: ZipEntry): Promise<{ offset: number; length: number }> {
  const header = await readExact(source, entry.localHeaderOffset, 30, `the local header of ${entry.name}`);
  if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw new ZipError(`entry ${entry.name}: bad local header`);
  const offset = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (offset + entry.compressedSize > source.size) throw new ZipError(`entry ${entry.name}: its data runs past the archive`);
  return { offset, length: entry.compressedSize };
}

/**
 * The uncompressed contents of `entry`, at most `maxBytes` (declared or actual); throws `ZipError`
 * for an encrypted or unsupported entry, a corrupt stream or one that inflates past the cap.
 */
export async function readZipEntry(source: RandomAccess, entry: ZipEntry, maxBytes: number): Promise<Buffer> {
  if ((entry.flags & 1) !== 0) throw new ZipError(`entry ${entry.name} is encrypted`);
  if (entry.uncompressedSize > maxBytes) throw new ZipError(`entry ${entry.name}: ${entry.uncompressedSize} bytes, more than the ${maxBytes} read`);
  const { offset, length } = await entryData(source, entry);
  if (entry.method === 0) {
    if (length > maxBytes) throw new ZipError(`entry ${entry.name}: ${length} bytes, more than the ${maxBytes} read`);
    return readExact(source, offset, length, `the data of ${entry.name}`);
  }
  if (entry.method !== 8) throw new ZipError(`entry ${entry.name}: compression method ${entry.method} is not supported`);
  // A deflate stream is at most a little longer than its output (stored blocks: 5 bytes per 64 KiB);
  // a longer one cannot fit the cap, and is not read.
  if (length > maxBytes + Math.ceil(maxBytes / 1000) + 1024) throw new ZipError(`entry ${entry.name}: ${length} compressed bytes, more than the ${maxBytes} read`);
  const compressed = await readExact(source, offset, length, `the data of ${entry.name}`);
  try {
    return inflateRawSync(compressed, { maxOutputLength: Math.max(1, maxBytes) });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw new ZipError(`entry ${entry.name} inflates to more than ${maxBytes} bytes`);
    throw new ZipError(`entry ${entry.name}: corrupt deflate data (${error instanceof Error ? error.message : String(error)})`);
  }
}
