/**
 * The tar header format (POSIX.1-2001 ustar + pax extended headers), encoded the way Go's archive/tar
 * does for `Format: PAX` — which is what BuildKit's and containerd's layer writers produce — and
 * decoded leniently (ustar, pax, GNU long names, old GNU, base-256 numbers) so layers from docker,
 * BuildKit, skopeo and GNU tar can be read.
 */
import { StagecraftError } from '../../core/index.js';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One archive member, after pax / GNU long-name records are merged in. */
export interface TarHeader {
  /** Relative path as stored (the writer adds the trailing `/` of directories itself). */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky (no file-type bits). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Body length in bytes; 0 for everything but regular files. */
  readonly size: number;
  /** Modification time in whole seconds since the epoch. */
  readonly mtime: number;
  /** Target of a symlink, or the archive path a hardlink points to. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes (`SCHILY.xattr.<name>`), sorted by name when written. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

export function makeHeader(fields: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>): TarHeader {
  return {
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    ...fields,
  };
}

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Largest values that fit the ustar octal fields (7 and 11 digits). */
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

const PAX_XATTR = 'SCHILY.xattr.';

// ---------------------------------------------------------------- encoding

function isAscii(s: string): boolean {
  return /^[\x01-\x7f]*$/.test(s);
}

/** Go's toASCII: drops every non-ASCII character (and NUL) for best-effort ustar fields. */
function toAscii(s: string): string {
  return s.replace(/[^\x01-\x7f]/gu, '');
}

function writeString(block: Buffer, offset: number, size: number, value: string): void {
  if (value.length <= size && isAscii(value)) {
    // The common case: one byte per character, no cut.
    block.write(value, offset, value.length, 'latin1');
    return;
  }
  const bytes = Buffer.from(value, 'utf8');
  bytes.copy(block, offset, 0, Math.min(bytes.length, size));
  // A name cut at the field size must not end in '/' (readers would take it for a directory).
  if (bytes.length > size && block[offset + size - 1] === 0x2f) {
    let end = size;
    while (end > 0 && block[offset + end - 1] === 0x2f) end--;
    block.fill(0, offset + end, offset + size);
  }
}

/** Zero-padded octal, NUL-terminated: `size - 1` digits. */
function writeOctal(block: Buffer, offset: number, size: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** (size - 1)) {
    // Callers keep values in range; anything else is written as its leading digits.
    const digits = value.toString(8).padStart(size - 1, '0');
    block.write(digits, offset, size - 1, 'ascii');
    block[offset + size - 1] = 0;
    return;
  }
  let rest = value;
  for (let i = offset + size - 2; i >= offset; i--) {
    block[i] = 0x30 + (rest % 8);
    rest = Math.floor(rest / 8);
  }
  block[offset + size - 1] = 0;
}

/** The header checksum: the sum of all bytes, the checksum field counted as spaces. */
function checksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i] ?? 0;
  for (let i = 156; i < BLOCK; i++) sum += block[i] ?? 0;
  return sum;
}

function finishBlock(block: Buffer): Buffer {
  block.write('ustar\x0000', 257, 8, 'binary');
  const sum = checksum(block);
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/** Splits a long path into ustar prefix (≤155) and name (≤100) at a `/`, as Go's splitUSTARPath. */
function splitUstarPath(name: string): [prefix: string, name: string] | null {
  if (name.length <= 100 || !isAscii(name)) return null;
  let length = name.length;
  if (length > 156) length = 156;
  else if (name.endsWith('/')) length--;
  const i = name.lastIndexOf('/', length - 1);
  const rest = name.slice(i + 1);
  if (i <= 0 || rest.length > 100 || rest.length === 0 || i > 155) return null;
  return [name.slice(0, i), rest];
}

/** One pax record: `<len> <key>=<value>\n`, where `<len>` counts the whole record including itself. */
export function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'ascii'), body]);
}

function v7Block(fields: {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, fields.name);
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 1, 'ascii');
  writeString(block, 157, 100, fields.linkname);
  return block;
}

