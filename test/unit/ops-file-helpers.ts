/** Shared fixtures for the file-op tests: temp roots, tree builders and action shorthands. */
import { mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FileAction } from '../../src/plan/index.js';
import { applyFileActions } from '../../src/ops/file/index.js';

export type CopyAction = Extract<FileAction, { action: 'copy' }>;

export interface Roots {
  readonly base: string;
  readonly src: string;
  readonly dest: string;
  cleanup(): Promise<void>;
}

/** A temp directory holding `src/` (input 1) and `dest/` (the rootfs). */
export async function makeRoots(): Promise<Roots> {
  const base = await mkdtemp(join(tmpdir(), 'stagecraft-fileop-'));
  const src = join(base, 'src');
  const dest = join(base, 'dest');
  await mkdir(src);
  await mkdir(dest);
  return { base, src, dest, cleanup: () => rm(base, { recursive: true, force: true }) };
}

export async function put(root: string, rel: string, content = rel, mode = 0o644, mtime?: number): Promise<string> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content, { mode });
  if (mtime !== undefined) await utimes(path, mtime, mtime);
  return path;
}

export async function link(root: string, rel: string, target: string): Promise<void> {
  const path = join(root, rel);
  await mkdir(dirname(path), { recursive: true });
  await symlink(target, path);
}

export async function read(root: string, rel: string): Promise<string> {
  return readFile(join(root, rel), 'utf8');
}

export function copy(sources: string | string[], dest: string, extra: Partial<CopyAction> = {}): CopyAction {
  return {
    action: 'copy',
    input: 1,
    sources: Array.isArray(sources) ? sources : [sources],
    dest,
    excludes: [],
    parents: false,
    unpack: false,
    destIsDir: false,
    link: false,
    ...extra,
  };
}

export async function run(roots: Roots, actions: FileAction[], signal = new AbortController().signal): Promise<void> {
  await applyFileActions(actions, { dest: roots.dest, inputs: new Map([[1, roots.src]]) }, { signal });
}
