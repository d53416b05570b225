/**
 * The semantic diff of two images (modelled on diffoci's `--semantic`): the config field by field,
 * and each pair of layers entry by entry — type, mode, owner, size, content digest, link target,
 * device numbers, xattrs, whiteouts — with differences of modification time only listed apart.
 * Layers are streamed (bodies are hashed, never held); the entries of one layer are held as
 * summaries, up to a cap. The two images may live in different content stores.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StagecraftError, type Digest } from '../core/index.js';
import type { Descriptor, ImageConfig } from '../oci/index.js';
import { DEFAULT_MAX_LAYER_ENTRIES, OPAQUE_WHITEOUT, WHITEOUT_PREFIX, decompressLayer, readTar, type TarEntryType } from '../snapshot/index.js';

/** What a layer entry is: a tar type, or a whiteout (`.wh.NAME`) / opaque-directory marker (`.wh..wh..opq`). */
export type EntryKind = TarEntryType | 'whiteout' | 'opaque';

/** One tar entry, summarised. */
export interface LayerEntry {
  /** The normalised archive path (no leading `./` or `/`, no trailing `/`). */
  readonly path: string;
  readonly kind: EntryKind;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** sha256 of a regular file's body. */
  readonly digest?: Digest | undefined;
  readonly linkname: string;
  readonly device: string;
  /** xattr name → sha256 of its value (values may be binary or large). */
  readonly xattrs: Readonly<Record<string, string>>;
  readonly mtime: number;
}

export type EntryField = 'kind' | 'mode' | 'uid' | 'gid' | 'size' | 'digest' | 'linkname' | 'device' | 'xattrs';

export interface FieldChange {
  readonly field: EntryField;
  readonly a: string;
  readonly b: string;
}

export interface EntryChange {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** The entry on each side (absent on the side it is missing from). */
  readonly a?: LayerEntry | undefined;
  readonly b?: LayerEntry | undefined;
  /** For `changed`: every field that differs (mtime is never one: see `timeOnly`). */
  readonly fields: readonly FieldChange[];
}

/** An entry identical on both sides but for its modification time. */
export interface TimeChange {
  readonly path: string;
  readonly a: number;
  readonly b: number;
}

/** The Dockerfile step that made a layer. */
export interface StepSource {
  readonly file?: string | undefined;
  readonly line?: number | undefined;
  readonly instruction: string;
}

export interface LayerDiff {
  /** Position in the manifest (0 = the bottom layer). */
  readonly index: number;
  readonly a?: Descriptor | undefined;
  readonly b?: Descriptor | undefined;
  readonly entries: readonly EntryChange[];
  readonly timeOnly: readonly TimeChange[];
  /** True when more changes were found than the report holds. */
  readonly truncated: boolean;
  readonly step?: StepSource | undefined;
}

export interface ConfigChange {
  /** A JSON path, e.g. `config.Env[1]`, `history[3].created`. */
  readonly path: string;
  readonly a?: unknown;
  readonly b?: unknown;
  /** A `created` time (the image's or a history entry's). */
  readonly timeOnly: boolean;
}

export interface ImageDiff {
  /** Config fields that differ (times included, marked `timeOnly`). */
  readonly config: readonly ConfigChange[];
  /** Only the layers whose contents differ (same diffID → not listed). */
  readonly layers: readonly LayerDiff[];
}

/** Blobs of one side (a content store's `blobs`). */
export interface BlobReader {
  open(digest: Digest): Promise<Readable>;
}

export interface DiffSide {
  readonly blobs: BlobReader;
  readonly config: ImageConfig;
  readonly layers: readonly Descriptor[];
}

