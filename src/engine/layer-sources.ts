/**
 * The Dockerfile instruction that made each layer of a built image, for the secret scan's findings
 * (`scanImageSecrets({ sources })`): a RUN/COPY/ADD step's own layer is the last of its result, a base
 * image's layers come from its FROM. Read from the plan's vertices and the layers the solve produced.
 */
import type { Digest } from '../core/index.js';
import type { Vertex } from '../plan/index.js';
import type { InstructionSource } from '../scan/index.js';

/** `[build 2/4] RUN make` → `RUN make`. */
function instruction(name: string): string {
  return name.replace(/^\[[^\]]*\]\s*/u, '');
}

/**
 * Per layer of `layers` (the image's, in manifest order): the instruction that made it, or undefined.
 * `vertexLayers` maps a vertex id to the layers of its result (BuildResult's `vertexLayers`).
 */
export function layerSources(
  layers: readonly { readonly diffId: Digest }[],
  vertexLayers: ReadonlyMap<string, readonly { readonly diffId: Digest }[]>,
  vertices: ReadonlyMap<string, Vertex>,
): (InstructionSource | undefined)[] {
  const byLayer = new Map<Digest, InstructionSource>();
  const note = (diffId: Digest, vertex: Vertex): void => {
    const location = vertex.meta.location;
    if (location === undefined || byLayer.has(diffId)) return;
    byLayer.set(diffId, { file: location.file, line: location.range.start.line, instruction: instruction(vertex.meta.name) });
  };
  // Steps first: a step's own layer wins over a base image holding the same bytes.
  for (const pass of ['step', 'base'] as const) {
    for (const [id, result] of vertexLayers) {
      const vertex = vertices.get(id);
      if (vertex === undefined) continue;
      const type = vertex.op.type;
      if (pass === 'step' && (type === 'exec' || type === 'file')) {
        // A step that changed nothing adds no layer: its result's last is its input's.
        const input = vertex.inputs[0] === undefined ? undefined : vertexLayers.get(vertex.inputs[0]);
        const own = result.at(-1);
        if (own !== undefined && (input === undefined || result.length > input.length)) note(own.diffId, vertex);
      } else if (pass === 'base' && type === 'image') {
        for (const layer of result) note(layer.diffId, vertex);
      }
    }
  }
  return layers.map((layer) => byLayer.get(layer.diffId));
}
