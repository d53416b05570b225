/**
 * A generic DAG evaluator (DESIGN.md `solver/`): it knows vertices, inputs, cache keys and results,
 * nothing of images or containers. Two phases, like BuildKit's: every needed vertex first gets a
 * cache key from its op and its inputs' keys; then the roots are evaluated, and a vertex whose key
 * is in the cache is not run — nor are its inputs materialised, unless another miss needs them.
 * Independent vertices run in parallel (exec-class ops limited to `execConcurrency`), identical
 * vertices once, and the first failure cancels the rest.
 */
import { StagecraftError, canonicalJson, sha256Digest, type Digest } from '../core/index.js';
import type { EventSink } from '../events/index.js';
import { Limiter } from '../util/limiter.js';

export interface SolveNode {
  readonly id: string;
  readonly inputs: readonly string[];
  readonly name: string;
  readonly stage?: string | undefined;
  /** Run even when the key is cached. */
  readonly ignoreCache?: boolean | undefined;
}

export interface CacheKey {
  readonly key: Digest;
  /** What the key was computed from, kept so a later miss can be explained (STYLE rule 7). */
  readonly preimage: unknown;
  /**
   * For a vertex with content-selected inputs: the digest of what it selects from each, by input
   * index. Present only when this build computed it (not when the key came from a recorded link).
   */
  readonly selected?: ReadonlyMap<number, Digest> | undefined;
  /** For a vertex with content-selected inputs: `[selection key, content digest]` per content input (links to export). */
  readonly links?: readonly (readonly [Digest, Digest])[] | undefined;
}

/** What an op reads of one input's result: a digest over it and, when small enough, each file's digest. */
export interface SelectedContent {
  readonly digest: Digest;
  /** `[path, digest]` per selected entry, sorted (absent when too many to keep in a preimage). */
  readonly files?: readonly (readonly [string, string])[] | undefined;
}

export interface ExecuteContext {
  readonly signal: AbortSignal;
  log(stream: 'stdout' | 'stderr', data: string): void;
  progress(id: string, current: number, total?: number): void;
}

/** How one vertex is keyed and run; implemented in ops/. */
export interface Op<R> {
  /** 'exec' ops share the exec slots; 'io' ops (sources, copies) are only bounded by their resource. */
  readonly resource: 'exec' | 'io';
  /**
   * The op's own part of the cache key, given its inputs' keys. May do I/O (resolve an image
   * digest, hash context files) but must not run the op.
   */
  cacheKey(inputKeys: readonly Digest[], signal: AbortSignal): Promise<unknown>;
  /** Runs the op on its inputs' results. */
  execute(inputs: readonly R[], context: ExecuteContext): Promise<R>;
  /**
   * Inputs the op reads only in part (COPY --from, RUN --mount=from): their share of the key is the
   * content the op selects from their result, not their key (BuildKit's content-based cache keys),
   * so a change of such an input that leaves the selected files as they were keeps this vertex and
   * everything after it cached. Index 0 is never one. Needs `selectedContent`.
   */
  readonly contentInputs?: readonly number[] | undefined;
  /** What the op selects of input `index` (canonical JSON): with that input's key, it names the selection's digest. */
  contentSelector?(index: number): unknown;
  /** The content the op selects from input `index`'s result (read-only; called after that input is solved). */
  selectedContent?(index: number, input: R, signal: AbortSignal): Promise<SelectedContent>;
}

/** Results by cache key. `load` returns undefined on a miss. */
export interface ResultCache<R> {
  load(key: Digest, node: SolveNode, signal: AbortSignal): Promise<R | undefined>;
  save(key: Digest, node: SolveNode, result: R, preimage: unknown): Promise<void>;
  /**
   * The content digest recorded for a selection key (what an op selects of an input, and that input's
   * key): an equal key means an equal result, so the selected content is the same and need not be
   * read again. Absent: every selection is read.
   */
  linked?(selectionKey: Digest): Promise<SelectedContent | undefined>;
  link?(selectionKey: Digest, content: SelectedContent): Promise<void>;
}

