/**
 * Tar archives built byte by byte, independent of src/snapshot/tar (so a test can make what no honest
 * writer makes: names with NUL or invalid UTF-8, hostile pax records, lying size fields).
 */

export interface RawEntry {
  readonly name: string | Buffer;
  /** The typeflag character: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, 'x' pax, 'L' GNU long name… */
  readonly type?: string | undefined;
  readonly mode?: number | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** The size field; defaults to the data length. */
  readonly size?: number | undefined;
  readonly mtime?: number | undefined;
  readonly data?: Buffer | string | undefined;
  readonly linkname?: string | Buffer | undefined;
  readonly devmajor?: number | undefined;
  readonly devminor?: number | undefined;
}

function put(block: Buffer, offset: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  bytes.copy(block, offset, 0, Math.min(length, bytes.length));
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  put(block, offset, length - 1, value.toString(8).padStart(length - 1, '0'));
}

/** One 512-byte ustar header with a correct checksum. */
export function header(entry: RawEntry): Buffer {
  const data = typeof entry.data === 'string' ? Buffer.from(entry.data) : entry.data ?? Buffer.alloc(0);
  const block = Buffer.alloc(512);
  put(block, 0, 100, entry.name);
  octal(block, 100, 8, entry.mode ?? 0o644);
  octal(block, 108, 8, entry.uid ?? 0);
  octal(block, 116, 8, entry.gid ?? 0);
  octal(block, 124, 12, entry.size ?? data.length);
  octal(block, 136, 12, entry.mtime ?? 1_500_000_000);
  put(block, 156, 1, entry.type ?? '0');
  put(block, 157, 100, entry.linkname ?? '');
  put(block, 257, 8, 'ustar\x0000');
  octal(block, 329, 8, entry.devmajor ?? 0);
  octal(block, 337, 8, entry.devminor ?? 0);
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A header and its padded body. */
export function entry(fields: RawEntry): Buffer {
  const data = typeof fields.data === 'string' ? Buffer.from(fields.data) : fields.data ?? Buffer.alloc(0);
  return Buffer.concat([header(fields), pad(data)]);
}

/** One pax record, `<len> <key>=<value>\n`. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), typeof value === 'string' ? Buffer.from(value) : value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** A pax extended header (typeflag 'x') applying to the next entry. */
export function pax(records: ReadonlyArray<readonly [string, string | Buffer]>): Buffer {
  const data = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  return entry({ name: 'PaxHeaders.0/x', type: 'x', data });
}

export const END = Buffer.alloc(1024);

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

// Shorthands.
export const file = (name: string | Buffer, data: string | Buffer = '', extra: Partial<RawEntry> = {}): Buffer => entry({ name, type: '0', data, ...extra });
export const dir = (name: string | Buffer, extra: Partial<RawEntry> = {}): Buffer => entry({ name, type: '5', mode: 0o755, ...extra });
export const symlink = (name: string | Buffer, target: string | Buffer): Buffer => entry({ name, type: '2', linkname: target, mode: 0o777 });
export const hardlink = (name: string | Buffer, target: string | Buffer): Buffer => entry({ name, type: '1', linkname: target });
