/** The file op: COPY/ADD/WORKDIR actions on a writable snapshot of input 0, committed as a layer. */
import type { FileOp } from '../plan/index.js';
import type { ExecuteContext } from '../solver/index.js';
import type { Snapshotter } from '../snapshot/index.js';
import { Disposer } from '../util/disposer.js';
import { applyFileActions } from './file/index.js';
import type { LayerStore } from './layers.js';
import type { FsResult, SourceCheck } from './result.js';

export interface FileDeps {
  readonly snapshotter: Snapshotter;
  readonly layers: LayerStore;
}

export async function runFile(op: FileOp, inputs: readonly FsResult[], deps: FileDeps, context: ExecuteContext): Promise<FsResult> {
  const { signal } = context;
  const dest = inputs[0];
  if (dest === undefined || dest.kind !== 'layers') throw new Error('file: input 0 must be a layer stack');
  const disposer = new Disposer();
  try {
    const parent = await deps.layers.materialize(dest.layers, signal);
    const mutable = disposer.use(await deps.snapshotter.prepare(parent, 'file', signal));
    const rootfs = disposer.use(await mutable.mount(undefined, signal));
    const roots = new Map<number, string>();
    const hostInputs = new Set<number>();
    const checks = new Map<number, SourceCheck>();
    for (let i = 1; i < inputs.length; i++) {
      const input = inputs[i];
      if (input === undefined) continue;
      if (input.kind === 'dir') {
        roots.set(i, input.path);
        hostInputs.add(i);
        if (input.check !== undefined) checks.set(i, input.check);
        continue;
      }
      roots.set(i, disposer.use(await deps.layers.view(input.layers, signal)).path);
    }
    await applyFileActions(op.actions, { dest: rootfs.path, inputs: roots, hostInputs, checks }, { signal });
    await rootfs[Symbol.asyncDispose]();
    const layer = await deps.layers.commit(mutable, signal);
    return { kind: 'layers', layers: [...dest.layers, layer] };
  } finally {
    await disposer.dispose();
  }
}