export interface SolveOptions<R> {
  readonly nodes: ReadonlyMap<string, SolveNode>;
  readonly roots: readonly string[];
  readonly opFor: (node: SolveNode) => Op<R>;
  readonly cache: ResultCache<R>;
  readonly events: EventSink;
  readonly signal?: AbortSignal | undefined;
  /** Exec-class vertices running at once; default 2. */
  readonly execConcurrency?: number | undefined;
  /** Why a key missed, for the progress stream (`cache.miss` events). */
  readonly explainMiss?: ((node: SolveNode, key: CacheKey, inputs: readonly { readonly node: SolveNode; readonly key: CacheKey }[]) => readonly string[]) | undefined;
  /**
   * Why a vertex whose inputs' keys changed was still cached: its key was computed from the content it
   * selects (`key.selected`), which had not changed. Goes into the `vertex.cached` event.
   */
  readonly explainHit?: ((node: SolveNode, key: CacheKey, inputs: readonly SolveNode[]) => string | undefined) | undefined;
  readonly clock?: (() => number) | undefined;
}

export interface SolveResult<R> {
  readonly results: ReadonlyMap<string, R>;
  readonly keys: ReadonlyMap<string, CacheKey>;
  readonly executed: number;
  readonly cached: number;
}

/** Version of the key derivation; bump when it changes so old cache records never match. */
export const CACHE_KEY_VERSION = 1;

