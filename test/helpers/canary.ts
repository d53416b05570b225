/**
 * Host canaries: a temp tree of files, a directory and a symlink whose exact state (names, types,
 * modes, contents, link targets, mtimes) a test records before extracting hostile archives next to
 * it and compares after.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Creates the canary tree under `dir` (which must not exist yet or be empty). */
export async function plantCanaries(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'secret'), 'untouched', { mode: 0o644 });
  await writeFile(join(dir, 'sub/x'), 'untouched too', { mode: 0o600 });
  await symlink('secret', join(dir, 'link'));
  await utimes(join(dir, 'secret'), 1_000_000, 1_000_000);
}

/** A stable description of everything under `dir`. */
export async function describeTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const path = join(dir, rel);
    const st = await lstat(path);
    let detail = '';
    if (st.isFile()) detail = createHash('sha256').update(await readFile(path)).digest('hex');
    else if (st.isSymbolicLink()) detail = `-> ${await readlink(path)}`;
    out.push(`${rel || '.'} mode=${st.mode.toString(8)} uid=${st.uid} nlink=${st.nlink} mtime=${st.mtimeMs} ${detail}`);
    if (st.isDirectory()) for (const name of (await readdir(path)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  await visit('');
  return out;
}
