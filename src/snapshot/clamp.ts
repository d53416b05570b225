/**
 * SOURCE_DATE_EPOCH for a layer that is already written: every entry whose mtime is later than the
 * epoch gets the epoch, earlier times are kept (BuildKit's `rewrite-timestamp=true`). The archive is
 * read and written again with the layer writer, so a layer made by stagecraft comes out byte for byte
 * as if it had been packed with the clamp in the first place (entry order, pax records, padding).
 */
import type { Readable } from 'node:stream';
import { readTar } from './tar/reader.js';
import { writeTar, type TarWriteEntry } from './tar/writer.js';

/** The mtime an entry gets under `epoch`: later times clamped, earlier ones kept. */
export function clampTime(mtime: number, epoch: number): number {
  return mtime > epoch ? epoch : mtime;
}

/** `tar` (a plain layer tar) with every mtime later than `epoch` clamped to it. */
export function clampTarTimes(tar: AsyncIterable<Uint8Array>, epoch: number, signal?: AbortSignal): Readable {
  async function* entries(): AsyncGenerator<TarWriteEntry> {
    for await (const { header, body } of readTar(tar)) {
      signal?.throwIfAborted();
      const clamped = { ...header, mtime: clampTime(header.mtime, epoch) };
      // The body is streamed when the writer asks for it, before the reader moves on (readTar's contract).
      yield header.type === 'file' && header.size > 0 ? { header: clamped, body: () => body } : { header: clamped };
    }
  }
  return writeTar(entries(), signal);
}
