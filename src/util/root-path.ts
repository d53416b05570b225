/**
 * Paths inside a root directory (a rootfs, a stage's filesystem, the build context, a layer being
 * extracted), resolved as if the root were `/`: `..` stops at the root, an absolute symlink target
 * starts again at the root, a relative one at the link's directory. A symlink to `/etc` or to
 * `../../..` leads to the root's `/etc` or the root itself, never the host's. These are the semantics
 * of filepath-securejoin (runc, for mount destinations) and of continuity's `fs.RootPath` (BuildKit,
 * for file operations, which cleans the path lexically first: `lexical`).
 *
 * The one implementation for every module. It walks from a directory handle of the root, one
 * component at a time, opening each directory with O_NOFOLLOW|O_DIRECTORY relative to its parent's
 * handle (`/proc/self/fd/N/name`, the *at() calls Node lacks; the equivalent of openat2
 * RESOLVE_IN_ROOT); a symlink is read through its parent's handle and its target walked the same way.
 * So no host path string is ever followed on the way, and a directory swapped for a symlink while the
 * walk runs is met as a symlink and resolved inside the root. Every handle is opened close-on-exec
 * (libuv's default).
 *
 * What the walk returns is a host path: a caller that acts on it later follows whatever is there by
 * then. Callers whose tree an untrusted process can change meanwhile act through handles instead
 * (`withDirInRoot`, `readFileInRoot`).
 */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, type FileHandle } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { cleanPath } from './patterns.js';

/** Symlinks followed in one walk at the most: the kernel's MAXSYMLINKS. */
export const MAX_SYMLINKS = 40;
/** PATH_MAX: the most components waiting to be walked (symlink targets add theirs), the longest host path created. */
const MAX_PENDING = 4096;
/** The largest file `readFileInRoot` reads (an /etc/passwd or /etc/group). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The errno code of `error`, if it has one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** `name` in the directory open as `dir`, without following anything on the way there. */
export function at(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** The components of the host path `hostPath` below `root` (throws when it is not inside). */
export function partsBelow(root: string, hostPath: string): string[] {
  const rel = relative(resolve(root), resolve(hostPath));
  if (rel === '') return [];
  if (rel === '..' || rel.startsWith(`..${sep}`) || rel.startsWith(sep)) throw new Error(`${hostPath} is not inside ${root}`);
  return rel.split(sep);
}

/** How the walk words the errors a path inside the root can cause; each caller names its own fix. */
export interface WalkErrors {
  /** More than `MAX_SYMLINKS` symlinks on the way (a loop). */
  readonly tooManyLinks: (path: string) => StagecraftError;
  /** `create` only: `blocker` (a container path) is in the way and not a directory; `final` when it is `path` itself. */
  readonly notADirectory: (path: string, blocker: string, final: boolean) => StagecraftError;
}

const DEFAULT_ERRORS: WalkErrors = {
  tooManyLinks: (path) => new StagecraftError('FILE_OPERATION', `too many levels of symbolic links resolving "${path}"`, {
    hint: 'a symlink in the path points back at itself; fix the link in the image or the build context',
  }),
  notADirectory: (path, blocker) => new StagecraftError('FILE_OPERATION', `cannot create directory "${path}": "${blocker}" is not a directory`, {
    hint: 'a file is in the way of the destination path; remove it first or choose another destination',
  }),
};

/** Created directories: mode (set exactly, whatever the umask), owner and times. */
export interface CreateDirOptions {
  readonly mode: number;
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
  /** Seconds since the epoch for the created directories' atime and mtime. */
  readonly mtime?: number | undefined;
}

export interface WalkOptions {
  /** Follow a symlink in the last component too (default). Otherwise only its parents are resolved. */
  readonly followFinal?: boolean | undefined;
  /** Clean the path lexically before walking (`a/../b` is `b` whatever `a` is), as Docker and BuildKit file operations do. */
  readonly lexical?: boolean | undefined;
  /** Create the missing directories (MkdirAll); a non-directory in the way is an error. Otherwise missing components are kept as they are. */
  readonly create?: CreateDirOptions | undefined;
  readonly errors?: Partial<WalkErrors> | undefined;
}

export interface Walked {
  /** The host path: `root` joined with `parts`. */
  readonly path: string;
  /** Its components below the root: no `..`, no symlink but perhaps the last (without `followFinal`). */
  readonly parts: readonly string[];
  /** How many of the leading `parts` exist (the rest are missing, or below a non-directory). */
  readonly existing: number;
  /** Host paths of the directories `create` made, parents first. */
  readonly created: readonly string[];
}

/**
 * Resolves the path `path` inside `root` (see the module comment). Components that do not exist
 * (and anything below a non-directory) are kept literally, so the result can be created.
 */
export async function walkInRoot(root: string, path: string, options: WalkOptions = {}): Promise<Walked> {
  const errors = { ...DEFAULT_ERRORS, ...options.errors };
  const shown = options.lexical === true ? cleanPath(`/${path}`) : path;
  const pending = shown.split('/');
  const followFinal = options.followFinal ?? true;
  const parts: string[] = [];
  /** Whether each of `parts` exists. */
  const exists: boolean[] = [];
  const created: string[] = [];
  // handles[i + 1] is the open directory parts[i]; fewer handles than parts once a component is missing.
  const handles: FileHandle[] = [await open(root, constants.O_RDONLY | constants.O_DIRECTORY)];
  let links = 0;
  try {
    while (pending.length > 0) {
      const part = pending.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        parts.pop();
        exists.pop();
        if (handles.length > parts.length + 1) await handles.pop()?.close();
        continue;
      }
      const dir = handles[handles.length - 1] as FileHandle;
      if (handles.length <= parts.length) {
        // Below something missing or not a directory.
        parts.push(part);
        exists.push(false);
        continue;
      }
      if (!followFinal && pending.every((p) => p === '' || p === '.')) {
        parts.push(part);
        exists.push((await lstatAt(dir, part)) !== undefined);
        continue;
      }
      let next: FileHandle | undefined;
      try {
        next = await open(at(dir, part), DIRECTORY_FLAGS);
      } catch (error) {
        const code = errnoCode(error);
        if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
      }
      if (next === undefined) {
        const info = await lstatAt(dir, part);
        if (info?.isSymbolicLink() === true) {
          links += 1;
          const target = await readlink(at(dir, part));
          if (links > MAX_SYMLINKS || pending.length > MAX_PENDING) throw errors.tooManyLinks(shown);
          if (target.startsWith('/')) {
            parts.length = 0;
            exists.length = 0;
            for (const handle of handles.splice(1)) await handle.close();
          }
          pending.unshift(...target.split('/'));
          continue;
        }
        if (info !== undefined || options.create === undefined) {
          if (options.create !== undefined) throw errors.notADirectory(shown, `/${[...parts, part].join('/')}`, pending.every((p) => p === '' || p === '.'));
          parts.push(part);
          exists.push(info !== undefined);
          continue;
        }
        const hostPath = join(root, ...parts, part);
        // A handle walk could go deeper, but every path-based use of the tree afterwards (copies, diffs, tar) would fail.
        if (Buffer.byteLength(hostPath) >= MAX_PENDING) {
          throw Object.assign(new Error(`ENAMETOOLONG: name too long, mkdir '${hostPath.slice(0, 200)}…'`), { code: 'ENAMETOOLONG', syscall: 'mkdir' });
        }
        next = await createDir(dir, part, options.create);
        created.push(hostPath);
      }
      handles.push(next);
      parts.push(part);
      exists.push(true);
    }
    const missing = exists.indexOf(false);
    return { path: join(root, ...parts), parts, existing: missing === -1 ? parts.length : missing, created };
  } finally {
    for (const handle of handles) await handle.close();
  }
}

