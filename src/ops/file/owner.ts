/**
 * `--chown` / WORKDIR owners: user and group names are looked up in the destination rootfs's
 * `/etc/passwd` and `/etc/group` (read inside the rootfs, never the host's), numbers are taken as they
 * are. A user alone gives the user's primary group (or, for a number, the same number as gid), as
 * BuildKit's `readUser` does. For `--chown`, unlike BuildKit, which silently falls back to 0, an unknown
 * name is an error, as the Dockerfile reference documents. WORKDIR's owner (the current USER) follows
 * BuildKit: an unknown user name gives 0:0 and an unknown group name keeps the user's group, so a
 * USER that only a later step creates does not stop the build.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { StagecraftError } from '../../core/index.js';
import type { ChownSpec } from '../../plan/index.js';
import { errnoCode, resolveInRoot } from '../../util/root-path.js';
import { type Owner } from './root.js';

/** Largest passwd/group file read (as BuildKit). */
const MAX_USER_FILE = 10 << 20;

/** BuildKit's `parseUID`: "root" or a 32-bit decimal number. */
function parseId(value: string): number | undefined {
  if (value === 'root') return 0;
  if (!/^[0-9]+$/.test(value)) return undefined;
  const id = Number(value);
  return id <= 0x7fffffff ? id : undefined;
}

/** The lines of `/etc/<name>` in `root`, or null when the file is missing. */
async function readUserFile(root: string, path: string): Promise<string[] | null> {
  const host = await resolveInRoot(root, path, { followFinal: true, lexical: true });
  let handle;
  try {
    // Look before opening: a step can make /etc/passwd a FIFO (open would block forever) or a device
    // node (opening some arms hardware); only a regular file of the image is ever opened, and the
    // opened file must be the one looked at.
    const seen = await lstat(host);
    if (!seen.isFile()) {
      throw new StagecraftError('FILE_OPERATION', `${path} in the destination is not a regular file`, { hint: `fix ${path} in the image` });
    }
    handle = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    const opened = await handle.stat();
    if (opened.ino !== seen.ino || opened.dev !== seen.dev) {
      await handle.close();
      throw new StagecraftError('FILE_OPERATION', `${path} in the destination changed while it was read`, { hint: 'retry the build' });
    }
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new StagecraftError('FILE_OPERATION', `${path} in the destination is not a regular file`, { hint: `fix ${path} in the image` });
    }
    if (stat.size > MAX_USER_FILE) {
      throw new StagecraftError('FILE_OPERATION', `${path} in the destination exceeds ${MAX_USER_FILE} bytes`, { hint: `fix ${path} in the image` });
    }
    const text = await handle.readFile('utf8');
    return text.split('\n');
  } finally {
    await handle.close();
  }
}

/** First entry named `name` in a passwd/group file: its fields. */
function findEntry(lines: readonly string[] | null, name: string): string[] | undefined {
  if (lines === null) return undefined;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields[0] === name) return fields;
  }
  return undefined;
}

function numericField(fields: readonly string[], index: number, file: string, name: string): number {
  const id = parseId(fields[index] ?? '');
  if (id === undefined) {
    throw new StagecraftError('FILE_OPERATION', `${file} entry for "${name}" has an invalid id "${fields[index] ?? ''}"`, { hint: `fix ${file} in the image` });
  }
  return id;
}

export interface ResolveOwnerOptions {
  /** `error` (USER_NOT_FOUND, for `--chown`) or `root` (BuildKit's fallback for WORKDIR). */
  readonly unknownName: 'error' | 'root';
}

/** Resolves `spec` against the rootfs at `root`. */
export async function resolveOwner(root: string, spec: ChownSpec, options: ResolveOwnerOptions = { unknownName: 'error' }): Promise<Owner> {
  let uid = 0;
  let gid = 0;
  const user = spec.user;
  const userId = parseId(user);
  if (userId !== undefined) {
    uid = userId;
    gid = userId;
  } else if (user !== '') {
    const entry = findEntry(await readUserFile(root, '/etc/passwd'), user);
    if (entry !== undefined) {
      uid = numericField(entry, 2, '/etc/passwd', user);
      gid = numericField(entry, 3, '/etc/passwd', user);
    } else if (options.unknownName === 'error') {
      throw new StagecraftError('USER_NOT_FOUND', `unable to find user ${user}: no matching entries in passwd file`, {
        hint: `create the user in an earlier step (e.g. RUN useradd ${user}) or use a numeric uid:gid`,
      });
    }
  }
  if (spec.group !== undefined && spec.group !== '') {
    const groupId = parseId(spec.group);
    if (groupId !== undefined) {
      gid = groupId;
    } else {
      const entry = findEntry(await readUserFile(root, '/etc/group'), spec.group);
      if (entry !== undefined) {
        gid = numericField(entry, 2, '/etc/group', spec.group);
      } else if (options.unknownName === 'error') {
        throw new StagecraftError('USER_NOT_FOUND', `unable to find group ${spec.group}: no matching entries in group file`, {
          hint: `create the group in an earlier step (e.g. RUN groupadd ${spec.group}) or use a numeric gid`,
        });
      }
    }
  }
  return { uid, gid };
}
