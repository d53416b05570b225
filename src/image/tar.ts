/**
 * A minimal tar for image archive containers only (docker-archive, OCI archive): regular files and
 * directories, ustar headers, written deterministically (mtime 0, uid/gid 0, fixed modes, entries in
 * the caller's order). Reading accepts what docker, skopeo and buildx write: ustar, pax `path`/`size`
 * records and GNU long names; other entry types are skipped. Layer tars are not handled here.
 */
import { StagecraftError } from '../core/index.js';

const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);

export interface TarFileInput {
  readonly name: string;
  readonly type: 'file';
  readonly size: number;
  /** Must produce exactly `size` bytes. */
  readonly body: () => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>;
}
export interface TarDirInput {
  readonly name: string;
  readonly type: 'dir';
}
export type TarInput = TarFileInput | TarDirInput;

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  const text = value.toString(8);
  if (text.length <= length - 1) {
    writeString(block, offset, length, `${text.padStart(length - 1, '0')}\0`);
    return;
  }
  // GNU base-256 for sizes beyond 8 GiB: high bit set, big-endian binary.
  let rest = BigInt(value);
  for (let i = length - 1; i >= 1; i--) {
    block[offset + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  block[offset] = 0x80;
}

function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100) return { prefix, name: rest };
  }
  throw new Error(`archive path too long for ustar: ${name}`);
}

function header(entry: TarInput): Buffer {
  const block = Buffer.alloc(BLOCK);
  const path = entry.type === 'dir' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  const { prefix, name } = splitName(path);
  writeString(block, 0, 100, name);
  writeOctal(block, 100, 8, entry.type === 'dir' ? 0o755 : 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, entry.type === 'file' ? entry.size : 0);
  writeOctal(block, 136, 12, 0);
  block.fill(0x20, 148, 156);
  block[156] = entry.type === 'dir' ? 0x35 : 0x30;
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeString(block, 345, 155, prefix);
  let sum = 0;
  for (const byte of block) sum += byte;
  writeString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** The tar stream of `entries` (two zero blocks at the end). Fails if a body's length differs from its size. */
export async function* writeTar(entries: AsyncIterable<TarInput> | Iterable<TarInput>, signal?: AbortSignal): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    signal?.throwIfAborted();
    yield header(entry);
    if (entry.type !== 'file') continue;
    let written = 0;
    for await (const chunk of await entry.body()) {
      written += chunk.length;
      if (written > entry.size) throw new Error(`tar entry ${entry.name} is longer than its declared ${entry.size} bytes`);
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (written !== entry.size) throw new Error(`tar entry ${entry.name} has ${written} bytes, declared ${entry.size}`);
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield ZERO_BLOCK;
  yield ZERO_BLOCK;
}

/** One member read from an archive. `body` must be consumed (or left alone) before the next member is requested. */
export interface TarMember {
  readonly name: string;
  readonly type: 'file' | 'dir' | 'other';
  readonly size: number;
  readonly body: AsyncIterable<Buffer>;
}

function invalid(message: string, source: string): StagecraftError {
  return new StagecraftError('ARCHIVE_INVALID', `${source} is not a valid tar archive: ${message}`, {
    hint: 'the file may be truncated or not an image archive; create it with `stagecraft save` or `docker save`',
  });
}

/** Pulls exact byte counts out of a chunked stream. */
class ByteReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #buffer: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#iterator.next();
    if (next.done === true) {
      this.#done = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    return true;
  }

  /** Exactly `n` bytes, or fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.#buffer.length < n && (await this.#fill()));
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(out.length);
    return out;
  }

  /** Up to `n` bytes as they arrive. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buffer.length === 0 && !(await this.#fill())) return;
      const take = this.#buffer.subarray(0, Math.min(left, this.#buffer.length));
      this.#buffer = this.#buffer.subarray(take.length);
      left -= take.length;
      yield take;
    }
  }
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? length : end).toString('utf8');
}

function readNumber(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = BigInt((field[0] ?? 0) & 0x7f);
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(field[i] ?? 0);
    return Number(value);
  }
  const text = readString(block, offset, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === readNumber(block, 148, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    if (space === -1) break;
    const length = Number.parseInt(data.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq !== -1) out.set(record.slice(0, eq), record.slice(eq + 1));
    offset += length;
  }
  return out;
}

/** Archive paths as compared by loaders: no leading `./`, no trailing `/`. */
export function cleanArchivePath(name: string): string {
  let out = name;
  while (out.startsWith('./')) out = out.slice(2);
  while (out.startsWith('/')) out = out.slice(1);
  return out.replace(/\/+$/, '');
}

/** Reads an archive member by member. `source` names the archive in errors. */
export async function* readTar(input: AsyncIterable<Uint8Array>, source: string): AsyncGenerator<TarMember> {
  const reader = new ByteReader(input);
  let longName: string | undefined;
  let pax: Map<string, string> | undefined;
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block.length === 0) return; // no end marker: accepted, as GNU tar does
    if (block.length < BLOCK) throw invalid('truncated header', source);
    if (block.equals(ZERO_BLOCK)) return;
    if (!checksumOk(block)) throw invalid('header checksum mismatch', source);
    const typeflag = String.fromCharCode(block[156] ?? 0);
    let size = readNumber(block, 124, 12);
    const magic = readString(block, 257, 6);
    const prefix = magic.startsWith('ustar') ? readString(block, 345, 155) : '';
    let name = prefix === '' ? readString(block, 0, 100) : `${prefix}/${readString(block, 0, 100)}`;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L') {
      const data = Buffer.concat(await collect(reader.stream(size)));
      if (data.length < size) throw invalid('truncated extended header', source);
      await reader.read((BLOCK - (size % BLOCK)) % BLOCK);
      if (typeflag === 'x') pax = parsePax(data);
      if (typeflag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (longName !== undefined) name = longName;
    if (pax?.get('path') !== undefined) name = pax.get('path') ?? name;
    if (pax?.get('size') !== undefined) size = Number(pax.get('size'));
    longName = undefined;
    pax = undefined;
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'dir' : 'other';
    const bodySize = type === 'file' ? size : typeflag === '1' || typeflag === '2' ? 0 : size;
    let read = 0;
    const entryName = name;
    const body = (async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of reader.stream(bodySize - read)) {
        read += chunk.length;
        yield chunk;
      }
      if (read < bodySize) throw invalid(`member ${entryName} is truncated`, source);
    })();
    const counted: TarMember = { name: type === 'dir' ? name.replace(/\/+$/, '') : name, type, size: bodySize, body };
    yield counted;
    // Skip whatever the consumer did not read, then the padding.
    for await (const chunk of reader.stream(bodySize - read)) read += chunk.length;
    if (read < bodySize) throw invalid(`member ${name} is truncated`, source);
    await reader.read((BLOCK - (bodySize % BLOCK)) % BLOCK);
  }
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of source) out.push(chunk);
  return out;
}
