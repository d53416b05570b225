/**
 * What a COPY reads from a source root, or a `RUN --mount` source, as content lines (cache/context.ts
 * `ContentLine`): the entries the copy would visit, found the way `applyCopy` and `copyPath` find
 * them (wildcards with `resolveWildcards`, `--parents` include patterns, `--exclude`, the named
 * source followed if it is a symlink, symlinks inside the tree kept), each with its type, mode,
 * owner, content digest or link target, xattrs and, for a hardlink, the first path of its inode —
 * what the copied layer holds except times, as BuildKit's contenthash. A selection that the copy
 * would refuse (a missing source, a bad pattern) becomes a line naming the problem, so the key is
 * still made and the step itself fails with its own error.
 *
 * The root is a read-only view of a finished stage: nothing changes it while it is read.
 */
import type { BigIntStats } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileContentDigest, type ContentLine } from '../../cache/index.js';
import { isStagecraftError } from '../../core/index.js';
import { entryTypeOf, lstatNames } from '../../snapshot/index.js';
import type { Limiter } from '../../util/limiter.js';
import { PatternMatcher, cleanPath, type MatchInfo } from '../../util/patterns.js';
import { errnoCode, resolveInRoot } from '../../util/root-path.js';
import { planSource } from './actions.js';
import { readCopiedXattrs } from './entry.js';
import { compareNames, lstatOrNull } from './root.js';
import { resolveWildcards } from './wildcards.js';

/** What one COPY action or mount reads of a source root. */
export interface Selector {
  /** Paths in the root as the step names them. */
  readonly sources: readonly string[];
  readonly excludes: readonly string[];
  /** COPY --parents. */
  readonly parents: boolean;
  /** A mount source: no wildcards, the path as it is. */
  readonly literal: boolean;
}

function problem(path: string, error: unknown): ContentLine {
  if (isStagecraftError(error)) return [path, 'error', 0, 0, 0, error.code];
  const code = errnoCode(error);
  if (code !== undefined) return [path, 'error', 0, 0, 0, code];
  throw error;
}

/**
 * The content lines of what `selector` reads from `root`, in the order the copy visits them. File
 * contents are hashed in `limiter`'s slots.
 */
export async function selectContent(root: string, selector: Selector, limiter: Limiter, signal: AbortSignal): Promise<ContentLine[]> {
  const lines: Promise<ContentLine>[] = [];
  const exclude = selector.excludes.length > 0 ? PatternMatcher.create(selector.excludes, { source: '--exclude' }) : undefined;
  for (const source of selector.sources) {
    signal.throwIfAborted();
    let plan;
    let matches: string[];
    try {
      plan = selector.literal ? { src: source } : planSource(source, selector.parents);
      matches = selector.literal ? [cleanPath(`/${plan.src}`)] : await resolveWildcards(root, cleanPath(`/${plan.src}`));
      if (plan.required !== undefined) {
        const required = await lstatOrNull(await resolveInRoot(root, plan.required, { followFinal: false, lexical: true }));
        lines.push(Promise.resolve([plan.required, 'required', 0, 0, 0, required === null ? 'missing' : 'present']));
      }
    } catch (error) {
      lines.push(Promise.resolve(problem(source, error)));
      continue;
    }
    for (const match of matches) {
      try {
        const host = await resolveInRoot(root, match, { followFinal: true, lexical: true });
        const stat = await lstatOrNull(host);
        if (stat === null) {
          lines.push(Promise.resolve([match, 'missing', 0, 0, 0, '']));
          continue;
        }
        await walk({ host, path: match, rel: '', stat }, plan.include, exclude, lines, limiter, signal);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        lines.push(Promise.resolve(problem(match, error)));
      }
    }
  }
  return Promise.all(lines);
}

interface Visit {
  /** On the host. */
  readonly host: string;
  /** As the step names it (below the matched source). */
  readonly path: string;
  /** Relative to the matched source, for include and exclude patterns ('' for the source itself). */
  readonly rel: string;
  readonly stat: BigIntStats;
}

async function walk(top: Visit, include: PatternMatcher | undefined, exclude: PatternMatcher | undefined, lines: Promise<ContentLine>[], limiter: Limiter, signal: AbortSignal): Promise<void> {
  // Hardlinks within one copied tree stay hardlinks in the copy (copy.ts), so they are part of what it makes.
  const inodes = new Map<string, string>();
  const visit = async (entry: Visit, parentInclude: MatchInfo | undefined, parentExclude: MatchInfo | undefined): Promise<void> => {
    signal.throwIfAborted();
    let included = true;
    let excluded = false;
    let includeInfo: MatchInfo | undefined;
    let excludeInfo: MatchInfo | undefined;
    if (entry.rel !== '') {
      if (include !== undefined) {
        const result = include.matchesUsingParent(entry.rel, parentInclude);
        included = result.matched;
        includeInfo = result.info;
      }
      if (exclude !== undefined) {
        const result = exclude.matchesUsingParent(entry.rel, parentExclude);
        excludeInfo = result.info;
        if (result.matched) {
          included = false;
          excluded = true;
        }
      }
      if (!included && include === undefined && exclude?.hasExclusions !== true) return;
    }
    const { stat } = entry;
    if (!included && !stat.isDirectory()) return;
    // A directory on the way to an included entry is created by the copy with its source's metadata
    // (fsutil's delayed parents): every directory walked is part of the key (a safe over-approximation).
    if (included || stat.isDirectory()) lines.push(line(entry, inodes, limiter));
    if (!stat.isDirectory() || (excluded && exclude?.hasExclusions !== true)) return;
    const names = (await readdir(entry.host)).sort(compareNames);
    const stats = await lstatNames(entry.host, names);
    for (const [i, name] of names.entries()) {
      const child = stats[i];
      if (child === undefined) continue;
      await visit({ host: join(entry.host, name), path: `${entry.path === '/' ? '' : entry.path}/${name}`, rel: entry.rel === '' ? name : `${entry.rel}/${name}`, stat: child }, includeInfo, excludeInfo);
    }
  };
  await visit(top, undefined, undefined);
}

function line(entry: Visit, inodes: Map<string, string>, limiter: Limiter): Promise<ContentLine> {
  const { stat } = entry;
  const type = entryTypeOf(stat) ?? 'other';
  const head = [entry.path, type, Number(stat.mode & 0o7777n), Number(stat.uid), Number(stat.gid)] as const;
  let first: string | undefined;
  if (type === 'file' && stat.nlink > 1n) {
    const inode = `${stat.dev}:${stat.ino}`;
    first = inodes.get(inode);
    if (first === undefined) inodes.set(inode, entry.path);
  }
  return limiter.run(async () => {
    const content = type === 'file' ? await fileContentDigest(entry.host, Number(stat.size))
      : type === 'symlink' ? `link:${await readlink(entry.host)}`
      : type === 'char' || type === 'block' ? `dev:${stat.rdev}`
      : '';
    const facts: string[] = [];
    const xattrs = await readCopiedXattrs(entry.host);
    if (xattrs.length > 0) facts.push(`xattrs:${xattrs.map(([name, value]) => `${name}=${value}`).join(',')}`);
    if (first !== undefined) facts.push(`hardlink:${first}`);
    return [...head, content, ...facts];
  });
}
