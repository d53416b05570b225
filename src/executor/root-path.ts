/**
 * Paths inside a container rootfs, resolved on the host the way the kernel would inside the
 * container: symlinks are followed with the rootfs as `/`, and `..` never leaves it (the semantics
 * of filepath-securejoin, which runc uses for mount destinations).
 */
import { chown, lstat, mkdir, readFile, readlink, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
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

/** Reads the container file `path` under `root`, or undefined when it does not exist. */
export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (error) {
    if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
    throw error;
  }
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
  const hostPath = await resolveInRoot(root, path);
  const { missing } = await missingPaths(root, hostPath);
  for (const dir of missing) {
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') {
        throw new StagecraftError('FILE_OPERATION', `cannot create working directory ${path}: a parent is not a directory`, {
          hint: 'WORKDIR must name a directory; a file of the image is in the way',
        });
      }
      throw error;
    }
    await chown(dir, uid, gid);
  }
  const info = await stat(hostPath);
  if (!info.isDirectory()) {
    throw new StagecraftError('FILE_OPERATION', `working directory ${path} is not a directory`, {
      hint: 'WORKDIR must name a directory; a file of the image is in the way',
    });
  }
}

/**
 * Mount points runc creates in the rootfs for mounts whose target is missing ("stubs"), recorded
 * before the run so they can be removed after it: a RUN step's mounts leave no trace in its layer.
 * The parents' timestamps are restored too.
 */
export class MountStubs {
  readonly #stubs = new Set<string>();
  readonly #parents = new Map<string, { atime: Date; mtime: Date }>();

  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /** Records the missing parts of the container path `target`. */
  async record(target: string): Promise<void> {
    const { missing, existing } = await missingPaths(this.#root, await resolveInRoot(this.#root, target));
    if (missing.length === 0) return;
    for (const path of missing) this.#stubs.add(path);
    if (!this.#parents.has(existing)) {
      const info = await stat(existing);
      this.#parents.set(existing, { atime: info.atime, mtime: info.mtime });
    }
  }

  /** Removes recorded stubs that are still empty (deepest first), then restores parent times. */
  async remove(): Promise<void> {
    const stubs = [...this.#stubs].sort((a, b) => b.length - a.length);
    for (const path of stubs) {
      try {
        const info = await lstat(path);
        if (info.isDirectory()) await rmdir(path);
        else if (info.isFile() && info.size === 0) await unlink(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (!isMissing(error) && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw error;
      }
    }
    for (const [path, times] of this.#parents) {
      try {
        await utimes(path, times.atime, times.mtime);
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
  }
}