/** A failure of one vertex, naming it. */
export class VertexError extends Error {
  constructor(readonly node: SolveNode, readonly error: unknown) {
    super(`${node.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export async function solve<R>(options: SolveOptions<R>): Promise<SolveResult<R>> {
  const { nodes, events } = options;
  const now = options.clock ?? Date.now;
  const controller = new AbortController();
  const outer = options.signal;
  const onOuterAbort = (): void => controller.abort(outer?.reason);
  if (outer?.aborted === true) controller.abort(outer.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const signal = controller.signal;
  const execSlots = new Limiter(options.execConcurrency ?? 2);
  const started = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    started.add(promise);
    promise.then(() => started.delete(promise), () => started.delete(promise));
    return promise;
  };
  const failures: unknown[] = [];
  const fail = (error: unknown): void => {
    if (failures.length === 0) controller.abort(error);
    failures.push(error);
  };

  const node = (id: string): SolveNode => {
    const found = nodes.get(id);
    if (found === undefined) throw new Error(`solver: unknown vertex ${id}`);
    return found;
  };

  const keys = new Map<string, Promise<CacheKey>>();
  const keyOf = (id: string): Promise<CacheKey> => {
    let pending = keys.get(id);
    if (pending === undefined) {
      const n = node(id);
      pending = track((async () => {
        const op = options.opFor(n);
        const contentInputs = op.selectedContent === undefined ? [] : [...new Set(op.contentInputs ?? [])].filter((i) => i > 0 && i < n.inputs.length).sort((a, b) => a - b);
        // Content inputs are read as soon as their own keys are known, in parallel with the other
        // inputs' keys (a chain of COPY --from steps must not solve its stages one after another).
        const selections = contentInputs.map((index) => selectionOf(n, op, index));
        // Awaited below; until then (or if computing the other keys fails first) a failed read must
        // not be an unhandled rejection, which would end the process.
        for (const selection of selections) selection.catch(() => undefined);
        const inputKeys = await Promise.all(n.inputs.map((input) => keyOf(input)));
        const own = await op.cacheKey(inputKeys.map((k) => k.key), signal);
        const preimage = { v: CACHE_KEY_VERSION, op: own, inputs: inputKeys.map((k) => k.key) };
        if (contentInputs.length === 0) return { key: sha256Digest(canonicalJson(preimage)), preimage };
        return contentKey(preimage, contentInputs, await Promise.all(selections));
      })());
      keys.set(id, pending);
    }
    return pending;
  };

  /**
   * What `op` selects of input `index`: the digest recorded for (selector, the input's key), else
   * (or when the input re-runs regardless of the cache, so its result may differ from the one the
   * record was made from) read from the input's result once it is solved, and recorded.
   */
  const selectionOf = async (n: SolveNode, op: Op<R>, index: number): Promise<{ index: number; content: SelectedContent; link: readonly [Digest, Digest]; read: boolean }> => {
    const inputId = n.inputs[index] ?? '';
    const inputKey = await keyOf(inputId);
    const selectionKey = sha256Digest(canonicalJson({ v: CACHE_KEY_VERSION, selection: op.contentSelector?.(index) ?? null, from: inputKey.key }));
    if (!forced(inputId)) {
      const linked = await options.cache.linked?.(selectionKey);
      if (linked !== undefined) return { index, content: linked, link: [selectionKey, linked.digest], read: false };
    }
    const input = await resultOf(inputId);
    let content: SelectedContent;
    try {
      content = await (op.selectedContent?.(index, input, signal) ?? Promise.reject(new Error('solver: selectedContent missing')));
    } catch (error) {
      if (signal.aborted && error === signal.reason) throw error;
      // Named as the step that reads the files: reading them is part of it.
      throw new VertexError(n, error);
    }
    await options.cache.link?.(selectionKey, content);
    return { index, content, link: [selectionKey, content.digest], read: true };
  };

  /** The key of a vertex with content inputs: their selections' digests in place of their keys. */
  const contentKey = (definition: { v: number; op: unknown; inputs: Digest[] }, contentInputs: readonly number[], selected: readonly { index: number; content: SelectedContent; link: readonly [Digest, Digest]; read: boolean }[]): CacheKey => {
    const inputs = [...definition.inputs];
    for (const { index, content } of selected) inputs[index] = content.digest;
    const keyed = { ...definition, inputs, content: contentInputs };
    const preimage = { ...keyed, selected: selected.map(({ index, content }) => ({ input: index, digest: content.digest, ...(content.files !== undefined ? { files: content.files } : {}) })) };
    const read = selected.filter((s) => s.read);
    return {
      key: sha256Digest(canonicalJson(keyed)),
      preimage,
      // Only selections read in this build: their inputs changed, so a hit is thanks to the content.
      ...(read.length > 0 ? { selected: new Map(read.map(({ index, content }) => [index, content.digest])) } : {}),
      links: selected.map((s) => s.link),
    };
  };

  // A vertex that ignores the cache forces everything built on it to run too (else a cached
  // descendant would hide it: results are loaded without materialising inputs).
  const forcedMemo = new Map<string, boolean>();
  const forced = (id: string): boolean => {
    // Iterative post-order: a vertex is decided after all its inputs.
    const stack: { id: string; expanded: boolean }[] = [{ id, expanded: false }];
    while (stack.length > 0) {
      const frame = stack.pop();
      if (frame === undefined || forcedMemo.has(frame.id)) continue;
      const n = node(frame.id);
      if (frame.expanded) {
        forcedMemo.set(frame.id, n.ignoreCache === true || n.inputs.some((input) => forcedMemo.get(input) === true));
        continue;
      }
      stack.push({ id: frame.id, expanded: true });
      for (const input of n.inputs) if (!forcedMemo.has(input)) stack.push({ id: input, expanded: false });
    }
    return forcedMemo.get(id) ?? false;
  };

  let executed = 0;
  let cached = 0;
  const results = new Map<string, Promise<R>>();
  const resultOf = (id: string): Promise<R> => {
    let pending = results.get(id);
    if (pending === undefined) {
      const n = node(id);
      pending = track((async () => {
        const key = await keyOf(id);
        signal.throwIfAborted();
        let reasons: readonly string[] | undefined;
        if (!forced(id)) {
          const hit = await options.cache.load(key.key, n, signal);
          if (hit !== undefined) {
            cached++;
            const reason = key.selected === undefined ? undefined : options.explainHit?.(n, key, n.inputs.map((input) => node(input)));
            events.emit({ type: 'vertex.cached', vertex: n.id, time: now(), name: n.name, stage: n.stage, cacheKey: key.key, ...(reason !== undefined ? { reason } : {}) });
            return hit;
          }
          reasons = options.explainMiss === undefined
            ? undefined
            : options.explainMiss(n, key, await Promise.all(n.inputs.map(async (input) => ({ node: node(input), key: await keyOf(input) }))));
        }
        const inputs = await Promise.all(n.inputs.map((input) => resultOf(input)));
        const op = options.opFor(n);
        const release = op.resource === 'exec' ? await execSlots.acquire(signal) : () => undefined;
        const start = now();
        try {
          signal.throwIfAborted();
          events.emit({ type: 'vertex.started', vertex: n.id, time: start, name: n.name, stage: n.stage, inputs: n.inputs, cacheKey: key.key });
          if (reasons !== undefined && reasons.length > 0) events.emit({ type: 'cache.miss', vertex: n.id, time: now(), key: key.key, reasons });
          const result = await op.execute(inputs, {
            signal,
            log: (stream, data) => events.emit({ type: 'vertex.log', vertex: n.id, time: now(), stream, data }),
            progress: (progressId, current, total) => events.emit({ type: 'vertex.progress', vertex: n.id, time: now(), id: progressId, current, total }),
          });
          await options.cache.save(key.key, n, result, key.preimage);
          executed++;
          events.emit({ type: 'vertex.completed', vertex: n.id, time: now(), durationMs: now() - start });
          return result;
        } catch (error) {
          if (signal.aborted && error === signal.reason) {
            events.emit({ type: 'vertex.canceled', vertex: n.id, time: now() });
            throw error;
          }
          const wrapped = error instanceof VertexError ? error : new VertexError(n, error);
          events.emit({ type: 'vertex.failed', vertex: n.id, time: now(), error: wrapped.message, durationMs: now() - start });
          fail(wrapped);
          throw wrapped;
        } finally {
          release();
        }
      })());
      results.set(id, pending);
    }
    return pending;
  };

  try {
    const rootResults = await Promise.allSettled(options.roots.map((root) => resultOf(root).catch((error: unknown) => { fail(error); throw error; })));
    // Every started promise settles before we return (STYLE rule 5).
    while (started.size > 0) await Promise.allSettled([...started]);
    if (failures.length > 0) throw failures[0];
    const failed = rootResults.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      const reason: unknown = failed.reason;
      throw reason;
    }
    const settled = new Map<string, R>();
    for (const [id, promise] of results) settled.set(id, await promise);
    const settledKeys = new Map<string, CacheKey>();
    for (const [id, promise] of keys) {
      const key = await promise;
      settledKeys.set(id, key);
      // A content-keyed vertex that was never needed: a step after it was cached, so its key (made
      // from the files it selects, although the inputs' keys changed) is one an earlier build had.
      if (key.selected !== undefined && !results.has(id)) {
        const n = node(id);
        const reason = options.explainHit?.(n, key, n.inputs.map((input) => node(input)));
        events.emit({ type: 'vertex.cached', vertex: n.id, time: now(), name: n.name, stage: n.stage, cacheKey: key.key, ...(reason !== undefined ? { reason } : {}) });
      }
    }
    return { results: settled, keys: settledKeys, executed, cached };
  } catch (error) {
    if (outer?.aborted === true && !(error instanceof VertexError)) {
      throw new StagecraftError('ABORTED', 'the build was interrupted', { cause: outer.reason });
    }
    throw error;
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
}
