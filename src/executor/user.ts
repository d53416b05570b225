/**
 * Dockerfile USER → uid, gid, supplementary gids and home, from the image's /etc/passwd and
 * /etc/group. The rules are runc's (libcontainer/user GetExecUser), which BuildKit and Docker use:
 *
 * - `uid:gid` with both parts numeric needs no lookup and has no supplementary groups;
 * - the user part matches a passwd entry by uid when numeric, else by name; a numeric uid with no
 *   entry is fine (gid 0, home `/`), an unknown name is an error;
 * - an explicit group matches by name or gid; a numeric gid with no entry is fine, an unknown name
 *   is an error; with an explicit group there are no supplementary groups;
 * - otherwise the primary gid is the passwd entry's and the supplementary groups are those whose
 *   member list names the user.
 */
import { StagecraftError } from '../core/index.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  /** The passwd entry's home directory, `/` when there is none. */
  readonly home: string;
}

/** The contents of the image's /etc/passwd and /etc/group; undefined when the file is absent. */
export interface UserFiles {
  readonly passwd: string | undefined;
  readonly group: string | undefined;
}

const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  if (!/^[0-9]+$/u.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

function lines(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(':'));
}

/** Parses /etc/passwd (`name:password:uid:gid:gecos:home:shell`); malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const fields of lines(text)) {
    const uid = parseId(fields[2] ?? '');
    const gid = parseId(fields[3] ?? '');
    if (fields[0] === undefined || uid === undefined || gid === undefined) continue;
    entries.push({ name: fields[0], uid, gid, home: fields[5] ?? '', shell: fields[6] ?? '' });
  }
  return entries;
}

/** Parses /etc/group (`name:password:gid:member,member`); malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const fields of lines(text)) {
    const gid = parseId(fields[2] ?? '');
    if (fields[0] === undefined || gid === undefined) continue;
    const members = (fields[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    entries.push({ name: fields[0], gid, members });
  }
  return entries;
}

function checkRange(kind: 'uid' | 'gid', value: number, spec: string): number {
  if (value > MAX_ID) {
    throw new StagecraftError('USER_NOT_FOUND', `USER ${spec}: ${kind} ${value} is out of range`, {
      hint: `a ${kind} must be between 0 and ${MAX_ID}`,
    });
  }
  return value;
}

/** Resolves a Dockerfile USER value (`name`, `uid`, `name:group`, `uid:gid`; empty = root). */
export function resolveUser(spec: string, files: UserFiles): ResolvedUser {
  const colon = spec.indexOf(':');
  const userArg = colon === -1 ? spec : spec.slice(0, colon);
  const groupArg = colon === -1 ? '' : spec.slice(colon + 1);
  const passwd = parsePasswd(files.passwd ?? '');
  const homeOf = (uid: number): string => passwd.find((entry) => entry.uid === uid)?.home || '/';

  const numericUid = parseId(userArg);
  const numericGid = parseId(groupArg);
  if (numericUid !== undefined && numericGid !== undefined) {
    const uid = checkRange('uid', numericUid, spec);
    return { uid, gid: checkRange('gid', numericGid, spec), additionalGids: [], home: homeOf(uid) };
  }

  let uid = 0;
  let gid = 0;
  let home = '/';
  const match = userArg === ''
    ? passwd.find((entry) => entry.uid === 0)
    : passwd.find((entry) => (numericUid !== undefined ? entry.uid === numericUid : entry.name === userArg));
  if (match !== undefined) {
    uid = match.uid;
    gid = match.gid;
    home = match.home || '/';
  } else if (numericUid !== undefined) {
    uid = checkRange('uid', numericUid, spec);
  } else if (userArg !== '') {
    const known = passwd.map((entry) => entry.name);
    throw new StagecraftError('USER_NOT_FOUND', `unable to find user ${userArg}: no matching entries in the image's /etc/passwd`, {
      hint: files.passwd === undefined
        ? 'the image has no /etc/passwd: use a numeric USER uid[:gid], or create the user in an earlier step'
        : `create the user in an earlier step (e.g. RUN adduser ${userArg}) or use a numeric uid[:gid]${known.length > 0 ? `; known users: ${known.slice(0, 10).join(', ')}` : ''}`,
    });
  }

  const groups = parseGroup(files.group ?? '');
  if (groupArg !== '') {
    const group = groups.find((entry) => entry.name === groupArg || (numericGid !== undefined && entry.gid === numericGid));
    if (group !== undefined) {
      gid = group.gid;
    } else if (numericGid !== undefined) {
      gid = checkRange('gid', numericGid, spec);
    } else {
      throw new StagecraftError('USER_NOT_FOUND', `unable to find group ${groupArg}: no matching entries in the image's /etc/group`, {
        hint: `create the group in an earlier step (e.g. RUN addgroup ${groupArg}) or use a numeric gid`,
      });
    }
    return { uid, gid, additionalGids: [], home };
  }

  const additionalGids: number[] = [];
  if (match !== undefined) {
    for (const group of groups) {
      if (group.members.includes(match.name) && !additionalGids.includes(group.gid)) additionalGids.push(group.gid);
    }
  }
  return { uid, gid, additionalGids, home };
}
