/**
 * The inline build cache (`--cache-to type=inline`): cache records carried in the image config
 * itself, under the key BuildKit uses, `moby.buildkit.cache.v0`. Its value is, as BuildKit writes it,
 * the base64 of a JSON array of BuildKit cache records (cache/remotecache/v1 `CacheRecord`): each
 * names a key (`digest`), links to the records of its inputs (`inputs`) and its results as indexes
 * into the image's layers (`layers: [{layer: i}]`: the chain of the image's layers 0..i).
 *
 * stagecraft's keys are whole keys (inputs already folded in), so its records have no `inputs`; each
 * also carries `stagecraft: {version, name}`, a field BuildKit's reader ignores, which tells ours
 * apart. A record whose result has no layer has no `layers` (BuildKit's layer index cannot be -1).
 *
 * BuildKit's own records key steps by the digest of its LLB ops (protobuf definitions of its
 * Dockerfile frontend's output) chained through `inputs`; stagecraft's keys are digests of its own
 * plan and can never equal them, so BuildKit records are read and validated but not used.
 */
import { z } from 'zod';
import { StagecraftError, type Digest } from '../core/index.js';
import { digest, madeLayers, type CacheRecords, type KeyLink, type LayerRecord, type StepLayer } from './records.js';

export const INLINE_CACHE_CONFIG_KEY = 'moby.buildkit.cache.v0';

/** The version of the `stagecraft` marker on each record. */
const MARKER_VERSION = 1;

/** The most records read from one image's inline cache (BuildKit writes one per step). */
export const MAX_INLINE_CACHE_RECORDS = 100_000;

const index = z.number().int().nonnegative();

/** BuildKit's `CacheRecord` JSON, with stagecraft's marker. */
const InlineRecord = z.object({
  layers: z.array(z.object({ layer: index, createdAt: z.string().optional() })).optional(),
  chains: z.array(z.object({ layers: z.array(index), createdAt: z.string().optional() })).optional(),
  digest,
  inputs: z.array(z.array(z.object({ selector: z.string().optional(), link: index }))).optional(),
  stagecraft: z.object({
    version: z.literal(MARKER_VERSION),
    name: z.string(),
    /** The build's selection key → content digest links (CacheKeyLinks), on its first record; older readers ignore them. */
    links: z.array(z.tuple([digest, digest])).max(MAX_INLINE_CACHE_RECORDS).optional(),
  }).optional(),
});
type InlineRecord = z.input<typeof InlineRecord>;

/** A layer of the image, as its manifest and config describe it. */
export interface ImageLayer {
  readonly diffId: Digest;
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
}

/**
 * The inline cache value for an image with `imageLayers`: one record per key whose cached result is
 * a prefix of the image's layers (compared by diffID), as BuildKit exports the records the image's
 * layers can serve. Returns the base64 value and how many records it holds; undefined for none.
 */
