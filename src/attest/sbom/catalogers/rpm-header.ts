/**
 * The rpm header as rpmdb stores it (every backend: sqlite, bdb, ndb): a header without its
 * 8-byte magic lead. https://rpm-software-management.github.io/rpm/manual/format_v4.html
 *
 *   il: u32 BE — number of index entries
 *   dl: u32 BE — size of the data store
 *   il × { tag: u32, type: u32, offset: u32, count: u32 } (BE)
 *   dl bytes of data
 *
 * Every offset, count and string is bounds-checked: the blob is hostile input.
 */

export const RPMTAG = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, SUMMARY: 1004, VENDOR: 1011,
  LICENSE: 1014, PACKAGER: 1015, URL: 1020, ARCH: 1022, SOURCERPM: 1044,
} as const;

const TYPE_INT32 = 4;
const TYPE_STRING = 6;
const TYPE_STRING_ARRAY = 8;
const TYPE_I18NSTRING = 9;

/** rpm's own limits (lib/header_internal.h: HEADER_TAGS_MAX, HEADER_DATA_MAX). */
const MAX_ENTRIES = 0xffff;
const MAX_DATA = 256 * 1024 * 1024;

export class RpmHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpmHeaderError';
  }
}

export interface RpmHeader {
  readonly name: string;
  readonly version: string;
  readonly release: string;
  readonly epoch?: number | undefined;
  readonly arch?: string | undefined;
  readonly license?: string | undefined;
  readonly sourceRpm?: string | undefined;
  readonly vendor?: string | undefined;
  readonly summary?: string | undefined;
  readonly url?: string | undefined;
  readonly packager?: string | undefined;
}

interface Entry {
  readonly type: number;
  readonly offset: number;
  readonly count: number;
}

/** The NUL-terminated string at `offset` of the data store, which must end inside it. */
function cString(data: Buffer, offset: number): string {
  const end = data.indexOf(0, offset);
  if (end < 0) throw new RpmHeaderError(`string at data offset ${offset} has no terminator`);
  return data.toString('utf8', offset, end);
}

function stringOf(data: Buffer, entry: Entry | undefined): string | undefined {
  if (entry === undefined) return undefined;
  if (entry.type !== TYPE_STRING && entry.type !== TYPE_STRING_ARRAY && entry.type !== TYPE_I18NSTRING) return undefined;
  if (entry.count < 1) return undefined;
  // An array's (or I18N string's) first element is the default one.
  return cString(data, entry.offset);
}

function int32Of(data: Buffer, entry: Entry | undefined): number | undefined {
  if (entry === undefined || entry.type !== TYPE_INT32 || entry.count < 1) return undefined;
  if (entry.offset + 4 > data.length) throw new RpmHeaderError(`INT32 at data offset ${entry.offset} is past the data store`);
  return data.readInt32BE(entry.offset);
}

/** Parses one header blob; throws RpmHeaderError when it is not a well-formed header. */
export function parseRpmHeader(blob: Buffer): RpmHeader {
  if (blob.length < 8) throw new RpmHeaderError(`header of ${blob.length} bytes is shorter than its 8-byte preamble`);
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  if (il < 1 || il > MAX_ENTRIES) throw new RpmHeaderError(`header has ${il} index entries (1..${MAX_ENTRIES} allowed)`);
  if (dl > MAX_DATA) throw new RpmHeaderError(`header data store of ${dl} bytes is over ${MAX_DATA}`);
  const dataStart = 8 + il * 16;
  if (dataStart + dl > blob.length) throw new RpmHeaderError(`header claims ${dataStart + dl} bytes but has ${blob.length}`);
  const data = blob.subarray(dataStart, dataStart + dl);
  const wanted = new Set<number>(Object.values(RPMTAG));
  const entries = new Map<number, Entry>();
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = blob.readUInt32BE(at);
    if (!wanted.has(tag) || entries.has(tag)) continue;
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readUInt32BE(at + 8);
    const count = blob.readUInt32BE(at + 12);
    if (offset >= dl) throw new RpmHeaderError(`tag ${tag}: data offset ${offset} is outside the ${dl}-byte data store`);
    entries.set(tag, { type, offset, count });
  }
  const name = stringOf(data, entries.get(RPMTAG.NAME));
  const version = stringOf(data, entries.get(RPMTAG.VERSION));
  const release = stringOf(data, entries.get(RPMTAG.RELEASE));
  if (name === undefined || name === '' || version === undefined || release === undefined) {
    throw new RpmHeaderError('header has no NAME, VERSION or RELEASE string');
  }
  return {
    name,
    version,
    release,
    epoch: int32Of(data, entries.get(RPMTAG.EPOCH)),
    arch: stringOf(data, entries.get(RPMTAG.ARCH)),
    license: stringOf(data, entries.get(RPMTAG.LICENSE)),
    sourceRpm: stringOf(data, entries.get(RPMTAG.SOURCERPM)),
    vendor: stringOf(data, entries.get(RPMTAG.VENDOR)),
    summary: stringOf(data, entries.get(RPMTAG.SUMMARY)),
    url: stringOf(data, entries.get(RPMTAG.URL)),
    packager: stringOf(data, entries.get(RPMTAG.PACKAGER)),
  };
}