/**
 * The header blocks for one entry: a pax extended header first when a field does not fit ustar
 * (long or non-ASCII path/linkpath, ids ≥ 2^21, size ≥ 8 GiB, mtime outside 0..2^33) or the entry has
 * xattrs, then the ustar header. Deterministic: pax keys sorted, pax header fields all zero.
 */
export function encodeHeader(header: TarHeader): Buffer {
  if (header.devmajor > MAX_OCTAL_7 || header.devminor > MAX_OCTAL_7) {
    throw new Error(`device number too large for ${header.name}`);
  }
  const name = header.type === 'dir' && !header.name.endsWith('/') ? `${header.name}/` : header.name;
  const pax = new Map<string, Buffer>();
  for (const [key, value] of header.xattrs) pax.set(PAX_XATTR + key, value);

  const nameLength = Buffer.byteLength(name);
  const nameSplit = splitUstarPath(name);
  if (!isAscii(name) || nameLength > 100) pax.set('path', Buffer.from(name, 'utf8'));
  if (!isAscii(header.linkname) || Buffer.byteLength(header.linkname) > 100) {
    pax.set('linkpath', Buffer.from(header.linkname, 'utf8'));
  }
  if (header.uid > MAX_OCTAL_7) pax.set('uid', Buffer.from(String(header.uid)));
  if (header.gid > MAX_OCTAL_7) pax.set('gid', Buffer.from(String(header.gid)));
  if (header.size > MAX_OCTAL_11) pax.set('size', Buffer.from(String(header.size)));
  if (header.mtime < 0 || header.mtime > MAX_OCTAL_11) pax.set('mtime', Buffer.from(String(header.mtime)));

  // Like Go's writer: a long ASCII path that ustar can split needs no pax header on its own.
  const onlyPath = pax.size === 1 && pax.has('path') && nameSplit !== null;
  const usePax = pax.size > 0 && !onlyPath;

  const main = v7Block({
    name: usePax ? toAscii(name) : (nameSplit?.[1] ?? name),
    typeflag: TYPE_FLAGS[header.type],
    mode: header.mode & 0o7777,
    uid: header.uid > MAX_OCTAL_7 ? 0 : header.uid,
    gid: header.gid > MAX_OCTAL_7 ? 0 : header.gid,
    size: header.size > MAX_OCTAL_11 ? 0 : header.size,
    mtime: header.mtime < 0 || header.mtime > MAX_OCTAL_11 ? 0 : header.mtime,
    linkname: toAscii(header.linkname),
  });
  // uname / gname (265, 297) stay empty: numeric ids only.
  writeOctal(main, 329, 8, header.devmajor);
  writeOctal(main, 337, 8, header.devminor);
  if (!usePax && nameSplit !== null) writeString(main, 345, 155, nameSplit[0]);
  finishBlock(main);
  if (!usePax) return main;

  const records = Buffer.concat(
    [...pax.keys()].sort().map((key) => paxRecord(key, pax.get(key) ?? Buffer.alloc(0))),
  );
  const slash = name.replace(/\/+$/u, '').lastIndexOf('/');
  const dir = slash < 0 ? '' : name.slice(0, slash + 1);
  const base = name.replace(/\/+$/u, '').slice(slash + 1);
  let paxName = toAscii(`${dir}PaxHeaders.0${base === '' ? '' : `/${base}`}`);
  paxName = paxName.slice(0, 100).replace(/\/+$/u, '');
  const paxHeader = v7Block({ name: paxName, typeflag: 'x', mode: 0, uid: 0, gid: 0, size: records.length, mtime: 0, linkname: '' });
  finishBlock(paxHeader);
  return Buffer.concat([paxHeader, records, Buffer.alloc(padding(records.length)), main]);
}

/** Zero bytes after a body of `size` bytes up to the next block boundary. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/** The end-of-archive marker: two zero blocks (as Go's writer; no record-size padding). */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

// ---------------------------------------------------------------- decoding

