/**
 * A full disk as the user's error. ENOSPC (or EDQUOT) can surface from any write (a COPY into a
 * snapshot, an unpacked layer, a blob, an output file): whatever threw it has already removed its
 * temp files and mutable snapshot, so the store stays consistent; this turns the errno into NO_SPACE
 * naming the path (when the error has one), how much room is left there, and how to free some.
 */
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StagecraftError, isStagecraftError } from '../core/index.js';
import { formatSize } from '../util/streams.js';

/** The ENOSPC/EDQUOT error in `error` or its causes, if any. */
function findNoSpace(error: unknown): NodeJS.ErrnoException | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    // SQLITE_FULL: the metadata database could not grow.
    if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL') return current;
    current = current.cause;
  }
  return undefined;
}


/** Free and total bytes of the filesystem holding `path` (or its nearest existing parent). */
async function space(path: string): Promise<{ free: number; total: number } | undefined> {
  for (let current = path; ; current = dirname(current)) {
    try {
      const info = await statfs(current);
      return { free: info.bavail * info.bsize, total: info.blocks * info.bsize };
    } catch {
      if (dirname(current) === current) return undefined;
    }
  }
}

/**
 * `error` as NO_SPACE if a full disk caused it (`what`: what was being done, e.g. a step's name);
 * otherwise `error` unchanged. A StagecraftError is kept unless its cause is the full disk.
 */
export async function noSpaceError(error: unknown, stateRoot: string, what?: string): Promise<unknown> {
  const cause = findNoSpace(error);
  if (cause === undefined) return error;
  if (isStagecraftError(error) && error.code === 'NO_SPACE') return error;
  const path = cause.path ?? stateRoot;
  const room = await space(path);
  const left = room === undefined ? '' : ` (${formatSize(room.free)} free of ${formatSize(room.total)})`;
  const where = cause.path === undefined ? `the filesystem of the state root ${stateRoot}` : `the filesystem of ${cause.path}`;
  return new StagecraftError('NO_SPACE', `no space left on ${where}${left}${what === undefined ? '' : ` while running ${what}`}; nothing partial was kept`, {
    hint: `free space: \`stagecraft prune\` drops unused build cache, \`stagecraft prune --all\` also unpacked layers and cache mounts (\`stagecraft du\` shows usage); or use a state root on a larger filesystem (--root)`,
    cause: error,
  });
}
