/**
 * Content-selected cache keys (BuildKit's content-based keys for file-op and mount selectors): a step
 * that reads part of another stage — `COPY --from=<stage> src… dst`, `RUN --mount=type=bind|cache,
 * from=<stage>,source=…` — is keyed by the content of what it reads there (file/select.ts), not by
 * the stage's key, so a change in the stage that leaves those files as they were keeps the step and
 * everything after it cached. The solver asks for it once the stage is solved (`Op.selectedContent`).
 */
import { MAX_LISTED_FILES, contentDigests, type ContentLine } from '../cache/index.js';
import { canonicalJson } from '../core/index.js';
import type { ExecOp, FileOp, Op as PlanOp } from '../plan/index.js';
import type { SelectedContent } from '../solver/index.js';
import { Limiter } from '../util/limiter.js';
import { selectContent, type Selector } from './file/select.js';
import type { LayerStore } from './layers.js';
import type { FsResult } from './result.js';

/** Version of the selection digest; part of every content-selected key. */
export const SELECTION_VERSION = 1;

/**
 * Whether a step reading part of a vertex with this op is keyed by the content it reads. Sources
 * already keyed by their content (the build context, downloads, scratch, inline documents) keep
 * their own key: reading them before the step needs them would gain nothing.
 */
export function keyedByContent(op: PlanOp | undefined): boolean {
  if (op === undefined) return false;
  switch (op.type) {
    case 'image':
    case 'exec':
    case 'merge':
      return true;
    case 'file':
      return op.actions.some((action) => action.action !== 'mkfile');
    case 'context':
    case 'http':
    case 'scratch':
      return false;
  }
}

/** What a file op reads of each input (its copy actions), by input index. */
export function fileSelectors(op: FileOp): Map<number, Selector[]> {
  const out = new Map<number, Selector[]>();
  for (const action of op.actions) {
    if (action.action !== 'copy' || action.input === 0) continue;
    const list = out.get(action.input) ?? [];
    list.push({ sources: action.sources, excludes: action.excludes, parents: action.parents, literal: false });
    out.set(action.input, list);
  }
  return out;
}

/** What an exec op reads of each input other than its rootfs (its bind and cache mount sources). */
export function execSelectors(op: ExecOp): Map<number, Selector[]> {
  const out = new Map<number, Selector[]>();
  for (const mount of op.mounts) {
    const input = mount.type === 'bind' || mount.type === 'cache' ? mount.input : undefined;
    if (input === undefined || input === 0 || (mount.type !== 'bind' && mount.type !== 'cache')) continue;
    const list = out.get(input) ?? [];
    list.push({ sources: [mount.source], excludes: [], parents: false, literal: true });
    out.set(input, list);
  }
  return out;
}

/**
 * Reads selections from solved results, memoised per (result, selectors): a stage several steps read
 * the same files of is read once per build.
 */
export class SelectionReader {
  readonly #memo = new WeakMap<FsResult, Map<string, Promise<SelectedContent>>>();
  readonly #hashLimit = new Limiter(8);

  constructor(private readonly layers: LayerStore) {}

  read(result: FsResult, selectors: readonly Selector[], signal: AbortSignal): Promise<SelectedContent> {
    let byResult = this.#memo.get(result);
    if (byResult === undefined) {
      byResult = new Map();
      this.#memo.set(result, byResult);
    }
    const id = canonicalJson(selectors);
    let pending = byResult.get(id);
    if (pending === undefined) {
      pending = this.#read(result, selectors, signal);
      byResult.set(id, pending);
      // A failed or aborted read is not remembered.
      pending.catch(() => byResult.delete(id));
    }
    return pending;
  }

  async #read(result: FsResult, selectors: readonly Selector[], signal: AbortSignal): Promise<SelectedContent> {
    const lines = async (root: string): Promise<ContentLine[]> => {
      const out: ContentLine[] = [];
      for (const selector of selectors) out.push(...(await selectContent(root, selector, this.#hashLimit, signal)));
      return out;
    };
    let entries: ContentLine[];
    if (result.kind === 'dir') {
      entries = await lines(result.path);
    } else {
      const view = await this.layers.view(result.layers, signal);
      try {
        entries = await lines(view.path);
      } finally {
        await view[Symbol.asyncDispose]();
      }
    }
    const { digest, files } = contentDigests({ v: SELECTION_VERSION, selection: selectors }, entries, MAX_LISTED_FILES);
    return { digest, ...(files !== undefined ? { files } : {}) };
  }
}