/** What is wrong with the archive, for each error `corruptTar` made (so a reader of other archives can word its own). */
const faults = new WeakMap<StagecraftError, string>();

export function corruptTar(message: string): StagecraftError {
  const error = new StagecraftError('LAYER_INVALID', `invalid layer tar: ${message}`, {
    hint: 'the layer blob is damaged or not a tar archive; pull or build it again',
  });
  faults.set(error, message);
  return error;
}

/** What is wrong with the archive when `error` came from `corruptTar`, else undefined. */
export function tarFault(error: unknown): string | undefined {
  return error instanceof StagecraftError ? faults.get(error) : undefined;
}

function readString(block: Buffer, offset: number, size: number): string {
  const field = block.subarray(offset, offset + size);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? size : end).toString('utf8');
}

/** Octal (space/NUL padded) or GNU base-256 (high bit set) number. */
function readNumber(block: Buffer, offset: number, size: number, field: string): number {
  const first = block[offset] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw corruptTar(`negative ${field}`);
    let value = first & 0x7f;
    for (let i = 1; i < size; i++) value = value * 256 + (block[offset + i] ?? 0);
    if (!Number.isSafeInteger(value)) throw corruptTar(`${field} too large`);
    return value;
  }
  const text = block.toString('ascii', offset, offset + size).replace(/[\0 ]+$/u, '').replace(/^[\0 ]+/u, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/u.test(text)) throw corruptTar(`${field} field "${text}" is not an octal number`);
  return parseInt(text, 8);
}

export type RawType = TarEntryType | 'pax' | 'pax-global' | 'gnu-longname' | 'gnu-longlink' | 'unsupported';

export interface RawHeader {
  readonly name: string;
  readonly rawType: RawType;
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export function decodeRawHeader(block: Buffer): RawHeader {
  const stored = readNumber(block, 148, 8, 'checksum');
  if (stored !== checksum(block)) throw corruptTar('header checksum mismatch');
  const magic = block.toString('binary', 257, 263);
  const ustar = magic === 'ustar\0' || magic === 'ustar ';
  let name = readString(block, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = readString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(block[156] ?? 0);
  let rawType: RawType;
  switch (typeflag) {
    case '0': case '\0': case '7': rawType = name.endsWith('/') ? 'dir' : 'file'; break;
    case '1': rawType = 'link'; break;
    case '2': rawType = 'symlink'; break;
    case '3': rawType = 'char'; break;
    case '4': rawType = 'block'; break;
    case '5': rawType = 'dir'; break;
    case '6': rawType = 'fifo'; break;
    case 'x': rawType = 'pax'; break;
    case 'g': rawType = 'pax-global'; break;
    case 'L': rawType = 'gnu-longname'; break;
    case 'K': rawType = 'gnu-longlink'; break;
    default: rawType = 'unsupported';
  }
  return {
    name,
    rawType,
    typeflag,
    mode: readNumber(block, 100, 8, 'mode') & 0o7777,
    uid: readNumber(block, 108, 8, 'uid'),
    gid: readNumber(block, 116, 8, 'gid'),
    size: readNumber(block, 124, 12, 'size'),
    mtime: readNumber(block, 136, 12, 'mtime'),
    linkname: readString(block, 157, 100),
    devmajor: ustar ? readNumber(block, 329, 8, 'devmajor') : 0,
    devminor: ustar ? readNumber(block, 337, 8, 'devminor') : 0,
  };
}

/** Parses pax records into key → raw value bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw corruptTar('malformed pax record');
    const length = Number(data.toString('ascii', pos, space));
    if (!Number.isSafeInteger(length) || length <= space - pos || pos + length > data.length) {
      throw corruptTar('malformed pax record length');
    }
    const record = data.subarray(space + 1, pos + length - 1);
    if (data[pos + length - 1] !== 0x0a) throw corruptTar('pax record does not end in a newline');
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw corruptTar('pax record without "="');
    records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    pos += length;
  }
  return records;
}

export { PAX_XATTR };
