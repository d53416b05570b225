/**
 * `RUN --mount=type=…,…` values, with BuildKit's keys, defaults and validation. Parsed once at parse
 * time (values holding `$` are checked for structure only) and again after variable expansion.
 */
import { posix } from 'node:path';
import { closest } from '../../core/index.js';
import { FlagError } from './flags.js';

export const MOUNT_TYPES = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'] as const;
export type MountType = (typeof MOUNT_TYPES)[number];
export const SHARING_MODES = ['shared', 'private', 'locked'] as const;
export type SharingMode = (typeof SHARING_MODES)[number];

export interface RunMount {
  readonly type: MountType;
  /** Stage name, stage index or image the source comes from (bind, cache). */
  readonly from?: string | undefined;
  readonly source?: string | undefined;
  readonly target?: string | undefined;
  readonly readonly: boolean;
  /** tmpfs size in bytes. */
  readonly size?: number | undefined;
  /** cache id, secret id or ssh id. */
  readonly id?: string | undefined;
  readonly sharing?: SharingMode | undefined;
  readonly required: boolean;
  /** secret: also (or only) expose the value as this environment variable. */
  readonly env?: string | undefined;
  readonly mode?: number | undefined;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
}

const ALL_KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env'];

/** Splits a CSV record: comma-separated fields, double quotes group and `""` escapes a quote. */
export function splitCsv(value: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let fieldStart = true;
  while (i < value.length) {
    const ch = value[i] ?? '';
    if (quoted) {
      if (ch === '"') {
        if (value[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"' && fieldStart) {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      fieldStart = true;
      i++;
      continue;
    } else {
      field += ch;
    }
    fieldStart = false;
    i++;
  }
  if (quoted) throw new FlagError(`failed to parse csv mounts: unterminated quote in "${value}"`);
  fields.push(field);
  return fields;
}

const RAM_RE = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: `64m`, `1g`, `512kb`, `1024` (binary multiples). */
export function parseRamBytes(value: string): number | undefined {
  const match = RAM_RE.exec(value);
  if (match === null) return undefined;
  const n = Number.parseFloat(match[1] ?? '');
  const unit = match[2]?.toLowerCase();
  return Math.floor(n * (unit === undefined ? 1 : (UNITS[unit] ?? 1)));
}

function parseBool(key: string, value: string): boolean {
  // Go's strconv.ParseBool
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  throw new FlagError(`invalid value for ${key}: ${value}`, 'use true or false');
}

function parseUint(key: string, value: string, radix: 8 | 10): number {
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  const n = re.test(value) ? Number.parseInt(value, radix) : NaN;
  if (!Number.isFinite(n) || n > 0xffffffff) {
    throw new FlagError(`invalid value ${value} for ${key}`, radix === 8 ? `${key} is an octal number such as 0755` : `${key} is a non-negative number`);
  }
  return n;
}

/**
 * Parses one `--mount` value. With `expand` every value is expanded first and fully validated; with
 * `expand === undefined` a field whose value holds `$` is only checked for a known key.
 */
export function parseMount(value: string, expand?: (word: string) => string): RunMount {
  let type: MountType = 'bind';
  let from: string | undefined;
  let source: string | undefined;
  let target: string | undefined;
  let readOnly: boolean | undefined;
  let size: number | undefined;
  let id: string | undefined;
  let sharing: SharingMode | undefined;
  let required = false;
  let env: string | undefined;
  let mode: number | undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  let deferred = false;

  for (const field of splitCsv(value)) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    if (eq === -1) {
      switch (key) {
        case 'readonly':
        case 'ro':
          readOnly = true;
          continue;
        case 'readwrite':
        case 'rw':
          readOnly = false;
          continue;
        case 'required':
          if (type === 'secret' || type === 'ssh') {
            required = true;
            continue;
          }
          throw new FlagError(`unexpected key '${key}' for mount type '${type}'`);
        default:
          throw new FlagError(`invalid field '${field}' must be a key=value pair`);
      }
    }
    let v = field.slice(eq + 1);
    if (key === 'from') {
      const dollar = v.indexOf('$');
      if (dollar !== -1 && dollar !== v.length - 1) {
        throw new FlagError(`'${key}' doesn't support variable expansion, define alias stage instead`);
      }
    } else if (expand !== undefined) {
      v = expand(v);
    } else if (v.includes('$')) {
      if (!ALL_KEYS.includes(key)) throw unknownKey(key, field);
      deferred = true;
      continue;
    }
    switch (key) {
      case 'type': {
        const t = v.toLowerCase();
        if (!(MOUNT_TYPES as readonly string[]).includes(t)) {
          const guess = closest(v, MOUNT_TYPES);
          throw new FlagError(`unsupported mount type "${v}"`, guess !== undefined ? `did you mean type=${guess}?` : `mount types are ${MOUNT_TYPES.join(', ')}`);
        }
        type = t as MountType;
        break;
      }
      case 'from':
        from = v;
        break;
      case 'source':
      case 'src':
        source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = v;
        break;
      case 'readonly':
      case 'ro':
        readOnly = parseBool(key, v);
        break;
      case 'readwrite':
      case 'rw':
        readOnly = !parseBool(key, v);
        break;
      case 'required':
        if (type !== 'secret' && type !== 'ssh') throw new FlagError(`unexpected key '${key}' for mount type '${type}'`);
        required = parseBool(key, v);
        break;
      case 'size':
        if (type !== 'tmpfs') throw new FlagError(`unexpected key '${key}' for mount type '${type}'`);
        size = parseRamBytes(v);
        if (size === undefined) throw new FlagError(`invalid value for ${key}: ${v}`, 'sizes look like 64m or 1g');
        break;
      case 'id':
        id = v;
        break;
      case 'sharing': {
        const s = v.toLowerCase();
        if (!(SHARING_MODES as readonly string[]).includes(s)) {
          const guess = closest(v, SHARING_MODES);
          throw new FlagError(`unsupported sharing value "${v}"`, guess !== undefined ? `did you mean sharing=${guess}?` : `sharing is one of ${SHARING_MODES.join(', ')}`);
        }
        sharing = s as SharingMode;
        break;
      }
      case 'mode':
        mode = parseUint('mode', v, 8);
        break;
      case 'uid':
        uid = parseUint('uid', v, 10);
        break;
      case 'gid':
        gid = parseUint('gid', v, 10);
        break;
      case 'env':
        env = v;
        break;
      default:
        throw unknownKey(key, field);
    }
  }

  const fileInfoAllowed = type === 'secret' || type === 'ssh' || type === 'cache';
  if (!fileInfoAllowed) {
    if (mode !== undefined) throw new FlagError(`mode not allowed for "${type}" type mounts`);
    if (uid !== undefined) throw new FlagError(`uid not allowed for "${type}" type mounts`);
    if (gid !== undefined) throw new FlagError(`gid not allowed for "${type}" type mounts`);
  }
  if (type === 'secret') {
    if (from !== undefined) throw new FlagError('secret mount should not have a from');
    if (sharing !== undefined) throw new FlagError('secret mount should not define sharing');
    if (!deferred && source === undefined && target === undefined && id === undefined) {
      throw new FlagError('invalid secret mount. one of source, target required', 'write --mount=type=secret,id=<id>[,target=<path>]');
    }
    if (source !== undefined && id !== undefined) throw new FlagError("both source and id can't be set");
  }
  if (sharing !== undefined && type !== 'cache') throw new FlagError(`invalid cache sharing set for ${type} mount`);

  return {
    type,
    from,
    source,
    target,
    readonly: readOnly ?? !(type === 'cache' || type === 'tmpfs'),
    size,
    id,
    sharing,
    required,
    env,
    mode,
    uid,
    gid,
  };
}

function unknownKey(key: string, field: string): FlagError {
  const guess = closest(key, ALL_KEYS);
  return new FlagError(`unexpected key '${key}' in '${field}'`, guess !== undefined ? `did you mean ${guess}?` : undefined);
}

/** The id a secret mount reads (BuildKit: `source` or `id`, else the target's base name); undefined when it names none. */
export function secretMountId(mount: RunMount): string | undefined {
  const id = mount.source ?? mount.id;
  if (id !== undefined && id !== '') return id;
  return mount.target !== undefined && mount.target !== '' ? posix.basename(mount.target) : undefined;
}

/** The ssh agent id an ssh mount uses (`default` unless `id=` names one). */
export function sshMountId(mount: RunMount): string {
  return mount.id ?? 'default';
}
