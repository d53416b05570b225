/**
 * The state of a host directory tree (content, mode, owner, mtime, inode, link count of every entry),
 * recorded before a hostile build and compared after it: what a build must leave untouched.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export interface EntryState {
  readonly content: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly nlink: number;
}

/** The state of one entry (not following a symlink). */
export function entryState(path: string): EntryState {
  const st: Stats = lstatSync(path);
  return { content: st.isFile() ? readFileSync(path, 'utf8') : '', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, ino: st.ino, nlink: st.nlink };
}

/** Every path under `dir` (sorted, symlinks not followed) with its state. */
export function treeState(dir: string): Record<string, EntryState> {
  const out: Record<string, EntryState> = {};
  const visit = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      out[path] = entryState(join(dir, path));
      if (lstatSync(join(dir, path)).isDirectory()) visit(path);
    }
  };
  visit('');
  return out;
}

/** Asserts `host` is as recorded: every entry's state, and its own mtime (nothing created or removed). */
export function assertHostUntouched(host: string, before: Record<string, EntryState>, mtime: Date): void {
  assert.deepEqual(treeState(host), before, 'the host canary directory is unchanged');
  assert.equal(lstatSync(host).mtimeMs, mtime.getTime(), 'nothing was created in or removed from the host directory');
}

/** Writes a build context `work/name` holding `dockerfile` as Dockerfile and `files` (path → content). */
export function writeContext(work: string, name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}