export interface DiffImagesOptions {
  /** The step that made layer `index` (of side b); undefined when not known. */
  readonly stepOf?: ((index: number) => StepSource | undefined) | undefined;
  /** Most entries read from one layer (default DEFAULT_MAX_LAYER_ENTRIES). */
  readonly maxEntries?: number | undefined;
  /** Most changes kept per layer and per kind (default 1000); the rest only set `truncated`. */
  readonly maxChanges?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

const DEFAULT_MAX_CHANGES = 1000;

/** `./a/b/` → `a/b`; the root itself is `.`. */
export function normalizeEntryPath(name: string): string {
  let path = name;
  while (path.startsWith('./')) path = path.slice(2);
  path = path.replace(/^\/+/u, '').replace(/\/+$/u, '');
  return path === '' || path === '.' ? '.' : path;
}

function kindOf(path: string, type: TarEntryType): EntryKind {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === OPAQUE_WHITEOUT) return 'opaque';
  if (base.startsWith(WHITEOUT_PREFIX)) return 'whiteout';
  return type;
}

/**
 * The entries of a layer's tar, by path. A path that appears twice keeps its last entry (as
 * extraction does). Fails with LAYER_INVALID past `maxEntries` entries.
 */
export async function readLayerEntries(tar: AsyncIterable<Uint8Array>, options: { readonly maxEntries?: number | undefined; readonly what?: string | undefined; readonly signal?: AbortSignal | undefined } = {}): Promise<Map<string, LayerEntry>> {
  const max = options.maxEntries ?? DEFAULT_MAX_LAYER_ENTRIES;
  const entries = new Map<string, LayerEntry>();
  let count = 0;
  for await (const { header, body } of readTar(tar)) {
    options.signal?.throwIfAborted();
    if (++count > max) {
      throw new StagecraftError('LAYER_INVALID', `${options.what ?? 'the layer'} has more than ${max} entries`, { hint: 'the layer is too large to compare entry by entry' });
    }
    let digest: Digest | undefined;
    if (header.type === 'file') {
      const hash = createHash('sha256');
      for await (const chunk of body) hash.update(chunk);
      digest = `sha256:${hash.digest('hex')}` as Digest;
    }
    const path = normalizeEntryPath(header.name);
    const xattrs: Record<string, string> = {};
    for (const name of [...header.xattrs.keys()].sort()) xattrs[name] = createHash('sha256').update(header.xattrs.get(name) ?? Buffer.alloc(0)).digest('hex');
    entries.set(path, {
      path,
      kind: kindOf(path, header.type),
      mode: header.mode,
      uid: header.uid,
      gid: header.gid,
      size: header.size,
      digest,
      linkname: header.linkname,
      device: header.type === 'char' || header.type === 'block' ? `${header.devmajor},${header.devminor}` : '',
      xattrs,
      mtime: header.mtime,
    });
  }
  return entries;
}

function xattrText(xattrs: Readonly<Record<string, string>>): string {
  const names = Object.keys(xattrs);
  return names.length === 0 ? '(none)' : names.map((n) => `${n}=sha256:${(xattrs[n] ?? '').slice(0, 12)}`).join(',');
}

function fieldChanges(a: LayerEntry, b: LayerEntry): FieldChange[] {
  const out: FieldChange[] = [];
  const add = (field: EntryField, x: string, y: string): void => {
    if (x !== y) out.push({ field, a: x, b: y });
  };
  add('kind', a.kind, b.kind);
  add('mode', `0${a.mode.toString(8)}`, `0${b.mode.toString(8)}`);
  add('uid', String(a.uid), String(b.uid));
  add('gid', String(a.gid), String(b.gid));
  add('size', String(a.size), String(b.size));
  add('digest', a.digest ?? '', b.digest ?? '');
  add('linkname', a.linkname, b.linkname);
  add('device', a.device, b.device);
  add('xattrs', xattrText(a.xattrs), xattrText(b.xattrs));
  return out;
}

