/**
 * User namespace id maps: the subordinate id ranges of /etc/subuid and /etc/subgid (subuid(5)), the
 * map a rootless build asks newuidmap/newgidmap for, and the map the kernel shows in
 * /proc/self/uid_map (user_namespaces(7)). Pure: the file texts are inputs.
 */
import { readFileSync } from 'node:fs';

/** One subordinate range: `count` ids from `start` (host ids). */
export interface IdRange {
  readonly start: number;
  readonly count: number;
}

/** One line of a uid_map/gid_map: `count` ids from `inner` (in the namespace) are `outer` outside it. */
export interface IdMapEntry {
  readonly inner: number;
  readonly outer: number;
  readonly count: number;
}

/** The largest id the kernel accepts (uid_t is 32 bits; (uid_t)-1 is reserved). */
const MAX_ID = 4_294_967_294;
/** The kernel accepts at most 340 lines in a uid_map (user_namespaces(7), since Linux 4.15). */
const MAX_MAP_LINES = 340;

function id(text: string): number | undefined {
  if (!/^\d{1,10}$/u.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_ID ? value : undefined;
}

/**
 * The ranges `subuid`/`subgid` text grants the user, in file order. A line is `NAME:START:COUNT` or
 * `UID:START:COUNT` (subuid(5)); both the name and the numeric id match. Blank lines, `#` comments
 * and malformed lines (shadow's tools skip them too) are ignored; a range of count 0 or one that
 * would run past the largest id is dropped.
 */
export function parseSubIds(text: string, user: { readonly name: string | undefined; readonly id: number }): IdRange[] {
  const ranges: IdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length !== 3) continue;
    const [owner = '', startText = '', countText = ''] = fields;
    if (owner !== user.name && owner !== String(user.id)) continue;
    const start = id(startText);
    const count = id(countText);
    if (start === undefined || count === undefined || count === 0 || start + count - 1 > MAX_ID) continue;
    ranges.push({ start, count });
  }
  return ranges;
}

/**
 * The map for a rootless namespace: the user's own id is 0 (root of the namespace), then each
 * subordinate range in order from 1 (as rootlesskit and `unshare --map-auto` lay them out). With no
 * ranges it is the single-id map `0 <id> 1`. Ranges holding the user's own id are skipped (the
 * kernel refuses overlapping maps); at most 340 lines.
 */
export function rootlessIdMap(hostId: number, ranges: readonly IdRange[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{ inner: 0, outer: hostId, count: 1 }];
  let next = 1;
  for (const range of ranges) {
    if (map.length >= MAX_MAP_LINES) break;
    if (hostId >= range.start && hostId < range.start + range.count) continue;
    const count = Math.min(range.count, MAX_ID + 1 - next);
    if (count <= 0) break;
    map.push({ inner: next, outer: range.start, count });
    next += count;
  }
  return map;
}

/** newuidmap/newgidmap arguments after the pid: `inner outer count` per entry. */
export function idMapArgs(map: readonly IdMapEntry[]): string[] {
  return map.flatMap((entry) => [String(entry.inner), String(entry.outer), String(entry.count)]);
}

/** /proc/<pid>/uid_map (or gid_map) text → entries; unparsable lines are skipped. */
export function parseIdMap(text: string): IdMapEntry[] {
  const entries: IdMapEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/u);
    if (fields.length !== 3) continue;
    const [inner, outer, count] = fields.map((f) => id(f) ?? (f === '4294967295' ? 4_294_967_295 : undefined));
    if (inner === undefined || outer === undefined || count === undefined) continue;
    entries.push({ inner, outer, count });
  }
  return entries;
}

/** Whether a map is the initial namespace's identity map (`0 0 4294967295`): not a user namespace. */
export function isInitialMap(map: readonly IdMapEntry[]): boolean {
  return map.length === 1 && map[0]?.inner === 0 && map[0].outer === 0 && map[0].count === 4_294_967_295;
}

/** Whether `inner` (an id inside the namespace) is mapped. */
export function mapsId(map: readonly IdMapEntry[], inner: number): boolean {
  return map.some((entry) => inner >= entry.inner && inner - entry.inner < entry.count);
}

/** The ids mapped, as `0-65536` ranges joined by commas (for messages). */
export function describeIdMap(map: readonly IdMapEntry[]): string {
  return [...map].sort((a, b) => a.inner - b.inner).map((e) => (e.count === 1 ? `${e.inner}` : `${e.inner}-${e.inner + e.count - 1}`)).join(',');
}

/** This process's user namespace: undefined in the initial one (a real root or an ordinary user). */
export interface UserNamespaceMaps {
  readonly uidMap: readonly IdMapEntry[];
  readonly gidMap: readonly IdMapEntry[];
}

let current: UserNamespaceMaps | null | undefined;

/**
 * The id maps of the user namespace this process runs in, when it is not the initial one (read
 * once from /proc/self; a process never changes its user namespace). Inside one, uid 0 is not the
 * host's root: mounts work, but no device nodes, no ids outside the map, no raising hard limits.
 */
export function currentUserNamespace(): UserNamespaceMaps | undefined {
  if (current === undefined) {
    try {
      const uidMap = parseIdMap(readFileSync('/proc/self/uid_map', 'utf8'));
      const gidMap = parseIdMap(readFileSync('/proc/self/gid_map', 'utf8'));
      current = isInitialMap(uidMap) ? null : { uidMap, gidMap };
    } catch {
      current = null;
    }
  }
  return current ?? undefined;
}
