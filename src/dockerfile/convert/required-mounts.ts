/**
 * The secrets and ssh agents a target's RUN steps require (`--mount=type=secret,required=true`,
 * `--mount=type=ssh,required=true`; both are optional by default, as in BuildKit), so a build can
 * refuse a missing one before it resolves a base image or runs a step.
 *
 * - `requiredMountsOfDockerfile`: from the Dockerfile alone (no base image is resolved). Mounts
 *   whose values use variables are skipped: their ids are known only after convert.
 * - `requiredMountsOfPlan`: from the converted plan (expanded ids, ONBUILD triggers included).
 */
import type { SourceLocation } from '../../core/index.js';
import { parseMount, secretMountId, sshMountId, type ParsedDockerfile } from '../instructions/index.js';
import type { Plan } from '../../plan/index.js';
import { buildStageGraph, type StageGraphOptions } from './stage-graph.js';

export interface RequiredMount {
  readonly type: 'secret' | 'ssh';
  readonly id: string;
  /** The RUN instruction that mounts it. */
  readonly location?: SourceLocation | undefined;
}

export function requiredMountsOfDockerfile(parsed: ParsedDockerfile, options: StageGraphOptions): RequiredMount[] {
  const graph = buildStageGraph(parsed, options);
  const out: RequiredMount[] = [];
  for (const index of graph.needed) {
    for (const command of graph.stages[index]?.stage.commands ?? []) {
      if (command.kind !== 'run') continue;
      for (const spec of command.mountSpecs) {
        if (spec.includes('$')) continue;
        let mount;
        try {
          mount = parseMount(spec);
        } catch {
          continue; // convert reports it, at its line
        }
        if (!mount.required || (mount.type !== 'secret' && mount.type !== 'ssh')) continue;
        const id = mount.type === 'secret' ? secretMountId(mount) : sshMountId(mount);
        if (id !== undefined) out.push({ type: mount.type, id, location: { file: parsed.file, range: command.range } });
      }
    }
  }
  return out;
}

export function requiredMountsOfPlan(plan: Plan): RequiredMount[] {
  const out: RequiredMount[] = [];
  for (const vertex of plan.vertices) {
    if (vertex.op.type !== 'exec') continue;
    for (const mount of vertex.op.mounts) {
      if ((mount.type === 'secret' || mount.type === 'ssh') && mount.required) out.push({ type: mount.type, id: mount.id, location: vertex.meta.location });
    }
  }
  return out;
}
