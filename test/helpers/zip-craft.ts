/**
 * Writes zip archives for tests (jar, war fixtures and hostile archives): stored or deflated
 * entries, optional bytes prepended (as a self-executing jar) and optional lies in the declared
 * sizes (zip bombs).
 */
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipSpecEntry {
  readonly name: string;
  readonly data: Buffer | string;
  /** 0 stored, 8 deflated (default). */
  readonly method?: 0 | 8;
  /** Declared uncompressed size, when it should lie. */
  readonly declaredSize?: number;
  /** `data` is already a raw deflate stream (method 8; the CRC is left 0). */
  readonly precompressed?: boolean;
}

export function makeZip(entries: readonly ZipSpecEntry[], options: { readonly prefix?: Buffer } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : entry.data;
    const method = entry.precompressed === true ? 8 : entry.method ?? 8;
    const body = entry.precompressed === true || method === 0 ? data : deflateRawSync(data);
    const name = Buffer.from(entry.name);
    const crc = entry.precompressed === true ? 0 : crc32(data);
    const size = entry.declaredSize ?? data.length;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([options.prefix ?? Buffer.alloc(0), ...locals, directory, end]);
}
