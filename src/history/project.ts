/**
 * What a build's record names as its project: the git remote of the context (origin, else the first
 * remote) with any credentials removed, else the context directory. Reads `.git/config` itself (no
 * git binary); a missing, oversized or unreadable config just means "no remote".
 */
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';

const MAX_CONFIG_BYTES = 1024 * 1024;
const MAX_DEPTH = 64;

async function readBounded(path: string): Promise<string | undefined> {
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_CONFIG_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_CONFIG_BYTES, 0);
      return bytesRead === MAX_CONFIG_BYTES ? undefined : buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** The git directory of the repository holding `dir` (a `.git` directory, or where a `.git` file points). */
async function gitDir(dir: string): Promise<string | undefined> {
  let current = resolve(dir);
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const candidate = join(current, '.git');
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isDirectory() === true) return candidate;
    if (info?.isFile() === true) {
      const text = await readFile(candidate, 'utf8').catch(() => '');
      const pointer = /^gitdir:\s*(.+)$/m.exec(text)?.[1]?.trim();
      if (pointer === undefined) return undefined;
      return isAbsolute(pointer) ? pointer : resolve(current, pointer);
    }
    const parent = dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
  return undefined;
}

/** A remote URL without user name or password (`https://token@host/x` → `https://host/x`). */
export function withoutCredentials(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    // Not a URL we can parse: drop everything up to the last @ of the authority.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  }
}

/** The `url` of `[remote "origin"]`, else of the first remote, in a git config's text. */
export function remoteUrl(config: string): string | undefined {
  const remotes = new Map<string, string>();
  let section: string | undefined;
  for (const raw of config.split('\n')) {
    const line = raw.trim();
    const header = /^\[\s*remote\s+"([^"]*)"\s*\]$/.exec(line);
    if (header !== null) {
      section = header[1];
      continue;
    }
    if (line.startsWith('[')) {
      section = undefined;
      continue;
    }
    const url = /^url\s*=\s*(.+)$/i.exec(line)?.[1]?.trim();
    if (section !== undefined && url !== undefined && !remotes.has(section)) remotes.set(section, url.replace(/^"(.*)"$/, '$1'));
  }
  return remotes.get('origin') ?? remotes.values().next().value;
}

export async function projectOf(contextDir: string): Promise<string> {
  const dir = await gitDir(contextDir);
  const config = dir === undefined ? undefined : await readBounded(join(dir, 'config'));
  const url = config === undefined ? undefined : remoteUrl(config);
  return url === undefined ? resolve(contextDir) : withoutCredentials(url);
}
