/**
 * The few parts of an ELF file the binary catalogers need, read through an open `ScanFile` (never
 * the whole file): the header, the section table with names, the loadable segments (to turn a
 * virtual address into a file offset). Every offset and count is checked against the file size and
 * a cap; a malformed file yields `undefined`, never an exception or a large allocation.
 */
import type { ScanFile } from '../types.js';

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Section and program header tables larger than this are not from a real toolchain. */
const MAX_TABLE_BYTES = 1024 * 1024;

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  readonly address: bigint;
  readonly offset: number;
  readonly size: number;
}

export interface ElfSegment {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly filesz: number;
}

export interface ElfFile {
  readonly is64: boolean;
  readonly littleEndian: boolean;
  readonly sections: readonly ElfSection[];
  readonly segments: readonly ElfSegment[];
}

export const SHT_NOBITS = 8;
export const PT_LOAD = 1;
export const PF_W = 2;

class Reader {
  constructor(private readonly buffer: Buffer, private readonly little: boolean) {}
  u16(at: number): number {
    return this.little ? this.buffer.readUInt16LE(at) : this.buffer.readUInt16BE(at);
  }
  u32(at: number): number {
    return this.little ? this.buffer.readUInt32LE(at) : this.buffer.readUInt32BE(at);
  }
  u64(at: number): bigint {
    return this.little ? this.buffer.readBigUInt64LE(at) : this.buffer.readBigUInt64BE(at);
  }
  word(at: number, is64: boolean): bigint {
    return is64 ? this.u64(at) : BigInt(this.u32(at));
  }
}

/** A bigint offset or size as a number, when it fits in the file; undefined otherwise. */
function within(value: bigint, fileSize: number): number | undefined {
  return value <= BigInt(fileSize) ? Number(value) : undefined;
}

/** Parses the header and tables of an ELF file; undefined if it is not one. */
export async function readElf(file: ScanFile): Promise<ElfFile | undefined> {
  const fileSize = file.size;
  if (fileSize < 52) return undefined;
  const head = await file.read(0, 64);
  if (head.length < 52 || !head.subarray(0, 4).equals(ELF_MAGIC)) return undefined;
  const elfClass = head[4];
  const data = head[5];
  if ((elfClass !== 1 && elfClass !== 2) || (data !== 1 && data !== 2)) return undefined;
  const is64 = elfClass === 2;
  if (is64 && head.length < 64) return undefined;
  const r = new Reader(head, data === 1);
  const phoff = within(r.word(is64 ? 0x20 : 0x1c, is64), fileSize);
  const shoff = within(r.word(is64 ? 0x28 : 0x20, is64), fileSize);
  const phentsize = r.u16(is64 ? 0x36 : 0x2a);
  const phnum = r.u16(is64 ? 0x38 : 0x2c);
  const shentsize = r.u16(is64 ? 0x3a : 0x2e);
  const shnum = r.u16(is64 ? 0x3c : 0x30);
  const shstrndx = r.u16(is64 ? 0x3e : 0x32);

  const segments: ElfSegment[] = [];
  const phSize = phentsize * phnum;
  if (phoff !== undefined && phoff > 0 && phnum > 0 && phentsize >= (is64 ? 0x38 : 0x20) && phSize <= MAX_TABLE_BYTES && phoff + phSize <= fileSize) {
    const table = await file.read(phoff, phSize);
    if (table.length === phSize) {
      const t = new Reader(table, data === 1);
      for (let i = 0; i < phnum; i++) {
        const at = i * phentsize;
        const offset = within(t.word(at + (is64 ? 0x08 : 0x04), is64), fileSize);
        const filesz = t.word(at + (is64 ? 0x20 : 0x10), is64);
        if (offset === undefined || filesz > BigInt(fileSize - offset)) continue;
        segments.push({
          type: t.u32(at),
          flags: t.u32(at + (is64 ? 0x04 : 0x18)),
          offset,
          vaddr: t.word(at + (is64 ? 0x10 : 0x08), is64),
          filesz: Number(filesz),
        });
      }
    }
  }

  const sections: ElfSection[] = [];
  const shSize = shentsize * shnum;
  if (shoff !== undefined && shoff > 0 && shnum > 0 && shentsize >= (is64 ? 0x40 : 0x28) && shSize <= MAX_TABLE_BYTES && shoff + shSize <= fileSize && shstrndx < shnum) {
    const table = await file.read(shoff, shSize);
    if (table.length === shSize) {
      const t = new Reader(table, data === 1);
      const raw = [];
      for (let i = 0; i < shnum; i++) {
        const at = i * shentsize;
        raw.push({
          nameOffset: t.u32(at),
          type: t.u32(at + 4),
          address: t.word(at + (is64 ? 0x10 : 0x0c), is64),
          offset: t.word(at + (is64 ? 0x18 : 0x10), is64),
          size: t.word(at + (is64 ? 0x20 : 0x14), is64),
        });
      }
      const strtab = raw[shstrndx];
      const strOffset = strtab === undefined ? undefined : within(strtab.offset, fileSize);
      const strSize = strtab === undefined || strOffset === undefined ? undefined : within(strtab.size, fileSize - strOffset);
      const names = strOffset !== undefined && strSize !== undefined && strSize <= MAX_TABLE_BYTES
        ? await file.read(strOffset, strSize)
        : undefined;
      for (const section of raw) {
        const offset = within(section.offset, fileSize);
        const size = offset === undefined ? undefined : within(section.size, fileSize - offset);
        let name = '';
        if (names !== undefined && section.nameOffset < names.length) {
          const end = names.indexOf(0, section.nameOffset);
          name = names.toString('latin1', section.nameOffset, end === -1 ? names.length : end);
        }
        sections.push({
          name,
          type: section.type,
          address: section.address,
          offset: offset ?? 0,
          // A section that claims to extend past the end of the file has no readable contents.
          size: section.type === SHT_NOBITS || size === undefined ? 0 : size,
        });
      }
    }
  }
  return { is64, littleEndian: data === 1, sections, segments };
}

/** The file offset of virtual address `address` (inside a loadable segment's file bytes). */
export function fileOffsetOf(elf: ElfFile, address: bigint, length: number): number | undefined {
  for (const segment of elf.segments) {
    if (segment.type !== PT_LOAD) continue;
    if (address >= segment.vaddr && address + BigInt(length) <= segment.vaddr + BigInt(segment.filesz)) {
      return segment.offset + Number(address - segment.vaddr);
    }
  }
  return undefined;
}
