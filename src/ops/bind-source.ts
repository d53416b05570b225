/**
 * Where a `RUN --mount=type=bind` source is on the host. The source is a path inside its own root
 * (a stage's filesystem, the build context): it is resolved as if that root were `/` (symlinks
 * followed inside it, `..` stopping at it), as BuildKit resolves it with continuity's `fs.RootPath`,
 * so a symlink to `/etc` or `../../..` in a stage or context leads to that root's `/etc`, never the
 * host's.
 *
 * runc bind-mounts the host path it is given and the kernel follows every symlink in it, so the path
 * handed on must not be redirectable. It is checked to be its own real path (no symlink anywhere in
 * it) and inside the real path of its root. It cannot change afterwards: every root a bind source is
 * taken from is private to the step or read-only — a read-only overlay view of a committed snapshot,
 * a throwaway writable snapshot made for this step alone, or a context view in the state root — and
 * the step's own process, the only untrusted code, starts only after runc has made every mount. (An
 * O_PATH descriptor passed as `/proc/self/fd/N` would pin the inode, but runc resolves mount sources
 * in its own process, not ours, so it cannot be handed one.)
 */
import { realpath } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { errnoCode, resolveInRoot } from '../util/root-path.js';

function notFound(source: string): StagecraftError {
  return new StagecraftError('FILE_NOT_FOUND', `mount source "${source}" not found`, {
    hint: 'check source= of the --mount; it is resolved inside the root of from= (or of the build context), symlinks included',
  });
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep));
}

/**
 * The host path of the bind source `source` (a path inside `root`). FILE_NOT_FOUND when it resolves
 * to nothing inside the root.
 */
export async function resolveBindSource(root: string, source: string): Promise<string> {
  const realRoot = await realpath(root);
  const host = await resolveInRoot(realRoot, source, { followFinal: true, lexical: true });
  let real: string;
  try {
    real = await realpath(host);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') throw notFound(source);
    throw error;
  }
  // resolveInRoot left no symlink in `host`; a difference means the tree changed while it was read.
  if (real !== host || !inside(realRoot, real)) {
    throw new StagecraftError('FILE_OPERATION', `mount source "${source}" changed while it was resolved`, {
      hint: 'another process is modifying the state root; run one build at a time on it or retry',
    });
  }
  return real;
}
