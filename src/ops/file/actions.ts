/**
 * Runs a file op's actions (copy / mkdir / mkfile) on a mounted destination rootfs, in order, with
 * BuildKit's Dockerfile semantics (solver/llbsolver/file/backend.go with the options dockerfile2llb
 * sets for COPY/ADD: FollowSymlinks, CopyDirContentsOnly, CreateDestPath, AllowWildcard,
 * AllowEmptyWildcard, AttemptUnpack for ADD).
 */
import { constants } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StagecraftError, isStagecraftError } from '../../core/index.js';
import type { FileAction } from '../../plan/index.js';
import { Limiter } from '../../util/limiter.js';
import { PatternMatcher, cleanPath, hasWildcards } from '../../util/patterns.js';
import { parseChmod } from './chmod.js';
import { copyPath, type SourceCheck } from './copy.js';
import { setOwner } from './entry.js';
import { resolveOwner } from './owner.js';
import { errnoCode, resolveInRoot, walkInRoot } from '../../util/root-path.js';
import { lstatOrNull, restoreTimes, type Owner } from './root.js';
import { extractArchive, isArchive } from './unpack.js';
import { resolveWildcards } from './wildcards.js';

export interface FileOpRoots {
  /** The destination rootfs (input 0), mounted and writable. */
  readonly dest: string;
  /** Per input index (1-based, as in a copy action's `input`) the directory of that input's filesystem. */
  readonly inputs: ReadonlyMap<number, string>;
  /**
   * Inputs that are host directories (the build context, downloads) rather than image filesystems:
   * their owners mean nothing in the image, so without `--chown` their files are copied as 0:0, as
   * BuildKit's file sync sends the context.
   */
  readonly hostInputs?: ReadonlySet<number> | undefined;
  /** Per input index, the check of each entry read from it (a host directory holding more than the step's key covers). */
  readonly checks?: ReadonlyMap<number, SourceCheck> | undefined;
}

const ROOT_OWNER: Owner = { uid: 0, gid: 0 };

export interface FileOpOptions {
  readonly signal: AbortSignal;
  /** File copies in flight at once (default 8). */
  readonly concurrency?: number | undefined;
}

type CopyAction = Extract<FileAction, { action: 'copy' }>;
type MkdirAction = Extract<FileAction, { action: 'mkdir' }>;
type MkfileAction = Extract<FileAction, { action: 'mkfile' }>;

/** BuildKit's `cleanPath`: absolute and clean, keeping a trailing `/` or `/.`. */
export function cleanActionPath(path: string): string {
  const clean = cleanPath(`/${path}`);
  if (path.endsWith('/.')) return clean === '/' ? '/.' : `${clean}/.`;
  if (path.endsWith('/') && clean !== '/') return `${clean}/`;
  return clean;
}

/** What to copy for one source: the source path, and for `--parents` the include pattern. */
export interface SourcePlan {
  readonly src: string;
  readonly include?: PatternMatcher | undefined;
  /** For `--parents` without wildcards: the path that must exist. */
  readonly required?: string | undefined;
}

/**
 * dockerfile2llb's `--parents` rewrite: `a/./b/c` copies `a` filtered by the include pattern `b/c`
 * (the part after the first `/./`); without `/./` the source root is copied filtered by the whole path.
 */
export function planSource(source: string, parents: boolean): SourcePlan {
  if (!parents) return { src: source };
  const cut = source.indexOf('/./');
  const parent = cut === -1 ? '/' : source.slice(0, cut);
  const pattern = cleanPath(`/${cut === -1 ? source : source.slice(cut + 3)}`).slice(1);
  const include = PatternMatcher.create([pattern], { source: `COPY --parents ${source}` });
  const required = !hasWildcards(parent) && !hasWildcards(pattern) ? cleanPath(`/${parent}/${pattern}`) : undefined;
  return { src: parent, include, required };
}

async function applyCopy(action: CopyAction, destRoot: string, srcRoot: string, hostInput: boolean, check: SourceCheck | undefined, limiter: Limiter, signal: AbortSignal): Promise<void> {
  const owner = action.chown !== undefined ? await resolveOwner(destRoot, action.chown) : undefined;
  const defaultOwner = hostInput ? ROOT_OWNER : undefined;
  const mode = action.chmod !== undefined ? parseChmod(action.chmod) : undefined;
  const exclude = action.excludes.length > 0 ? PatternMatcher.create(action.excludes, { source: '--exclude' }) : undefined;
  let dest = cleanActionPath(action.dest);
  if (action.destIsDir && !dest.endsWith('/') && !dest.endsWith('/.')) dest += '/';
  for (const source of action.sources) {
    signal.throwIfAborted();
    const plan = planSource(source, action.parents);
    const matches = await resolveWildcards(srcRoot, cleanPath(`/${plan.src}`));
    // AllowEmptyWildcard: a wildcard matching nothing copies nothing.
    if (plan.required !== undefined && matches.length > 0) {
      const requiredHost = await resolveInRoot(srcRoot, plan.required, { followFinal: false, lexical: true });
      if ((await lstatOrNull(requiredHost)) === null) {
        throw new StagecraftError('FILE_NOT_FOUND', `"${plan.required}": not found`, {
          hint: 'check the path is inside the build context (or the --from stage) and not excluded by .dockerignore',
        });
      }
    }
    for (const match of matches) {
      if (action.unpack && (await unpackIfArchive(srcRoot, match, destRoot, dest, owner, action.mtime, check, signal))) continue;
      await copyPath(
        { srcRoot, src: match, destRoot, dest },
        {
          owner,
          defaultOwner,
          mode,
          mtime: action.mtime,
          include: plan.include,
          exclude,
          copyDirContents: true,
          followLinks: true,
          check,
          limiter,
          signal,
        },
      );
    }
  }
}

