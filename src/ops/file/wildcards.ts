/**
 * COPY source wildcards, as fsutil's `ResolveWildcards`: the path is split at its first component
 * with a wildcard; the part before it is resolved inside the source root (symlinks followed), and the
 * rest is matched with Go's `path.Match` against paths below it (a `*` never crosses `/`). A matching
 * directory is taken whole (not searched further). Matches come in Go's walk order (byte-wise sorted).
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { StagecraftError } from '../../core/index.js';
import { PatternSyntaxError, cleanPath, hasWildcards, pathMatch, validatePathPattern } from '../../util/patterns.js';
import { resolveInRoot } from '../../util/root-path.js';
import { compareNames, lstatOrNull } from './root.js';

/** `p` split into the components before the first wildcard one and the rest. */
export function splitWildcards(path: string): { readonly literal: string; readonly pattern: string } {
  const parts = cleanPath(path).split('/');
  const index = parts.findIndex((part) => hasWildcards(part));
  if (index === -1) return { literal: cleanPath(path), pattern: '' };
  const literal = parts.slice(0, index).join('/');
  return { literal: literal === '' ? (path.startsWith('/') ? '/' : '.') : literal, pattern: parts.slice(index).join('/') };
}

/**
 * The paths (relative to `root`, `/`-prefixed) that `source` (an absolute, clean path) names: itself
 * when it has no wildcard, else every match (possibly none).
 */
export async function resolveWildcards(root: string, source: string): Promise<string[]> {
  const { literal, pattern } = splitWildcards(source);
  if (pattern === '') return [literal];
  try {
    validatePathPattern(pattern);
  } catch (error) {
    if (!(error instanceof PatternSyntaxError)) throw error;
    throw new StagecraftError('INVALID_PATTERN', `invalid source pattern "${source}": syntax error`, {
      hint: 'check "[...]" classes are closed and not empty and "\\" is followed by a character',
    });
  }
  const base = await resolveInRoot(root, literal, { followFinal: true, lexical: true });
  const stat = await lstatOrNull(base);
  if (stat === null) {
    throw new StagecraftError('FILE_NOT_FOUND', `"${literal}": not found (while resolving "${source}")`, {
      hint: 'check the directory is inside the build context (or the --from stage) and not excluded by .dockerignore',
    });
  }
  if (!stat.isDirectory()) return [];
  // `*` and `?` never match `/`, so a match has exactly as many components as the pattern.
  const depth = pattern.split('/').length;
  const matches: string[] = [];
  const walk = async (dir: string, prefix: string, level: number): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => compareNames(a.name, b.name));
    for (const entry of entries) {
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (pathMatch(pattern, rel)) {
        matches.push(join(dir, entry.name));
      } else if (entry.isDirectory() && level + 1 < depth) {
        await walk(join(dir, entry.name), rel, level + 1);
      }
    }
  };
  await walk(base, '', 0);
  return matches.map((m) => `/${relative(root, m).split(sep).join('/')}`);
}
