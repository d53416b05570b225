/**
 * Copying one source path onto a destination root with the semantics of tonistiigi/fsutil's
 * `copy.Copy` as BuildKit's file backend drives it for Dockerfile COPY/ADD:
 *
 * - the destination's parents are created (0755, or the octal `--chmod`; owned by `--chown`);
 * - a file lands on `dest/<basename>` when `dest` is an existing directory (a trailing `/` makes it
 *   one first), otherwise on `dest` itself; a directory's contents are merged into `dest`;
 * - symlinks inside a copied tree stay symlinks, hardlinks within one copied tree stay hardlinks;
 * - mode, xattrs, atime/mtime (or the `mtime` override) and ownership (or `--chown`) are kept;
 * - a directory never replaces a non-directory (error); a file replaces a file or symlink, never a
 *   directory (error); an existing symlink in the destination is never written through.
 *
 * Include patterns (`--parents`) and exclude patterns (`--exclude`) are matched against paths relative
 * to the copied source; directories on the way to an included path are created lazily.
 *
 * File contents are copied by a bounded pool while the walk goes on; a directory's metadata is set
 * once everything below it is written.
 */
import { constants, type BigIntStats } from 'node:fs';
import { chmod, copyFile, link, lstat, lutimes, mkdir, readdir, readlink, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { StagecraftError } from '../../core/index.js';
import { WHITEOUT_PREFIX, lstatNames } from '../../snapshot/index.js';
import type { Limiter } from '../../util/limiter.js';
import { cleanPath, hasWildcards, type MatchInfo, type PatternMatcher } from '../../util/patterns.js';
import { applyMode, type ModeSpec } from './chmod.js';
import { copySpecial, copyXattrs, setOwner } from './entry.js';
import { resolveInRoot, walkInRoot } from '../../util/root-path.js';
import { compareNames, displayPath, lstatOrNull, restoreTimes, type Owner } from './root.js';

/**
 * Called with each entry's lstat before a copy reads it from a host directory that may hold more, or
 * newer, than what the step's cache key covers (the build context itself): throws when the entry is
 * not what was hashed.
 */
export type SourceCheck = (absolute: string, stat: BigIntStats) => void;

export interface CopyOptions {
  /** `--chown`, resolved; otherwise `defaultOwner`, else each entry keeps its source owner. */
  readonly owner?: Owner | undefined;
  /**
   * The owner of every copied entry when there is no `--chown`: for sources whose owners are the
   * host's, not an image's (the build context: BuildKit's file sync sends its files as 0:0). Best
   * effort when not running as root, as keeping a source owner is.
   */
  readonly defaultOwner?: Owner | undefined;
  readonly mode?: ModeSpec | undefined;
  /** Seconds since the epoch for every copied entry and created directory. */
  readonly mtime?: number | undefined;
  readonly include?: PatternMatcher | undefined;
  readonly exclude?: PatternMatcher | undefined;
  /** A directory source copies its contents (Dockerfile COPY), not itself. */
  readonly copyDirContents: boolean;
  /** A symlink source copies what it points to (resolved inside the source root). */
  readonly followLinks: boolean;
  /**
   * Copies names starting with `.wh.`, which are refused by default: a copy meant for a layer cannot
   * hold them. Only for copies that never become a layer (a read-write bind mount's private copy).
   */
  readonly reservedNames?: 'refuse' | 'allow' | undefined;
  /** Checks every entry read (see SourceCheck). */
  readonly check?: SourceCheck | undefined;
  readonly limiter: Limiter;
  readonly signal: AbortSignal;
}

export interface CopyRequest {
  readonly srcRoot: string;
  /** Path inside `srcRoot`. */
  readonly src: string;
  readonly destRoot: string;
  /** Absolute path inside `destRoot`; a trailing `/` (or `/.`) makes it a directory. */
  readonly dest: string;
}

interface Completion {
  readonly done: Promise<void>;
}

interface Frame {
  readonly src: string;
  readonly dst: string;
  copied: boolean;
  /** Created because a descendant was included: its times are set again at the end. */
  lazy: boolean;
}

const DONE: Completion = { done: Promise.resolve() };

function seconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

/** Components before the first one with a wildcard, per include pattern: where matches can be. */
function literalPrefixes(matcher: PatternMatcher): Array<readonly string[]> | undefined {
  const prefixes: Array<readonly string[]> = [];
  for (const pattern of matcher.patterns) {
    if (pattern.exclusion) return undefined;
    const parts: string[] = [];
    for (const part of pattern.text.split('/')) {
      if (hasWildcards(part) || part.includes('\\')) break;
      parts.push(part);
    }
    prefixes.push(parts);
  }
  return prefixes;
}

class Copier {
  private readonly inodes = new Map<string, { readonly path: string; readonly done: Promise<void> }>();
  private readonly frames: Frame[] = [];
  private readonly pending = new Set<Promise<void>>();
  private failure: { readonly error: unknown } | undefined;
  private readonly prefixes: Array<readonly string[]> | undefined;

  constructor(
    private readonly srcRoot: string,
    private readonly destRoot: string,
    private readonly options: CopyOptions,
  ) {
    this.prefixes = options.include !== undefined ? literalPrefixes(options.include) : undefined;
  }

  /**
   * A name starting with `.wh.` is a whiteout in a layer (OCI image spec, layer.md "Whiteouts"): stored,
   * it would delete files of the image for whoever pulls it, and no layer can hold it as a file. It is
   * refused before anything is written, naming the source and the fix.
   */
  private refuseReservedName(src: string, target: string): void {
    if (this.options.reservedNames === 'allow' || target === this.destRoot || !basename(target).startsWith(WHITEOUT_PREFIX)) return;
    throw new StagecraftError('FILE_OPERATION', `cannot copy ${displayPath(this.srcRoot, src)} to ${displayPath(this.destRoot, target)}: names starting with "${WHITEOUT_PREFIX}" are reserved for layer whiteouts`, {
      hint: `rename the file, or leave it out with .dockerignore or --exclude; an image layer cannot hold a file named "${basename(target)}" (it would delete files for whoever pulls the image)`,
    });
  }

  private track(promise: Promise<void>): Completion {
    // Only tasks still running are held: a copy of many files does not keep a settled promise per file.
    this.pending.add(promise);
    promise.then(
      () => this.pending.delete(promise),
      (error: unknown) => {
        this.failure ??= { error };
        this.pending.delete(promise);
      },
    );
    return { done: promise };
  }

  /** Waits for every started task (also those started by tasks); throws the first failure. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.failure !== undefined) throw this.failure.error;
  }

  private checkState(): void {
    this.options.signal.throwIfAborted();
    if (this.failure !== undefined) throw this.failure.error;
  }

  /** Runs `job` in a pool slot (the walk waits for a free slot, which bounds the work in flight). */
  private async schedule(job: () => Promise<void>): Promise<Completion> {
    const { limiter, signal } = this.options;
    const release = await limiter.acquire(signal);
    const run = async (): Promise<void> => {
      try {
        signal.throwIfAborted();
        await job();
      } finally {
        release();
      }
    };
    return this.track(run());
  }

  private async copyTimes(stat: BigIntStats, target: string): Promise<void> {
    const { mtime } = this.options;
    if (mtime !== undefined) await lutimes(target, mtime, mtime);
    else await lutimes(target, seconds(stat.atimeNs), seconds(stat.mtimeNs));
  }

  /**
   * Owner, then mode (chown clears setuid/setgid), then times: fsutil's `copyFileInfo`. `modeSet`: the
   * target was just made by copyFile, which gives it the source's whole mode, so without --chmod and
   * setuid/setgid bits (that chown clears) the mode is already right.
   */
  private async copyFileInfo(stat: BigIntStats, target: string, modeSet = false): Promise<void> {
    const explicit = this.options.owner;
    await setOwner(target, explicit ?? this.options.defaultOwner ?? { uid: Number(stat.uid), gid: Number(stat.gid) }, explicit !== undefined);
    const modeKept = modeSet && this.options.mode === undefined && (stat.mode & 0o6000n) === 0n;
    if (!stat.isSymbolicLink() && !modeKept) {
      let mode = Number(stat.mode) & 0o7777;
      if (this.options.mode !== undefined) mode = applyMode(this.options.mode, mode, stat.isDirectory());
      await chmod(target, mode);
    }
    await this.copyTimes(stat, target);
  }

  private async copyDirectoryOnly(dst: string, stat: BigIntStats, overwrite: boolean): Promise<boolean> {
    const existing = await lstatOrNull(dst);
    if (existing === null) {
      await mkdir(dst, { mode: Number(stat.mode) & 0o777 });
      return true;
    }
    if (!existing.isDirectory()) {
      throw new StagecraftError('FILE_OPERATION', `cannot copy to non-directory: ${displayPath(this.destRoot, dst)}`, {
        hint: 'a directory cannot replace a file or symlink in the destination; remove it first or copy elsewhere',
      });
    }
    if (overwrite) await chmod(dst, Number(stat.mode) & 0o7777);
    return false;
  }

  /** Creates the directories between the copy root and an included entry (fsutil's delayed parents). */
  private async createParentDirs(overwrite: boolean): Promise<void> {
    for (const frame of this.frames) {
      if (frame.copied) continue;
      const stat = await lstat(frame.src, { bigint: true });
      const created = await this.copyDirectoryOnly(frame.dst, stat, overwrite);
      if (created) {
        await this.copyFileInfo(stat, frame.dst);
        await copyXattrs(frame.src, frame.dst);
        frame.lazy = true;
      }
      frame.copied = true;
    }
  }

  /** Whether an unincluded directory `rel` can hold included entries (prunes walks for `--parents`). */
  private mayHoldIncluded(rel: string): boolean {
    if (this.prefixes === undefined) return true;
    const parts = rel.split('/');
    return this.prefixes.some((prefix) => {
      const n = Math.min(prefix.length, parts.length);
      for (let i = 0; i < n; i++) if (prefix[i] !== parts[i]) return false;
      return true;
    });
  }

  /**
   * Copies one entry. `known.stat`: its lstat, when the caller has it; `known.fresh`: the target's
   * parent was created by this copy, so nothing is at the target yet.
   */
  async copyEntry(src: string, rel: string, target: string, overwrite: boolean, parentInclude?: MatchInfo, parentExclude?: MatchInfo, known?: { readonly stat: BigIntStats; readonly fresh: boolean }): Promise<Completion> {
    this.checkState();
    const { include: includeMatcher, exclude: excludeMatcher } = this.options;
    let include = true;
    let excluded = false;
    let includeInfo: MatchInfo | undefined;
    let excludeInfo: MatchInfo | undefined;
    if (rel !== '') {
      if (includeMatcher !== undefined) {
        const result = includeMatcher.matchesUsingParent(rel, parentInclude);
        include = result.matched;
        includeInfo = result.info;
      }
      if (excludeMatcher !== undefined) {
        const result = excludeMatcher.matchesUsingParent(rel, parentExclude);
        excludeInfo = result.info;
        if (result.matched) {
          include = false;
          excluded = true;
        }
      }
      if (!include && includeMatcher === undefined && excludeMatcher?.hasExclusions !== true) return DONE;
    }
    const stat = known?.stat ?? (await lstat(src, { bigint: true }));
    if (!include && !stat.isDirectory()) return DONE;
    this.options.check?.(src, stat);
    if (include) this.refuseReservedName(src, target);
    const targetStat = known?.fresh === true ? null : await lstatOrNull(target);
    if (include) await this.createParentDirs(overwrite);

    if (stat.isDirectory()) {
      if (!include && !excluded && !this.mayHoldIncluded(rel)) return DONE;
      return this.copyDirectory(src, rel, target, stat, targetStat, overwrite, include, excluded, includeInfo, excludeInfo);
    }

    if (targetStat !== null) {
      if (targetStat.isDirectory()) {
        throw new StagecraftError('FILE_OPERATION', `cannot replace directory ${displayPath(this.destRoot, target)} with a file`, {
          hint: 'a file cannot replace a directory in the destination; remove the directory first or copy elsewhere',
        });
      }
      await unlink(target);
    }

    if (stat.isFile()) {
      const key = `${stat.dev}:${stat.ino}`;
      const first = stat.nlink > 1n ? this.inodes.get(key) : undefined;
      const completion = await this.schedule(async () => {
        if (first !== undefined) {
          await first.done;
          await link(first.path, target);
        } else {
          // EXCL: never write through something that appeared at target; FICLONE: reflink where possible.
          await copyFile(src, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        }
        await this.copyFileInfo(stat, target, first === undefined);
        await copyXattrs(src, target);
      });
      if (stat.nlink > 1n && first === undefined) this.inodes.set(key, { path: target, done: completion.done });
      return completion;
    }
    if (stat.isSymbolicLink()) {
      await symlink(await readlink(src), target);
    } else {
      await copySpecial(stat, target, this.options.signal);
    }
    await this.copyFileInfo(stat, target);
    await copyXattrs(src, target);
    return DONE;
  }

  private async copyDirectory(
    src: string,
    rel: string,
    target: string,
    stat: BigIntStats,
    targetStat: BigIntStats | null,
    overwrite: boolean,
    include: boolean,
    excluded: boolean,
    includeInfo: MatchInfo | undefined,
    excludeInfo: MatchInfo | undefined,
  ): Promise<Completion> {
    const frame: Frame = { src, dst: target, copied: false, lazy: false };
    let created = false;
    if (include) {
      created = await this.copyDirectoryOnly(target, stat, overwrite);
      frame.copied = true;
    }
    const children: Promise<void>[] = [];
    this.frames.push(frame);
    try {
      // An excluded directory is entered only when a `!` exception could re-include something in it.
      if (!excluded || this.options.exclude?.hasExclusions === true) {
        const names = (await readdir(src)).sort(compareNames);
        // Stat'ed many at once: a tree of small files is bound by syscall latency, not bandwidth.
        const stats = await lstatNames(src, names);
        // Only a directory this copy created (not one included lazily) is known to be empty.
        const fresh = created && include;
        for (const [i, name] of names.entries()) {
          const childStat = stats[i] as BigIntStats;
          const child = await this.copyEntry(join(src, name), rel === '' ? name : `${rel}/${name}`, join(target, name), true, includeInfo, excludeInfo, { stat: childStat, fresh });
          children.push(child.done);
        }
      }
    } finally {
      this.frames.pop();
    }
    // The copy root merged into an existing directory keeps that directory's metadata but takes the
    // source's times; everything below is (re)written.
    const copyInfo = overwrite ? include : created;
    const restoreTimes = (!overwrite && !created && targetStat !== null) || frame.lazy;
    const finish = async (): Promise<void> => {
      await Promise.all(children);
      if (copyInfo) {
        await this.copyFileInfo(stat, target);
        await copyXattrs(src, target);
      } else if (restoreTimes) {
        await this.copyTimes(stat, target);
      }
    };
    return this.track(finish());
  }
}

/**
 * Copies `request.src` onto `request.dest` (fsutil's `Copy` for one resolved source). Missing source:
 * FILE_NOT_FOUND.
 */
export async function copyPath(request: CopyRequest, options: CopyOptions): Promise<void> {
  const { srcRoot, src, destRoot, dest } = request;
  const dirMode = options.mode?.kind === 'octal' ? options.mode.mode & 0o777 : 0o755;
  const mkdirOptions = { mode: dirMode, owner: options.owner, mtime: options.mtime };
  const created: string[] = [];

  // The destination directory: `dest` itself when it ends in `/` or `/.`, else its parent.
  const lastSlash = dest.lastIndexOf('/');
  const last = dest.slice(lastSlash + 1);
  const ensure = last !== '' && last !== '.' ? dest.slice(0, lastSlash + 1) : dest;
  if (ensure !== '') created.push(...(await walkInRoot(destRoot, ensure, { lexical: true, create: mkdirOptions })).created);

  const destResolved = await resolveInRoot(destRoot, cleanPath(`/${dest}`), { followFinal: true, lexical: true });
  const srcFollowed = await resolveInRoot(srcRoot, src, { followFinal: options.followLinks, lexical: true });
  const srcStat = await lstatOrNull(srcFollowed);
  if (srcStat === null) {
    throw new StagecraftError('FILE_NOT_FOUND', `"${cleanPath(`/${src}`)}": not found`, {
      hint: 'check the path is inside the build context (or the --from stage) and not excluded by .dockerignore',
    });
  }
  const destStat = await lstatOrNull(destResolved);
  const srcIsDir = srcStat.isDirectory();
  let destPath = destResolved;
  if ((!options.copyDirContents && srcIsDir && destStat !== null) || (!srcIsDir && destStat?.isDirectory() === true)) {
    destPath = join(destResolved, posix.basename(cleanPath(`/${src}`)));
  }
  const target = options.copyDirContents && srcIsDir && destStat === null ? destPath : dirname(destPath);
  created.push(...(await walkInRoot(destRoot, relative(destRoot, target), { lexical: true, create: mkdirOptions })).created);

  const copier = new Copier(srcRoot, destRoot, options);
  let walkError: { readonly error: unknown } | undefined;
  try {
    await copier.copyEntry(srcFollowed, '', destPath, false);
  } catch (error) {
    walkError = { error };
  }
  // Every started task settles before returning, also when the walk failed.
  try {
    await copier.settle();
  } catch (error) {
    walkError ??= { error };
  }
  if (walkError !== undefined) throw walkError.error;
  await restoreTimes(created, options.mtime);
}
