import type { StagecraftError } from '../../core/index.js';
import {
  BLOCK,
  PAX_XATTR,
  corruptTar,
  decodeRawHeader,
  isZeroBlock,
  padding,
  parsePax,
  tarFault,
  type TarEntryType,
  type TarHeader,
} from './format.js';

export interface TarReadEntry {
  readonly header: TarHeader;
  /**
   * The body of a regular file (`header.size` bytes). Read it before asking for the next entry;
   * whatever is left unread is skipped.
   */
  readonly body: AsyncIterable<Buffer>;
}

/**
 * Largest sum of pax / GNU long-name bodies before one entry (a name is at most a few KiB, xattrs at
 * most 64 KiB each; this bounds the memory a crafted stack of extended headers can take).
 */
const MAX_META_SIZE = 1 << 20;

/** Largest uid/gid: Linux ids are 32-bit. */
const MAX_ID = 0xffff_ffff;

/** Pulls exact byte counts out of a chunked source. */
class ByteSource {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const next = await this.source.next();
      if (next.done === true) {
        this.ended = true;
      } else if (next.value.length > 0) {
        const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        this.chunks.push(chunk);
        this.buffered += chunk.length;
      }
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0];
      if (chunk === undefined) break;
      const used = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, used);
      offset += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.buffered -= n;
    return out;
  }

  /** Exactly `n` bytes, or fewer only at the end of the source. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(Math.min(n, this.buffered));
  }

  /** Between 1 and `max` bytes, as they arrive (no copying of large bodies). */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0) await this.fill(1);
    if (this.buffered === 0) throw corruptTar('archive ends inside a file body');
    return this.take(Math.min(max, this.chunks[0]?.length ?? 0));
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readSome(left)).length;
  }

  /** Reads and drops the rest of the source (record padding after the end marker). */
  async drain(): Promise<void> {
    this.chunks.length = 0;
    this.buffered = 0;
    while (!this.ended) {
      const next = await this.source.next();
      if (next.done === true) this.ended = true;
    }
  }
}

function pickNumber(records: Map<string, Buffer>, key: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = records.get(key);
  let number = fallback;
  if (value !== undefined) {
    const text = value.toString('ascii');
    number = Math.floor(Number(text));
    if (!/^-?\d+(\.\d+)?$/u.test(text) || !Number.isSafeInteger(number)) throw corruptTar(`pax ${key} "${text.slice(0, 40)}" is not a number`);
  }
  // mtime may be before the epoch; sizes and ids may not.
  if (key !== 'mtime' && (number < 0 || number > max)) throw corruptTar(`${key} ${number} is out of range`);
  return number;
}

export interface ReadTarOptions {
  /**
   * The error for a malformed archive, from what is wrong with it. Default: a layer's (LAYER_INVALID);
   * a reader of image archives words its own.
   */
  readonly invalid?: ((fault: string) => StagecraftError) | undefined;
}

/**
 * Reads a tar stream entry by entry: ustar, pax (path, linkpath, size, uid, gid, mtime,
 * SCHILY.xattr.*), GNU long names and links, old GNU and base-256 numbers. Reads the source to its
 * end, so a digest computed over the source covers the whole archive including trailing padding.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, options: ReadTarOptions = {}): AsyncGenerator<TarReadEntry> {
  const { invalid } = options;
  if (invalid === undefined) {
    yield* readEntries(source);
    return;
  }
  const reword = (error: unknown): unknown => {
    const fault = tarFault(error);
    return fault === undefined ? error : invalid(fault);
  };
  const entries = readEntries(source);
  try {
    for (;;) {
      let next: IteratorResult<TarReadEntry>;
      try {
        next = await entries.next();
      } catch (error) {
        throw reword(error);
      }
      if (next.done === true) return;
      const { header, body } = next.value;
      yield { header, body: reworded(body, reword) };
    }
  } finally {
    await entries.return(undefined);
  }
}

async function* reworded(body: AsyncIterable<Buffer>, reword: (error: unknown) => unknown): AsyncGenerator<Buffer> {
  try {
    yield* body;
  } catch (error) {
    throw reword(error);
  }
}

async function* readEntries(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarReadEntry> {
  const input = new ByteSource(source[Symbol.asyncIterator]());
  let pax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let metaSize = 0;
  for (;;) {
    const block = await input.read(BLOCK);
    if (block.length === 0) break; // no end marker: accepted, as Go's and GNU tar's readers do
    if (block.length < BLOCK) throw corruptTar('archive ends inside a header');
    if (isZeroBlock(block)) break;
    const raw = decodeRawHeader(block);
    switch (raw.rawType) {
      case 'pax':
      case 'pax-global':
      case 'gnu-longname':
      case 'gnu-longlink': {
        metaSize += raw.size;
        if (metaSize > MAX_META_SIZE) {
          throw corruptTar(`extended headers (${raw.rawType}) of ${metaSize} bytes for one entry, more than the limit of ${MAX_META_SIZE}`);
        }
        const data = await input.read(raw.size);
        if (data.length < raw.size) throw corruptTar('archive ends inside an extended header');
        await input.skip(padding(raw.size));
        if (raw.rawType === 'pax') pax = new Map([...pax, ...parsePax(data)]);
        else if (raw.rawType === 'gnu-longname') longName = cString(data);
        else if (raw.rawType === 'gnu-longlink') longLink = cString(data);
        continue; // global pax headers carry nothing layers use
      }
      case 'unsupported':
        throw corruptTar(`entry "${raw.name}" has unsupported type "${raw.typeflag}" (sparse, volume or multi-volume members are not layer content)`);
      case 'file': case 'link': case 'symlink': case 'char': case 'block': case 'dir': case 'fifo':
        break;
    }
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of pax) if (key.startsWith(PAX_XATTR)) xattrs.set(key.slice(PAX_XATTR.length), value);
    const name = pax.get('path')?.toString('utf8') ?? longName ?? raw.name;
    const type: TarEntryType = raw.rawType === 'file' && name.endsWith('/') ? 'dir' : raw.rawType;
    const header: TarHeader = {
      name,
      type,
      mode: raw.mode,
      uid: pickNumber(pax, 'uid', raw.uid, MAX_ID),
      gid: pickNumber(pax, 'gid', raw.gid, MAX_ID),
      size: pickNumber(pax, 'size', raw.size),
      mtime: pickNumber(pax, 'mtime', raw.mtime),
      linkname: pax.get('linkpath')?.toString('utf8') ?? longLink ?? raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
      xattrs,
    };
    pax = new Map();
    metaSize = 0;
    longName = undefined;
    longLink = undefined;
    // Like Go's reader, every type but a regular file is header-only, whatever its size field says.
    const dataSize = header.type === 'file' ? header.size : 0;
    const body = new Body(input, dataSize);
    yield { header: dataSize === header.size ? header : { ...header, size: 0 }, body };
    await input.skip(body.remaining + padding(dataSize));
  }
  await input.drain();
}

class Body implements AsyncIterable<Buffer> {
  constructor(
    private readonly input: ByteSource,
    public remaining: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      const chunk = await this.input.readSome(this.remaining);
      this.remaining -= chunk.length;
      yield chunk;
    }
  }
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.subarray(0, end < 0 ? data.length : end).toString('utf8');
}
