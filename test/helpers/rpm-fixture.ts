/**
 * Hand-made rpm databases for the rpm-db cataloger's tests: header blobs as rpm stores them, and
 * the Berkeley DB hash and ndb files that hold them (layouts in src/attest/sbom/catalogers/).
 */

export const TAG = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, SUMMARY: 1004, VENDOR: 1011,
  LICENSE: 1014, URL: 1020, ARCH: 1022, SOURCERPM: 1044,
} as const;

/** An rpm header blob (no magic lead): the immutable-region tag first, as rpm writes it, then `tags`. */
export function rpmHeader(tags: Readonly<Record<number, string | number>>): Buffer {
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let size = 0;
  // Region tag 63 (RPMTAG_HEADERIMMUTABLE, BIN, 16 bytes): present in real headers, ignored by readers.
  const region = Buffer.alloc(16);
  region.writeUInt32BE(63, 0);
  region.writeUInt32BE(7, 4);
  region.writeUInt32BE(0, 8);
  region.writeUInt32BE(16, 12);
  index.push(region);
  data.push(Buffer.alloc(16, 0xee));
  size += 16;
  for (const [key, value] of Object.entries(tags)) {
    const tag = Number(key);
    const entry = Buffer.alloc(16);
    let bytes: Buffer;
    if (typeof value === 'number') {
      const pad = (4 - (size % 4)) % 4;
      data.push(Buffer.alloc(pad));
      size += pad;
      bytes = Buffer.alloc(4);
      bytes.writeInt32BE(value);
      entry.writeUInt32BE(4, 4); // INT32
    } else {
      bytes = Buffer.from(`${value}\0`, 'utf8');
      entry.writeUInt32BE(tag === TAG.SUMMARY ? 9 : 6, 4); // I18NSTRING / STRING
    }
    entry.writeUInt32BE(tag, 0);
    entry.writeUInt32BE(size, 8);
    entry.writeUInt32BE(1, 12);
    index.push(entry);
    data.push(bytes);
    size += bytes.length;
  }
  const head = Buffer.alloc(8);
  head.writeUInt32BE(index.length, 0);
  head.writeUInt32BE(size, 4);
  return Buffer.concat([head, ...index, ...data]);
}

/**
 * A Berkeley DB hash file holding `blobs` as rpm's Packages does: page 0 the hash meta page, page 1
 * a hash page with (package number → off-page item) pairs plus rpm's record 0, then each blob in a
 * chain of overflow pages.
 */
export function bdbHashFile(blobs: readonly Buffer[], options: { readonly pageSize?: number; readonly littleEndian?: boolean } = {}): Buffer {
  const pageSize = options.pageSize ?? 4096;
  const le = options.littleEndian ?? true;
  const pages: Buffer[] = [Buffer.alloc(pageSize), Buffer.alloc(pageSize)];
  const w32 = (b: Buffer, v: number, at: number): void => { if (le) b.writeUInt32LE(v, at); else b.writeUInt32BE(v, at); };
  const w16 = (b: Buffer, v: number, at: number): void => { if (le) b.writeUInt16LE(v, at); else b.writeUInt16BE(v, at); };
  const pageHeader = (b: Buffer, no: number, type: number, next: number, entries: number, hfOffset: number): void => {
    w32(b, no, 8);
    w32(b, next, 16);
    w16(b, entries, 20);
    w16(b, hfOffset, 22);
    b.writeUInt8(type, 25);
  };
  // Items of page 1: [key, data] pairs, packed downwards from the page end.
  const items: Buffer[] = [];
  const recordZeroKey = Buffer.alloc(5);
  recordZeroKey.writeUInt8(1, 0);
  const recordZeroData = Buffer.alloc(5);
  recordZeroData.writeUInt8(1, 0);
  w32(recordZeroData, blobs.length + 1, 1);
  items.push(recordZeroKey, recordZeroData);
  const usable = pageSize - 26;
  blobs.forEach((blob, index) => {
    const first = pages.length;
    for (let offset = 0; offset < blob.length; offset += usable) {
      const part = blob.subarray(offset, offset + usable);
      const page = Buffer.alloc(pageSize);
      const last = offset + usable >= blob.length;
      pageHeader(page, pages.length, 7, last ? 0 : pages.length + 1, 1, part.length);
      part.copy(page, 26);
      pages.push(page);
    }
    const key = Buffer.alloc(5);
    key.writeUInt8(1, 0);
    w32(key, index + 1, 1);
    const off = Buffer.alloc(12);
    off.writeUInt8(3, 0);
    w32(off, first, 4);
    w32(off, blob.length, 8);
    items.push(key, off);
  });
  const hash = pages[1] as Buffer;
  let end = pageSize;
  items.forEach((item, i) => {
    end -= item.length;
    item.copy(hash, end);
    w16(hash, end, 26 + i * 2);
  });
  pageHeader(hash, 1, 13, 0, items.length, end);
  const meta = pages[0] as Buffer;
  w32(meta, 0x061561, 12);
  w32(meta, 9, 16);
  w32(meta, pageSize, 20);
  meta.writeUInt8(8, 25);
  w32(meta, pages.length - 1, 32);
  return Buffer.concat(pages);
}

/** An rpm ndb Packages.db holding `blobs` (one slot page; blobs in 16-byte blocks after it). */
export function ndbFile(blobs: readonly Buffer[]): Buffer {
  const slots = Buffer.alloc(4096);
  slots.write('RpmP', 0, 'latin1');
  slots.writeUInt32LE(0, 4);
  slots.writeUInt32LE(1, 8);
  slots.writeUInt32LE(1, 12);
  const parts: Buffer[] = [slots];
  let block = 4096 / 16;
  for (let i = 0; i < 254; i++) {
    const at = 32 + i * 16;
    slots.write('Slot', at, 'latin1');
    const blob = blobs[i];
    if (blob === undefined) continue;
    const head = Buffer.alloc(16);
    head.write('BlbS', 0, 'latin1');
    head.writeUInt32LE(i + 1, 4);
    head.writeUInt32LE(0, 8);
    head.writeUInt32LE(blob.length, 12);
    const size = Math.ceil((16 + blob.length + 16) / 16) * 16;
    const body = Buffer.alloc(size);
    head.copy(body, 0);
    blob.copy(body, 16);
    slots.writeUInt32LE(i + 1, at + 4);
    slots.writeUInt32LE(block, at + 8);
    slots.writeUInt32LE(size / 16, at + 12);
    parts.push(body);
    block += size / 16;
  }
  return Buffer.concat(parts);
}