/** BuildKit's `unpack`: extracts `src` into `dest` (a directory) if it is a tar archive. */
async function unpackIfArchive(srcRoot: string, src: string, destRoot: string, dest: string, owner: Owner | undefined, mtime: number | undefined, check: SourceCheck | undefined, signal: AbortSignal): Promise<boolean> {
  const host = await resolveInRoot(srcRoot, src, { followFinal: true, lexical: true });
  if (check !== undefined) {
    const stat = await lstat(host, { bigint: true }).catch(() => undefined);
    if (stat !== undefined) check(host, stat);
  }
  if (!(await isArchive(host))) return false;
  const target = await walkInRoot(destRoot, dest, { lexical: true, create: { mode: 0o755, owner, mtime } });
  await extractArchive(host, target.path, { name: cleanPath(`/${src}`), signal });
  await restoreTimes(target.created, mtime);
  return true;
}

async function applyMkdir(action: MkdirAction, destRoot: string): Promise<void> {
  // A mkdir's owner is WORKDIR's current USER (the only mkdir with one): BuildKit's fallback applies.
  const owner = action.chown !== undefined ? await resolveOwner(destRoot, action.chown, { unknownName: 'root' }) : undefined;
  const mode = action.mode & 0o777;
  if (action.parents) {
    const { created } = await walkInRoot(destRoot, action.path, { lexical: true, create: { mode, owner, mtime: action.mtime } });
    // Creating a child bumped its parent's mtime: set created directories' times again.
    await restoreTimes(created, action.mtime);
    return;
  }
  const host = await resolveInRoot(destRoot, action.path, { followFinal: true, lexical: true });
  try {
    await mkdir(host, { mode });
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return;
    throw error;
  }
  await chmod(host, mode);
  if (owner !== undefined) await setOwner(host, owner, true);
  if (action.mtime !== undefined) await lutimes(host, action.mtime, action.mtime);
}

async function applyMkfile(action: MkfileAction, destRoot: string): Promise<void> {
  const owner = action.chown !== undefined ? await resolveOwner(destRoot, action.chown) : undefined;
  const mode = action.mode & 0o777;
  const host = await resolveInRoot(destRoot, action.path, { followFinal: true, lexical: true });
  const handle = await open(host, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    await handle.writeFile(action.data, 'utf8');
  } finally {
    await handle.close();
  }
  await chmod(host, mode);
  if (owner !== undefined) await setOwner(host, owner, true);
  if (action.mtime !== undefined) await lutimes(host, action.mtime, action.mtime);
}

function describe(action: FileAction): string {
  switch (action.action) {
    case 'copy':
      return `copy ${action.sources.join(' ')} to ${action.dest}`;
    case 'mkdir':
      return `mkdir ${action.path}`;
    case 'mkfile':
      return `write ${action.path}`;
  }
}

/** An fs error as a FILE_OPERATION error, with host paths shown relative to their root. */
function translate(error: unknown, action: FileAction, roots: readonly string[]): unknown {
  if (isStagecraftError(error) || errnoCode(error) === undefined || !(error instanceof Error)) return error;
  let message = error.message;
  for (const root of roots) message = message.split(root).join('');
  const code = errnoCode(error);
  const hint =
    code === 'ENOENT' ? 'a parent directory of the path does not exist in the destination'
    : code === 'ENOTDIR' ? 'a file is in the way of the destination path'
    : code === 'EACCES' || code === 'EPERM' ? 'the operation needs permissions stagecraft does not have (run as root?)'
    : code === 'ENOSPC' ? 'the disk holding the state root is full; free space or prune'
    : code === 'ENAMETOOLONG' ? 'a path is longer than PATH_MAX (4096 bytes) or a name longer than NAME_MAX (255 bytes) in the destination; shorten the path or the directory tree'
    : undefined;
  return new StagecraftError('FILE_OPERATION', `failed to ${describe(action)}: ${message}`, { hint, cause: error });
}

/**
 * Performs `actions` in order on `roots.dest`. Every write stays inside the destination root:
 * symlinks in it are resolved as if it were `/`. Rejects with StagecraftError (FILE_NOT_FOUND,
 * FILE_OPERATION, INVALID_PATTERN) for what the user can fix, or the signal's reason when aborted.
 */
export async function applyFileActions(actions: readonly FileAction[], roots: FileOpRoots, options: FileOpOptions): Promise<void> {
  const { signal } = options;
  const limiter = new Limiter(options.concurrency ?? 8);
  const destRoot = resolve(roots.dest);
  for (const action of actions) {
    signal.throwIfAborted();
    let srcRoot: string | undefined;
    try {
      switch (action.action) {
        case 'copy': {
          const input = roots.inputs.get(action.input);
          if (input === undefined) throw new Error(`file op: copy action names input ${action.input}, which was not provided`);
          srcRoot = resolve(input);
          await applyCopy(action, destRoot, srcRoot, roots.hostInputs?.has(action.input) === true, roots.checks?.get(action.input), limiter, signal);
          break;
        }
        case 'mkdir':
          await applyMkdir(action, destRoot);
          break;
        case 'mkfile':
          await applyMkfile(action, destRoot);
          break;
      }
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw translate(error, action, srcRoot !== undefined ? [destRoot, srcRoot] : [destRoot]);
    }
  }
}

