/**
 * Where rpmdb keeps its header blobs, for the two non-SQLite backends (read from a copy in memory):
 *
 * - Berkeley DB hash (`/var/lib/rpm/Packages`, RHEL ≤ 8, CentOS, Amazon Linux 2): a hash meta
 *   page, then hash pages of key/data item pairs; a header is an off-page item whose bytes live in
 *   a chain of overflow pages. Layout: libdb's src/dbinc/db_page.h (page header, HOFFPAGE item,
 *   P_HASH / P_HASH_UNSORTED / P_OVERFLOW page types).
 * - ndb (`/var/lib/rpm/Packages.db`, SUSE): a 32-byte header, slot pages of 16-byte slots, each
 *   pointing at a 16-byte-block "blob" (rpm's lib/backend/ndb/rpmpkg.c).
 *
 * Every page number, offset and length is checked against the file: a hostile file gives an
 * error or fewer blobs, never an out-of-range read or a loop.
 */

export class RpmStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpmStoreError';
  }
}

/** The blobs found and how many items could not be read. */
export interface StoreBlobs {
  readonly blobs: readonly Buffer[];
  readonly skipped: number;
}

const BDB_HASH_MAGIC = 0x061561;
const BDB_PAGE_HEADER = 26;
const P_HASH_UNSORTED = 2;
const P_OVERFLOW = 7;
const P_HASHMETA = 8;
const P_HASH = 13;
const H_KEYDATA = 1;
const H_OFFPAGE = 3;
const HOFFPAGE_SIZE = 12;
const MAX_BLOB = 256 * 1024 * 1024;

/** True when the file starts with a Berkeley DB hash meta page (either byte order). */
export function isBdbHash(file: Buffer): boolean {
  return file.length >= 72 && (file.readUInt32LE(12) === BDB_HASH_MAGIC || file.readUInt32BE(12) === BDB_HASH_MAGIC);
}

