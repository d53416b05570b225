/**
 * Where an exported stream goes: a file (written atomically: readers never see half an archive) or a
 * stream the caller owns (stdout for `dest=-`), which is left open.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StagecraftError } from '../core/index.js';
import { writeStreamAtomic } from '../util/atomic.js';

/**
 * - `complete`: every byte was written.
 * - `closed`: the reader of the caller's stream went away first (EPIPE: `stagecraft build -o - . | head`);
 *   the rest is dropped, as a Unix tool writing to a closed pipe stops quietly.
 */
export type WriteOutcome = 'complete' | 'closed';

function isClosedPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

export async function writeOutput(data: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, output: string | NodeJS.WritableStream, signal?: AbortSignal): Promise<WriteOutcome> {
  if (typeof output === 'string') {
    await writeStreamAtomic(output, data instanceof Readable ? data : Readable.from(data), { signal, parents: true });
    return 'complete';
  }
  const source = data instanceof Readable ? data : Readable.from(data);
  try {
    await pipeline(source, output, { signal, end: false });
    return 'complete';
  } catch (error) {
    if (signal?.aborted !== true && isClosedPipe(error)) {
      source.destroy();
      return 'closed';
    }
    throw error;
  }
}

/** `dest`, or the caller's stdout for `-`. */
export function outputTarget(dest: string, stdout: NodeJS.WritableStream | undefined): string | NodeJS.WritableStream {
  if (dest !== '-') return dest;
  if (stdout === undefined) throw new StagecraftError('USAGE', 'an output to stdout (dest=-) needs a stdout', { hint: 'write to a file with dest=FILE' });
  return stdout;
}
