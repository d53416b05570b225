/**
 * Binds plan vertices to real work (DESIGN.md `ops/`): each op kind gets its cache-key function and
 * its execution. Cache keys cover exactly what determines the result: an image by its manifest
 * digest, the build context by the content of the files a step selects, exec and file ops by their
 * definition (the solver adds the inputs' keys). Proxy variables and secret values are never part
 * of a key.
 */
import type { Digest } from '../core/index.js';
import type { Op as PlanOp, Vertex } from '../plan/index.js';
import type { Op, ResultCache, SelectedContent, SolveNode } from '../solver/index.js';
import { isLazyLayer, type CacheKeyLinks, type CacheRecords } from '../cache/index.js';
import type { ContentStore } from '../content/index.js';
import type { BaseImages } from './base-images.js';
import { runExec, type ExecDeps } from './exec.js';
import { runFile, type FileDeps } from './file.js';
import type { LayerStore } from './layers.js';
import type { HttpDownloads } from './http.js';
import { EMPTY_FS, type FsResult, type SourceCheck } from './result.js';
import type { Selector } from './file/select.js';
import { SELECTION_VERSION, execSelectors, fileSelectors, keyedByContent, type SelectionReader } from './selected-content.js';

export interface ContextSource {
  /**
   * A content digest of the files `include` selects (all when it holds the root) minus .dockerignore,
   * and each selected file's digest. `name` is the plan's context name: `context` for the build
   * context, another for a named context (`--build-context`).
   */
  hash(name: string, include: readonly string[], signal: AbortSignal): Promise<{ digest: Digest; files: readonly (readonly [string, string])[] }>;
  /** A directory holding exactly those files (or more, with a check for each entry read), valid until the build ends. */
  view(name: string, include: readonly string[], signal: AbortSignal): Promise<{ readonly path: string; readonly check?: SourceCheck | undefined }>;
}

export interface OpDeps extends ExecDeps, FileDeps {
  readonly baseImages: BaseImages;
  readonly context: ContextSource;
  /** The build's ADD <url> downloads. */
  readonly downloads: HttpDownloads;
  /** Reads what steps select from other stages, for content-selected keys; absent: keys by definition only. */
  readonly selections?: SelectionReader | undefined;
}

/**
 * The content-input part of an op (solver `Op.contentInputs`/`selectedContent`): the inputs, among
 * `selectors`, whose vertex is worth keying by content (`inputOps`: the op of each input vertex).
 */
function contentPart(selectors: ReadonlyMap<number, readonly Selector[]>, inputOps: readonly (PlanOp | undefined)[], reader: SelectionReader | undefined): Pick<Op<FsResult>, 'contentInputs' | 'contentSelector' | 'selectedContent'> {
  if (reader === undefined) return {};
  const contentInputs = [...selectors.keys()].filter((index) => keyedByContent(inputOps[index])).sort((a, b) => a - b);
  if (contentInputs.length === 0) return {};
  return {
    contentInputs,
    contentSelector: (index) => ({ selection: SELECTION_VERSION, selectors: selectors.get(index) ?? [] }),
    selectedContent: (index, input, signal) => reader.read(input, selectors.get(index) ?? [], signal),
  };
}

export function opFor(vertex: Vertex, deps: OpDeps, inputOps: readonly (PlanOp | undefined)[] = []): Op<FsResult> {
  const op: PlanOp = vertex.op;
  switch (op.type) {
    case 'scratch':
      return { resource: 'io', cacheKey: () => Promise.resolve({ type: 'scratch' }), execute: () => Promise.resolve(EMPTY_FS) };
    case 'image': {
      return {
        resource: 'io',
        cacheKey: async (_inputs, signal) => ({ type: 'image', ref: op.ref, digest: (await deps.baseImages.resolve(op.ref, op.platform, signal)).manifestDigest }),
        execute: async (_inputs, context) => ({ kind: 'layers', layers: (await deps.baseImages.resolve(op.ref, op.platform, context.signal)).layers }),
      };
    }
    case 'context':
      return {
        resource: 'io',
        cacheKey: async (_inputs, signal) => ({ type: 'context', ...(await deps.context.hash(op.name, op.include ?? [''], signal)) }),
        execute: async (_inputs, context) => {
          const { path, check } = await deps.context.view(op.name, op.include ?? [''], context.signal);
          return { kind: 'dir', path, check };
        },
      };
    case 'http':
      return {
        resource: 'io',
        cacheKey: (_inputs, signal) => deps.downloads.cacheKey(op, signal),
        execute: async (_inputs, context) => ({ kind: 'dir', path: await deps.downloads.fetch(op, context.signal) }),
      };
    case 'exec': {
      const { proxyEnv: _proxy, ...keyed } = op;
      return { resource: 'exec', cacheKey: () => Promise.resolve(keyed), execute: (inputs, context) => runExec(op, inputs, deps, context, vertex.meta), ...contentPart(execSelectors(op), inputOps, deps.selections) };
    }
    case 'file':
      return { resource: 'io', cacheKey: () => Promise.resolve(op), execute: (inputs, context) => runFile(op, inputs, deps, context), ...contentPart(fileSelectors(op), inputOps, deps.selections) };
    case 'merge':
      return {
        resource: 'io',
        cacheKey: () => Promise.resolve({ type: 'merge' }),
        // Stacked layers apply on another parent than their own: they are made (a lazy layer is a snapshot on its own parent).
        execute: async (inputs, context) => ({ kind: 'layers', layers: (await Promise.all(inputs.map((i) => deps.layers.resolve(i.kind === 'layers' ? i.layers : [], context.signal)))).flat() }),
      };
  }
}

/**
 * The solver's result cache over the SQLite cache records. Only layer stacks are stored (directories
 * are cheap to recompute); a record whose blobs are gone and cannot be fetched, or whose lazy
 * layer's snapshot is gone, counts as a miss. A hit needs no blob of a lazy layer.
 */
export class LayerResultCache implements ResultCache<FsResult> {
  constructor(
    private readonly records: CacheRecords,
    private readonly blobs: ContentStore,
    private readonly layers: LayerStore,
    private readonly links?: CacheKeyLinks | undefined,
  ) {}

  linked(selectionKey: Digest): Promise<SelectedContent | undefined> {
    return Promise.resolve(this.links?.get(selectionKey));
  }

  link(selectionKey: Digest, content: SelectedContent): Promise<void> {
    this.links?.put(selectionKey, content.digest, content.files);
    return Promise.resolve();
  }

  async load(key: Digest): Promise<FsResult | undefined> {
    const row = this.records.get(key);
    if (row === undefined) return undefined;
    for (const layer of row.result.layers) {
      if (!isLazyLayer(layer) && layer.source === undefined && !(await this.blobs.has(layer.digest))) return undefined;
    }
    if (!(await this.layers.available(row.result.layers))) return undefined;
    return { kind: 'layers', layers: row.result.layers };
  }

  save(key: Digest, node: SolveNode, result: FsResult, preimage: unknown): Promise<void> {
    if (result.kind === 'layers') this.records.put(key, node.name, { layers: [...result.layers] }, preimage);
    return Promise.resolve();
  }
}
