/**
 * Paths inside a container rootfs, resolved on the host the way the kernel would inside the
 * container: symlinks are followed with the rootfs as `/`, and `..` never leaves it (the semantics
 * of filepath-securejoin, which runc uses for mount destinations).
 *
 * Resolving a path to a host string and then using that string would follow whatever symlink is
 * there by the time it is used. So everything that reads, creates, removes or touches files in a
 * rootfs walks from a directory handle of the root, one component at a time, opening each with
 * O_NOFOLLOW|O_DIRECTORY (the equivalent of openat2 RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS over an
 * already resolved path), and acts on the last component through its parent's handle
 * (`/proc/self/fd/N/name`, the *at() calls Node lacks). A symlink planted after resolution (a RUN
 * step replacing a directory between the recording of its mount stubs and their removal) makes
 * the walk fail instead of leading outside. Every handle is opened close-on-exec (libuv's default).
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { StagecraftError } from '../core/index.js';

const MAX_LINKS = 255;

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * The host path of the container path `path` under `root`. Components that do not exist are kept
 * literally, so the result can be created. Throws on a symlink loop.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  let pending = path.split('/');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift() ?? '';
    if (component === '' || component === '.') continue;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, component];
    let isLink = false;
    try {
      isLink = (await lstat(join(root, ...candidate))).isSymbolicLink();
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (!isLink) {
      resolved.push(component);
      continue;
    }
    links += 1;
    if (links > MAX_LINKS) {
      throw new StagecraftError('FILE_OPERATION', `too many levels of symbolic links resolving ${path} in the rootfs`, {
        hint: 'a symlink in the image points back at itself; fix or remove it',
      });
    }
    const target = await readlink(join(root, ...candidate));
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return resolve(root, ...resolved);
}

/** The container path `path` resolves to under `root` (absolute, no symlink, no `..`). */
export async function containerPathInRoot(root: string, path: string): Promise<string> {
  return `/${partsBelow(root, await resolveInRoot(root, path)).join('/')}`;
}

/** The largest file `readFileInRoot` reads (an /etc/passwd or /etc/group). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** `name` in the directory open as `dir`, without following anything on the way there. */
function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** The components of the host path `hostPath` (from `resolveInRoot`) below `root`. */
function partsBelow(root: string, hostPath: string): string[] {
  const rel = relative(resolve(root), resolve(hostPath));
  if (rel === '') return [];
  if (rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`${hostPath} is not inside ${root}`);
  return rel.split(sep);
}

/**
 * Opens the directory `parts` below `root` (no component may be a symlink). Rejects with the
 * errno of the first component that is missing (ENOENT), not a directory (ENOTDIR) or a symlink
 * (ELOOP). The caller closes the handle.
 */
async function openDirInRoot(root: string, parts: readonly string[]): Promise<FileHandle> {
  let dir = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const part of parts) {
      const next = await open(at(dir, part), DIRECTORY_FLAGS);
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (error) {
    await dir.close();
    throw error;
  }
}

/** Runs `action` with the open directory `parts` below `root`; undefined when the walk fails. */
async function withDirInRoot<T>(root: string, parts: readonly string[], action: (dir: FileHandle) => Promise<T>): Promise<T | undefined> {
  let dir: FileHandle;
  try {
    dir = await openDirInRoot(root, parts);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw error;
  }
  try {
    return await action(dir);
  } finally {
    await dir.close();
  }
}

/**
 * Reads the container file `path` under `root`, or undefined when it does not exist or is not a
 * regular file (a directory, a device node, a FIFO: nothing that could block, never end, or act on a
 * device of the host — only a regular file is ever opened).
 */