export function inlineCacheValue(records: CacheRecords, keys: readonly Digest[], imageLayers: readonly { readonly diffId: Digest }[], createdAt: string, asInImage: (diffId: Digest) => Digest = (diffId) => diffId, made: (layers: readonly StepLayer[]) => readonly { readonly diffId: Digest }[] | undefined = madeLayers, links: readonly KeyLink[] = []): { readonly value: string; readonly count: number } | undefined {
  const out: (InlineRecord & { readonly order: number })[] = [];
  for (const key of new Set(keys)) {
    const row = records.get(key);
    if (row === undefined) continue;
    // A record with a layer never made is no prefix of the image (the image's layers are all made).
    const layers = made(row.result.layers);
    if (layers === undefined) continue;
    if (layers.length > imageLayers.length || layers.some((layer, i) => asInImage(layer.diffId) !== imageLayers[i]?.diffId)) continue;
    out.push({
      ...(layers.length > 0 ? { layers: [{ layer: layers.length - 1, createdAt }] } : {}),
      digest: key,
      stagecraft: { version: MARKER_VERSION, name: row.name },
      order: layers.length,
    });
  }
  if (out.length === 0) return undefined;
  // Deterministic: by layer, then key (the same build writes the same config).
  out.sort((a, b) => a.order - b.order || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const json = JSON.stringify(out.map(({ order: _order, ...record }, i) => (i === 0 && links.length > 0 && record.stagecraft !== undefined ? { ...record, stagecraft: { ...record.stagecraft, links: sortedLinks(links) } } : record)));
  return { value: Buffer.from(json).toString('base64'), count: out.length };
}

export interface InlineCacheContents {
  /** stagecraft's records, their layers taken from the image (fetched from `source` when used, if given). */
  readonly records: readonly { readonly key: Digest; readonly name: string; readonly layers: readonly LayerRecord[] }[];
  /** How many records BuildKit (or another builder) wrote: valid, but keyed by its LLB digests. */
  readonly foreign: number;
  /** Selection key → content digest links of the build that wrote it. */
  readonly links: readonly KeyLink[];
}

function invalid(where: string, why: string): StagecraftError {
  return new StagecraftError('INVALID_MANIFEST', `${where}: the inline build cache (${INLINE_CACHE_CONFIG_KEY}) is invalid: ${why}`, {
    hint: 'the image config was not written by BuildKit or stagecraft; rebuild it with --cache-to type=inline',
  });
}

/**
 * Reads and validates an image's inline cache: `value` is the config's `moby.buildkit.cache.v0`,
 * `layers` the image's layers (manifest descriptors with the config's diffIDs, in order). Undefined
 * when the image has none. Every link and layer index is checked, as BuildKit's parser does.
 */
export function readInlineCache(value: unknown, layers: readonly ImageLayer[], source: string | undefined, where: string): InlineCacheContents | undefined {
  if (value === undefined || value === null) return undefined;
  // Go marshals []byte as standard base64 (with padding); anything else fails its unmarshal too.
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw invalid(where, 'not a base64 string');
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
  } catch {
    throw invalid(where, 'not JSON');
  }
  if (!Array.isArray(json)) throw invalid(where, 'not an array of cache records');
  if (json.length > MAX_INLINE_CACHE_RECORDS) throw invalid(where, `${json.length} records, over the limit of ${MAX_INLINE_CACHE_RECORDS}`);
  const parsed = z.array(InlineRecord).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(where, `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'schema mismatch'}`);
  }
  const loop = findLoop(parsed.data.map((record) => (record.inputs ?? []).flat().map((input) => input.link)));
  if (loop !== undefined) throw invalid(where, `record ${loop} links to itself through its inputs`);
  const records: { key: Digest; name: string; layers: LayerRecord[] }[] = [];
  const links: KeyLink[] = [];
  let foreign = 0;
  for (const [i, record] of parsed.data.entries()) {
    for (const result of record.layers ?? []) if (result.layer >= layers.length) throw invalid(where, `record ${i} names layer ${result.layer} of an image with ${layers.length}`);
    for (const chain of record.chains ?? []) for (const layer of chain.layers) if (layer >= layers.length) throw invalid(where, `record ${i} names layer ${layer} of an image with ${layers.length}`);
    for (const inputs of record.inputs ?? []) for (const input of inputs) if (input.link >= parsed.data.length) throw invalid(where, `record ${i} links to record ${input.link} of ${parsed.data.length}`);
    if (record.stagecraft === undefined) {
      foreign++;
      continue;
    }
    if ((record.layers?.length ?? 0) > 1 || record.chains !== undefined || record.inputs !== undefined) throw invalid(where, `stagecraft record ${i} has more than one result or has inputs`);
    links.push(...(record.stagecraft.links ?? []));
    const top = record.layers?.[0]?.layer ?? -1;
    records.push({
      key: record.digest,
      name: record.stagecraft.name,
      layers: layers.slice(0, top + 1).map((layer) => ({ diffId: layer.diffId, digest: layer.digest, size: layer.size, mediaType: layer.mediaType, ...(source === undefined ? {} : { source }) })),
    });
  }
  return { records, foreign, links };
}

/** Links without repeats, by definition key (the same build writes the same config). */
function sortedLinks(links: readonly KeyLink[]): [Digest, Digest][] {
  const unique = new Map<string, [Digest, Digest]>(links.map(([from, to]) => [`${from} ${to}`, [from, to]]));
  return [...unique.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, link]) => link);
}

/** A record that reaches itself through its input links (BuildKit refuses such a config), if any. */
function findLoop(links: readonly (readonly number[])[]): number | undefined {
  // 0: unvisited, 1: on the current path, 2: done. Iterative, so a long chain cannot overflow the stack.
  const state = new Uint8Array(links.length);
  for (let start = 0; start < links.length; start++) {
    if (state[start] !== 0) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as [number, number];
      const [node, next] = top;
      const targets = links[node] ?? [];
      if (next >= targets.length) {
        state[node] = 2;
        stack.pop();
        continue;
      }
      top[1] = next + 1;
      const target = targets[next] as number;
      if (state[target] === 1) return target;
      if (state[target] === 0) {
        state[target] = 1;
        stack.push([target, 0]);
      }
    }
  }
  return undefined;
}
