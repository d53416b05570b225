import { canonicalJson, sha256Digest } from '../core/index.js';
import type { Op, Vertex, VertexId, VertexMeta } from './types.js';

/** Bumped whenever the meaning of an op's serialization changes, so old ids never collide. */
export const PLAN_VERSION = 1;

/** The id of an op with these inputs: what identifies the work, not how it is displayed. */
export function vertexId(op: Op, inputs: readonly VertexId[]): VertexId {
  return sha256Digest(canonicalJson({ v: PLAN_VERSION, op, inputs }));
}

/**
 * Collects vertices; adding the same op with the same inputs twice returns the existing vertex (its
 * first meta wins), so identical work in different stages is planned once.
 */
export class PlanBuilder {
  readonly #vertices = new Map<VertexId, Vertex>();

  add(op: Op, inputs: readonly VertexId[], meta: VertexMeta): VertexId {
    const id = vertexId(op, inputs);
    if (!this.#vertices.has(id)) {
      for (const input of inputs) {
        if (!this.#vertices.has(input)) throw new Error(`plan: input ${input} of ${meta.name} is not in the plan`);
      }
      this.#vertices.set(id, Object.freeze({ id, op, inputs: Object.freeze([...inputs]), meta }));
    }
    return id;
  }

  get(id: VertexId): Vertex | undefined {
    return this.#vertices.get(id);
  }

  /** The vertices reachable from `roots`, inputs before the vertices that use them. */
  build(roots: readonly VertexId[]): Plan {
    const ordered: Vertex[] = [];
    const seen = new Set<VertexId>();
    const stack: { id: VertexId; expanded: boolean }[] = roots.map((id) => ({ id, expanded: false })).reverse();
    while (stack.length > 0) {
      const item = stack.pop();
      if (item === undefined) break;
      const vertex = this.#vertices.get(item.id);
      if (vertex === undefined) throw new Error(`plan: unknown root ${item.id}`);
      if (item.expanded) {
        if (!seen.has(item.id)) {
          seen.add(item.id);
          ordered.push(vertex);
        }
        continue;
      }
      if (seen.has(item.id)) continue;
      stack.push({ id: item.id, expanded: true });
      for (let i = vertex.inputs.length - 1; i >= 0; i--) {
        const input = vertex.inputs[i];
        if (input !== undefined && !seen.has(input)) stack.push({ id: input, expanded: false });
      }
    }
    return { vertices: ordered, roots: [...roots] };
  }
}

export interface Plan {
  /** Topologically ordered: every vertex after its inputs. */
  readonly vertices: readonly Vertex[];
  readonly roots: readonly VertexId[];
}