export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  const parts = partsBelow(root, await resolveInRoot(root, path));
  const name = parts.pop();
  if (name === undefined) return undefined;
  const read = await withDirInRoot(root, parts, async (dir) => {
    // Looked at before it is opened: opening a device node the image holds (a step with CAP_MKNOD can
    // make /etc/passwd any device, e.g. a watchdog, which arms on open) would act on the host's device.
    let entry;
    try {
      entry = await lstat(at(dir, name));
    } catch (error) {
      if (isMissing(error)) return { text: undefined };
      throw error;
    }
    if (!entry.isFile()) return { text: undefined };
    let file: FileHandle;
    try {
      file = await open(at(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EISDIR') return { text: undefined };
      throw error;
    }
    try {
      const info = await file.stat();
      // The same regular file that was looked at (nothing else writes the rootfs meanwhile).
      if (!info.isFile() || info.ino !== entry.ino || info.dev !== entry.dev) return { text: undefined };
      if (info.size > MAX_READ_BYTES) {
        throw new StagecraftError('FILE_OPERATION', `${path} in the image is ${info.size} bytes, more than the ${MAX_READ_BYTES} read for user lookup`, {
          hint: `${path} must be a small text file; fix the image`,
        });
      }
      return { text: await file.readFile('utf8') };
    } finally {
      await file.close();
    }
  });
  return read?.text;
}

function notADirectory(path: string, cause: unknown): StagecraftError {
  return new StagecraftError('FILE_OPERATION', `working directory ${path} is not a directory`, {
    hint: 'WORKDIR must name a directory; a file of the image is in the way',
    cause,
  });
}

/**
 * The missing ancestors of the host path `hostPath` (itself included), shallowest first, stopping at
 * `root`. `hostPath` must come from `resolveInRoot`, so nothing past the first missing component is
 * a symlink.
 */
export async function missingPaths(root: string, hostPath: string): Promise<{ missing: string[]; existing: string }> {
  const base = resolve(root);
  const missing: string[] = [];
  let current = resolve(hostPath);
  while (current.length > base.length) {
    try {
      await lstat(current);
      break;
    } catch (error) {
      if (!isMissing(error)) throw error;
      missing.unshift(current);
      current = dirname(current);
    }
  }
  return { missing, existing: current };
}

/**
 * Creates directory `path` (a container path) under `root` with its missing parents, mode 0755,
 * owned by `uid:gid`. Existing directories are left as they are.
 */
export async function mkdirInRoot(root: string, path: string, uid: number, gid: number): Promise<void> {
  const parts = partsBelow(root, await resolveInRoot(root, path));
  let dir = await open(resolve(root), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const [index, part] of parts.entries()) {
      let next: FileHandle;
      try {
        next = await open(at(dir, part), DIRECTORY_FLAGS);
      } catch (error) {
        const code = errnoOf(error);
        if (code === 'ENOTDIR') {
          if (index === parts.length - 1) throw notADirectory(path, error);
          throw new StagecraftError('FILE_OPERATION', `cannot create working directory ${path}: a parent is not a directory`, {
            hint: 'WORKDIR must name a directory; a file of the image is in the way',
            cause: error,
          });
        }
        if (code === 'ELOOP') throw notADirectory(path, error);
        if (code !== 'ENOENT') throw error;
        await mkdir(at(dir, part), { mode: 0o755 });
        next = await open(at(dir, part), DIRECTORY_FLAGS);
        await next.chown(uid, gid);
        await next.chmod(0o755);
      }
      await dir.close();
      dir = next;
    }
  } finally {
    await dir.close();
  }
}

/**
 * Mount points runc creates in the rootfs for mounts whose target is missing ("stubs"), recorded
 * before the run so they can be removed after it: a RUN step's mounts leave no trace in its layer.
 * The parents' timestamps are restored too. Both are done by walking from the root with no symlink
 * followed (see the module comment): the step may have replaced any directory on the way by a
 * symlink; such a stub is left where it is, and nothing outside the rootfs is removed or touched.
 */
export class MountStubs {
  /** Stubs and parents as components below the root, keyed by their joined form. */
  readonly #stubs = new Map<string, readonly string[]>();
  readonly #parents = new Map<string, { parts: readonly string[]; atime: Date; mtime: Date }>();

  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /** Records the missing parts of the container path `target`. */
  async record(target: string): Promise<void> {
    const { missing, existing } = await missingPaths(this.#root, await resolveInRoot(this.#root, target));
    if (missing.length === 0) return;
    for (const path of missing) {
      const parts = partsBelow(this.#root, path);
      this.#stubs.set(parts.join('/'), parts);
    }
    const parentParts = partsBelow(this.#root, existing);
    const key = parentParts.join('/');
    if (!this.#parents.has(key)) {
      const info = await lstat(existing);
      if (info.isDirectory()) this.#parents.set(key, { parts: parentParts, atime: info.atime, mtime: info.mtime });
    }
  }

  /** Removes recorded stubs that are still empty (deepest first), then restores parent times. */
  async remove(): Promise<void> {
    const stubs = [...this.#stubs.values()].sort((a, b) => b.length - a.length);
    for (const parts of stubs) {
      const name = parts[parts.length - 1];
      if (name === undefined) continue;
      await withDirInRoot(this.#root, parts.slice(0, -1), async (dir) => {
        try {
          // lstat, rmdir and unlink act on the entry itself: a symlink there is neither removed through nor followed.
          const info = await lstat(at(dir, name));
          if (info.isDirectory()) await rmdir(at(dir, name));
          else if (info.isFile() && info.size === 0) await unlink(at(dir, name));
        } catch (error) {
          const code = errnoOf(error);
          if (!isMissing(error) && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw error;
        }
      });
    }
    for (const { parts, atime, mtime } of this.#parents.values()) {
      await withDirInRoot(this.#root, parts, (dir) => dir.utimes(atime, mtime));
    }
  }
}
