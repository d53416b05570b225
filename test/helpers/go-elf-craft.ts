/**
 * Go build information in crafted ELF files, for the go-module-binary tests: the Go ≥ 1.18 inline
 * blob, the 1.13–1.17 pointer format, a minimal little-endian ELF64 with or without a section table.
 */
export const MAGIC = Buffer.from('\xff Go buildinf:', 'latin1');
export const START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
export const END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

export function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

export const wrapped = (text: string): Buffer => Buffer.concat([START, Buffer.from(text), END]);

/** Go ≥ 1.18: header, then the version and module strings inline, uvarint-prefixed. */
export function inlineBlob(version: string, modinfo: Buffer): Buffer {
  const header = Buffer.alloc(32);
  MAGIC.copy(header);
  header[14] = 8;
  header[15] = 2;
  return Buffer.concat([header, uvarint(version.length), Buffer.from(version), uvarint(modinfo.length), modinfo]);
}

export interface Section { readonly name: string; readonly data: Buffer }

/**
 * A minimal little-endian ELF64: one PT_LOAD segment (writable) mapping the whole file at
 * 0x400000 + offset, the given sections' data 16-aligned after the headers, and a section table
 * (unless `sections` is empty). `build` gets each section's file offset to patch in pointers.
 */
export function elf64(sections: readonly Section[], options: { readonly withSectionTable?: boolean } = {}): { file: Buffer; offsets: number[] } {
  const base = 0x400000;
  const parts: Buffer[] = [];
  let offset = 64 + 56;
  const offsets: number[] = [];
  for (const section of sections) {
    const pad = (16 - (offset % 16)) % 16;
    parts.push(Buffer.alloc(pad));
    offset += pad;
    offsets.push(offset);
    parts.push(section.data);
    offset += section.data.length;
  }
  const names = Buffer.from(`\0${sections.map((s) => s.name).join('\0')}\0.shstrtab\0`);
  const namesOffset = offset;
  parts.push(names);
  offset += names.length;
  const withTable = options.withSectionTable ?? true;
  const shoff = offset;
  const shnum = withTable ? sections.length + 2 : 0;
  const table = Buffer.alloc(64 * shnum);
  if (withTable) {
    let nameAt = 1;
    sections.forEach((section, i) => {
      const at = (i + 1) * 64;
      table.writeUInt32LE(nameAt, at);
      table.writeUInt32LE(1, at + 4);
      table.writeBigUInt64LE(BigInt(base + (offsets[i] as number)), at + 0x10);
      table.writeBigUInt64LE(BigInt(offsets[i] as number), at + 0x18);
      table.writeBigUInt64LE(BigInt(section.data.length), at + 0x20);
      nameAt += section.name.length + 1;
    });
    const at = (sections.length + 1) * 64;
    table.writeUInt32LE(nameAt, at);
    table.writeUInt32LE(3, at + 4);
    table.writeBigUInt64LE(BigInt(namesOffset), at + 0x18);
    table.writeBigUInt64LE(BigInt(names.length), at + 0x20);
  }
  const total = offset + table.length;
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeUInt16LE(2, 16);
  header.writeUInt16LE(62, 18);
  header.writeBigUInt64LE(64n, 0x20);
  header.writeBigUInt64LE(withTable ? BigInt(shoff) : 0n, 0x28);
  header.writeUInt16LE(64, 0x34);
  header.writeUInt16LE(56, 0x36);
  header.writeUInt16LE(1, 0x38);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(shnum, 0x3c);
  header.writeUInt16LE(withTable ? sections.length + 1 : 0, 0x3e);
  const program = Buffer.alloc(56);
  program.writeUInt32LE(1, 0);
  program.writeUInt32LE(6, 4);
  program.writeBigUInt64LE(0n, 8);
  program.writeBigUInt64LE(BigInt(base), 0x10);
  program.writeBigUInt64LE(BigInt(total), 0x20);
  program.writeBigUInt64LE(BigInt(total), 0x28);
  return { file: Buffer.concat([header, program, ...parts, table]), offsets };
}

/** Go 1.13–1.17: the header holds two pointers to Go string headers { data, len }. */
export function pointerFormatElf(version: string, modinfo: Buffer): Buffer {
  const base = 0x400000;
  // Layout of the section: header (32) | version string header (16) | modinfo string header (16) | version | modinfo
  const size = 32 + 32 + version.length + modinfo.length;
  const first = elf64([{ name: '.go.buildinfo', data: Buffer.alloc(size) }]);
  const at = first.offsets[0] as number;
  const blob = Buffer.alloc(size);
  MAGIC.copy(blob);
  blob[14] = 8;
  blob[15] = 0;
  blob.writeBigUInt64LE(BigInt(base + at + 32), 16);
  blob.writeBigUInt64LE(BigInt(base + at + 48), 24);
  blob.writeBigUInt64LE(BigInt(base + at + 64), 32);
  blob.writeBigUInt64LE(BigInt(version.length), 40);
  blob.writeBigUInt64LE(BigInt(base + at + 64 + version.length), 48);
  blob.writeBigUInt64LE(BigInt(modinfo.length), 56);
  blob.write(version, 64, 'latin1');
  modinfo.copy(blob, 64 + version.length);
  return elf64([{ name: '.go.buildinfo', data: blob }]).file;
}