/** lstat of `name` in `dir`; undefined when it does not exist. */
async function lstatAt(dir: FileHandle, name: string): Promise<Stats | undefined> {
  try {
    return await lstat(at(dir, name));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

async function createDir(dir: FileHandle, name: string, options: CreateDirOptions): Promise<FileHandle> {
  try {
    await mkdir(at(dir, name), { mode: options.mode & 0o777 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error; // made meanwhile: opened below like any directory
  }
  const handle = await open(at(dir, name), DIRECTORY_FLAGS);
  try {
    if (options.owner !== undefined) await handle.chown(options.owner.uid, options.owner.gid);
    // mkdir(2) applies the umask and inherits setgid from a setgid parent: set the bits exactly (after chown, which clears setgid).
    await handle.chmod(options.mode & 0o777);
    if (options.mtime !== undefined) await handle.utimes(options.mtime, options.mtime);
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The host path of `path` inside `root` (`walkInRoot` without creating anything). */
export async function resolveInRoot(root: string, path: string, options: Omit<WalkOptions, 'create'> = {}): Promise<string> {
  return (await walkInRoot(root, path, options)).path;
}

/** The path `path` resolves to inside `root`, as seen from inside (absolute, no symlink, no `..`). */
export async function containerPathInRoot(root: string, path: string): Promise<string> {
  return `/${(await walkInRoot(root, path)).parts.join('/')}`;
}

/**
 * Runs `action` with the directory `parts` below `root` open (no component may be a symlink);
 * undefined when one is missing, not a directory or a symlink.
 */
export async function withDirInRoot<T>(root: string, parts: readonly string[], action: (dir: FileHandle) => Promise<T>): Promise<T | undefined> {
  let dir = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    for (const part of parts) {
      const next = await open(at(dir, part), DIRECTORY_FLAGS);
      await dir.close();
      dir = next;
    }
  } catch (error) {
    await dir.close();
    const code = errnoCode(error);
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
 * Reads the file `path` under `root`, or undefined when it does not exist or is not a regular file
 * (a directory, a device node, a FIFO: nothing that could block, never end, or act on a device of
 * the host — only a regular file is ever opened).
 */
export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  const parts = [...(await walkInRoot(root, path)).parts];
  const name = parts.pop();
  if (name === undefined) return undefined;
  const read = await withDirInRoot(root, parts, async (dir) => {
    // Looked at before it is opened: opening a device node the image holds (a step with CAP_MKNOD can
    // make /etc/passwd any device, e.g. a watchdog, which arms on open) would act on the host's device.
    const entry = await lstat(at(dir, name)).catch((error: unknown) => {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (entry?.isFile() !== true) return { text: undefined };
    let file: FileHandle;
    try {
      file = await open(at(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (error) {
      const code = errnoCode(error);
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

/**
 * Directories one extraction has resolved (and made) inside a root that it alone writes, by their
 * path in the archive: most entries share their parent with the one before, and a walk per entry
 * costs a handle per component. An entry stays right until the extraction removes something or makes
 * a symlink (either can change what a path resolves to): call `forget` before doing so.
 */
export class ResolvedDirs {
  readonly #dirs = new Map<string, string>();

  /** The host path of `key`, from `resolve` the first time (or after `forget`). */
  async get(key: string, resolve: () => Promise<string>): Promise<string> {
    let path = this.#dirs.get(key);
    if (path === undefined) {
      path = await resolve();
      this.#dirs.set(key, path);
    }
    return path;
  }

  forget(): void {
    this.#dirs.clear();
  }
}
