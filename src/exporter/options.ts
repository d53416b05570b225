/**
 * `--output` / `-o` specs with docker buildx's syntax and semantics, validated before any build
 * step runs (a typo fails in milliseconds): `type=local,dest=DIR`, `type=tar,dest=FILE|-`,
 * `type=oci|docker,dest=FILE,name=REF`, `type=image,name=REF[,push=true]`, `type=registry,name=REF`,
 * the shorthands `-o DIR` (local) and `-o -` (tar to stdout), plus compression options.
 */
import { StagecraftError } from '../core/index.js';
import type { ExportCompression, ExportCompressionSpec } from '../image/index.js';
import { parseKeyValueFlagLast, splitFlagFields } from '../util/csv-flags.js';

export type Compression = ExportCompression;

export interface LayerCompression extends ExportCompressionSpec {
  /** Recompress layers that exist with another compression. */
  readonly force: boolean;
  /** The output named a compression option (otherwise local-only images keep plain tar layers). */
  readonly explicit: boolean;
}

interface OutputBase {
  readonly raw: string;
}

export type OutputSpec =
  | (OutputBase & { readonly type: 'local'; readonly dest: string })
  | (OutputBase & { readonly type: 'tar'; readonly dest: string })
  /** `dest` undefined: `type=docker` (or `--load`) loads the image into the local Docker daemon, as buildx. */
  | (OutputBase & { readonly type: 'oci' | 'docker'; readonly dest: string | undefined; readonly names: readonly string[]; readonly compression: LayerCompression; readonly ociMediaTypes: boolean; readonly tar: boolean })
  | (OutputBase & { readonly type: 'image'; readonly names: readonly string[]; readonly push: boolean; readonly compression: LayerCompression; readonly ociMediaTypes: boolean; readonly store: boolean });

const TYPES = ['local', 'tar', 'oci', 'docker', 'image', 'registry'] as const;

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

function parseBool(key: string, value: string, raw: string): boolean {
  if (value === '' || value === 'true') return true;
  if (value === 'false') return false;
  throw usage(`invalid value "${value}" for ${key} in --output "${raw}"`, `${key} takes true or false`);
}

function parseCompression(map: Map<string, string>, raw: string): LayerCompression {
  const name = map.get('compression') ?? 'gzip';
  if (name !== 'gzip' && name !== 'zstd' && name !== 'uncompressed') {
    throw usage(`unsupported compression "${name}" in --output "${raw}"`, 'use compression=gzip, zstd or uncompressed');
  }
  const levelText = map.get('compression-level');
  let level: number | undefined;
  if (levelText !== undefined) {
    level = Number(levelText);
    const max = name === 'zstd' ? 22 : 9;
    if (!Number.isInteger(level) || level < 1 || level > max) {
      throw usage(`invalid compression-level "${levelText}" in --output "${raw}"`, `${name} levels are 1 to ${max}`);
    }
  }
  return {
    compression: name,
    level,
    force: map.has('force-compression') ? parseBool('force-compression', map.get('force-compression') ?? '', raw) : false,
    explicit: map.has('compression') || map.has('compression-level') || map.has('force-compression'),
  };
}

const KNOWN_KEYS: Record<(typeof TYPES)[number], readonly string[]> = {
  local: ['type', 'dest'],
  tar: ['type', 'dest'],
  oci: ['type', 'dest', 'name', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'tar'],
  docker: ['type', 'dest', 'name', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'tar'],
  image: ['type', 'name', 'push', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'store', 'unpack'],
  registry: ['type', 'name', 'push', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'store'],
};

export function parseOutputSpec(raw: string): OutputSpec {
  // As buildx: the value is CSV (util/csv-flags.ts); one field without `=` is a shorthand.
  const fields = splitFlagFields(raw, '--output');
  if (fields.length === 1 && fields[0] === raw && !raw.includes('=')) return raw === '-' ? { raw, type: 'tar', dest: '-' } : { raw, type: 'local', dest: raw };
  const map = parseKeyValueFlagLast(raw, '--output');
  const type = map.get('type');
  if (type === undefined) throw usage(`--output "${raw}" has no type`, `write type=local,dest=DIR (types: ${TYPES.join(', ')})`);
  if (!(TYPES as readonly string[]).includes(type)) throw usage(`unknown output type "${type}" in --output "${raw}"`, `types are ${TYPES.join(', ')}`);
  const t = type as (typeof TYPES)[number];
  for (const key of map.keys()) {
    if (!KNOWN_KEYS[t].includes(key)) throw usage(`unknown option "${key}" for output type ${t} in --output "${raw}"`, `type=${t} takes ${KNOWN_KEYS[t].filter((k) => k !== 'type').join(', ')}`);
  }
  const names = (map.get('name') ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  switch (t) {
    case 'local':
    case 'tar': {
      const dest = map.get('dest');
      if (dest === undefined || dest === '') throw usage(`--output type=${t} needs dest=`, t === 'local' ? 'write type=local,dest=DIR' : 'write type=tar,dest=FILE (or dest=- for stdout)');
      return { raw, type: t, dest };
    }
    case 'oci':
    case 'docker': {
      const dest = map.get('dest');
      const tar = map.has('tar') ? parseBool('tar', map.get('tar') ?? '', raw) : true;
      if (t === 'oci' && (dest === undefined || dest === '')) throw usage(`--output type=${t} needs dest=`, `write type=${t},dest=image.tar`);
      if (!tar && (dest === undefined || dest === '')) throw usage(`--output ${raw}: tar=false needs dest=DIR`, `write type=${t},tar=false,dest=DIR`);
      return { raw, type: t, dest: dest === '' ? undefined : dest, names, compression: parseCompression(map, raw), ociMediaTypes: map.has('oci-mediatypes') ? parseBool('oci-mediatypes', map.get('oci-mediatypes') ?? '', raw) : t === 'oci', tar };
    }
    case 'image':
    case 'registry': {
      const push = t === 'registry' ? true : map.has('push') ? parseBool('push', map.get('push') ?? '', raw) : false;
      if (push && names.length === 0) throw usage(`--output type=${t} with push needs name=`, `write type=${t},name=registry.example.com/app:tag`);
      return {
        raw, type: 'image', names, push, compression: parseCompression(map, raw),
        ociMediaTypes: map.has('oci-mediatypes') ? parseBool('oci-mediatypes', map.get('oci-mediatypes') ?? '', raw) : true,
        store: map.has('store') ? parseBool('store', map.get('store') ?? '', raw) : true,
      };
    }
  }
}