/** Entry-level differences of two layers' entries, paths sorted. */
export function diffEntries(a: ReadonlyMap<string, LayerEntry>, b: ReadonlyMap<string, LayerEntry>, maxChanges = DEFAULT_MAX_CHANGES): { entries: EntryChange[]; timeOnly: TimeChange[]; truncated: boolean } {
  const entries: EntryChange[] = [];
  const timeOnly: TimeChange[] = [];
  let truncated = false;
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const path of paths) {
    const x = a.get(path);
    const y = b.get(path);
    let change: EntryChange | undefined;
    if (x === undefined && y !== undefined) change = { path, change: 'added', b: y, fields: [] };
    else if (x !== undefined && y === undefined) change = { path, change: 'removed', a: x, fields: [] };
    else if (x !== undefined && y !== undefined) {
      const fields = fieldChanges(x, y);
      if (fields.length > 0) change = { path, change: 'changed', a: x, b: y, fields };
      else if (x.mtime !== y.mtime) {
        if (timeOnly.length < maxChanges) timeOnly.push({ path, a: x.mtime, b: y.mtime });
        else truncated = true;
      }
    }
    if (change === undefined) continue;
    if (entries.length < maxChanges) entries.push(change);
    else truncated = true;
  }
  return { entries, timeOnly, truncated };
}

/** Flattens JSON into path → leaf value (arrays by index, objects by key). */
function flatten(value: unknown, path: string, out: Map<string, unknown>): void {
  if (Array.isArray(value)) {
    if (value.length === 0) out.set(path, []);
    value.forEach((item, i) => flatten(item, `${path}[${i}]`, out));
  } else if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    if (keys.length === 0) out.set(path, {});
    for (const key of keys) flatten((value as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`, out);
  } else {
    out.set(path, value);
  }
}

const TIME_PATH = /^(created|history\[\d+\]\.created)$/u;

/** The config fields that differ, by JSON path. */
export function diffConfigs(a: unknown, b: unknown): ConfigChange[] {
  const x = new Map<string, unknown>();
  const y = new Map<string, unknown>();
  flatten(a, '', x);
  flatten(b, '', y);
  const out: ConfigChange[] = [];
  for (const path of [...new Set([...x.keys(), ...y.keys()])].sort()) {
    const va = x.get(path);
    const vb = y.get(path);
    if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    out.push({ path, ...(x.has(path) ? { a: va } : {}), ...(y.has(path) ? { b: vb } : {}), timeOnly: TIME_PATH.test(path) });
  }
  return out;
}

async function layerEntries(side: DiffSide, layer: Descriptor, what: string, options: DiffImagesOptions): Promise<Map<string, LayerEntry>> {
  const { tar } = await decompressLayer(await side.blobs.open(layer.digest));
  try {
    return await readLayerEntries(tar, { maxEntries: options.maxEntries, what, signal: options.signal });
  } finally {
    tar.destroy();
  }
}

/**
 * The semantic diff of image a and image b. Layers are paired by position; a pair with the same
 * diffID is equal and not read.
 */
export async function diffImages(a: DiffSide, b: DiffSide, options: DiffImagesOptions = {}): Promise<ImageDiff> {
  const config = diffConfigs(a.config, b.config);
  const layers: LayerDiff[] = [];
  const count = Math.max(a.layers.length, b.layers.length);
  const empty = new Map<string, LayerEntry>();
  for (let index = 0; index < count; index++) {
    options.signal?.throwIfAborted();
    const la = a.layers[index];
    const lb = b.layers[index];
    const da = a.config.rootfs.diff_ids[index];
    const db = b.config.rootfs.diff_ids[index];
    if (la !== undefined && lb !== undefined && da !== undefined && da === db) continue;
    const ea = la === undefined ? empty : await layerEntries(a, la, `layer ${index} of the first image`, options);
    const eb = lb === undefined ? empty : await layerEntries(b, lb, `layer ${index} of the second image`, options);
    const { entries, timeOnly, truncated } = diffEntries(ea, eb, options.maxChanges);
    const step = options.stepOf?.(index);
    layers.push({ index, a: la, b: lb, entries, timeOnly, truncated, ...(step === undefined ? {} : { step }) });
  }
  return { config, layers };
}

/**
 * The Dockerfile step of each layer from the config history (`created_by`, non-empty layers in
 * order), when no better source is known: index → instruction text.
 */
export function historyInstructions(config: ImageConfig): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const entry of config.history ?? []) if (entry.empty_layer !== true) out.push(entry.created_by);
  return out;
}