/** Every data item of every hash page (the rpm headers; keys are the package numbers). */
export function bdbHashValues(file: Buffer): StoreBlobs {
  if (!isBdbHash(file)) throw new RpmStoreError('not a Berkeley DB hash database (bad magic)');
  const little = file.readUInt32LE(12) === BDB_HASH_MAGIC;
  const u32 = (at: number): number => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const u16 = (at: number): number => (little ? file.readUInt16LE(at) : file.readUInt16BE(at));
  const pageSize = u32(20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new RpmStoreError(`page size ${pageSize} is not a power of two in 512..65536`);
  if (file.readUInt8(24) !== 0) throw new RpmStoreError('the database is encrypted');
  if (file.readUInt8(25) !== P_HASHMETA) throw new RpmStoreError(`page 0 is type ${file.readUInt8(25)}, not a hash meta page`);
  if ((file.readUInt8(26) & 0x01) !== 0) throw new RpmStoreError('pages carry checksums (DB_CHKSUM), which this reader does not handle');
  const pages = Math.floor(file.length / pageSize);
  const lastPage = Math.min(u32(32), pages - 1);

  /** The bytes of an off-page item: its overflow chain, `total` bytes long. */
  const overflow = (first: number, total: number): Buffer => {
    if (total > MAX_BLOB) throw new RpmStoreError(`off-page item of ${total} bytes`);
    const parts: Buffer[] = [];
    let size = 0;
    const seen = new Set<number>();
    for (let page = first; page !== 0;) {
      if (page > lastPage || seen.has(page)) throw new RpmStoreError(`overflow chain reaches page ${page} (outside the file or a loop)`);
      seen.add(page);
      const start = page * pageSize;
      if (file.readUInt8(start + 25) !== P_OVERFLOW) throw new RpmStoreError(`page ${page} in an overflow chain is not an overflow page`);
      const next = u32(start + 16);
      // On overflow pages the "high free offset" field holds the bytes used on that page.
      const used = u16(start + 22);
      if (used > pageSize - BDB_PAGE_HEADER) throw new RpmStoreError(`overflow page ${page} claims ${used} bytes`);
      parts.push(file.subarray(start + BDB_PAGE_HEADER, start + BDB_PAGE_HEADER + used));
      size += used;
      if (size > total) throw new RpmStoreError(`overflow chain from page ${first} is longer than its ${total} bytes`);
      page = next;
    }
    if (size !== total) throw new RpmStoreError(`overflow chain from page ${first} has ${size} of ${total} bytes`);
    return Buffer.concat(parts, size);
  };

  const blobs: Buffer[] = [];
  let skipped = 0;
  for (let page = 1; page <= lastPage; page++) {
    const start = page * pageSize;
    const type = file.readUInt8(start + 25);
    if (type !== P_HASH && type !== P_HASH_UNSORTED) continue;
    const entries = u16(start + 20);
    if (entries % 2 !== 0 || BDB_PAGE_HEADER + entries * 2 > pageSize) {
      skipped++;
      continue;
    }
    const offsets: number[] = [];
    for (let i = 0; i < entries; i++) offsets.push(u16(start + BDB_PAGE_HEADER + i * 2));
    // Items pack downwards from the page end: item i ends where item i-1 starts.
    for (let i = 1; i < entries; i += 2) {
      const at = offsets[i] ?? 0;
      const end = offsets[i - 1] ?? pageSize;
      if (at < BDB_PAGE_HEADER + entries * 2 || at >= pageSize) {
        skipped++;
        continue;
      }
      const itemType = file.readUInt8(start + at);
      try {
        if (itemType === H_OFFPAGE) {
          if (at + HOFFPAGE_SIZE > pageSize) throw new RpmStoreError('off-page item past the page end');
          blobs.push(overflow(u32(start + at + 4), u32(start + at + 8)));
        } else if (itemType === H_KEYDATA) {
          // A small on-page value; rpm's record 0 (4 bytes: the next package number) is not a header.
          if (end > at + 1 && end <= pageSize && end - at - 1 >= 24) blobs.push(file.subarray(start + at + 1, start + end));
        } else {
          skipped++;
        }
      } catch (error) {
        if (!(error instanceof RpmStoreError)) throw error;
        skipped++;
      }
    }
  }
  return { blobs, skipped };
}

const NDB_HEADER_MAGIC = 0x506d7052; // "RpmP" little-endian
const NDB_SLOT_MAGIC = 0x746f6c53; // "Slot"
const NDB_BLOB_MAGIC = 0x53626c42; // "BlbS"
const NDB_SLOTS_PER_PAGE = 4096 / 16;
const NDB_BLOCK = 16;
const NDB_MAX_SLOT_PAGES = 2048;

export function isNdb(file: Buffer): boolean {
  return file.length >= 32 && file.readUInt32LE(0) === NDB_HEADER_MAGIC;
}

/** Every package blob of an ndb Packages.db (the file is little-endian on every platform). */
export function ndbBlobs(file: Buffer): StoreBlobs {
  if (!isNdb(file)) throw new RpmStoreError('not an rpm ndb database (bad magic)');
  if (file.readUInt32LE(4) !== 0) throw new RpmStoreError(`ndb version ${file.readUInt32LE(4)} is not 0`);
  const slotPages = file.readUInt32LE(12);
  if (slotPages === 0 || slotPages > NDB_MAX_SLOT_PAGES) throw new RpmStoreError(`ndb claims ${slotPages} slot pages`);
  // The 32-byte header takes the place of the first two slots.
  const slots = slotPages * NDB_SLOTS_PER_PAGE - 2;
  if (32 + slots * 16 > file.length) throw new RpmStoreError(`ndb slot pages (${slotPages}) run past the end of the ${file.length}-byte file`);
  const blobs: Buffer[] = [];
  let skipped = 0;
  for (let i = 0; i < slots; i++) {
    const at = 32 + i * 16;
    if (file.readUInt32LE(at) !== NDB_SLOT_MAGIC) throw new RpmStoreError(`ndb slot ${i} has a bad magic`);
    const pkgIndex = file.readUInt32LE(at + 4);
    if (pkgIndex === 0) continue;
    const blobAt = file.readUInt32LE(at + 8) * NDB_BLOCK;
    if (blobAt + 16 > file.length || file.readUInt32LE(blobAt) !== NDB_BLOB_MAGIC || file.readUInt32LE(blobAt + 4) !== pkgIndex) {
      skipped++;
      continue;
    }
    const length = file.readUInt32LE(blobAt + 12);
    if (length > MAX_BLOB || blobAt + 16 + length > file.length) {
      skipped++;
      continue;
    }
    blobs.push(file.subarray(blobAt + 16, blobAt + 16 + length));
  }
  return { blobs, skipped };
}
