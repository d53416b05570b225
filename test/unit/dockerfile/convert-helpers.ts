import { parsePlatform, type Platform } from '../../../src/core/index.js';
import { ShellLex, convertDockerfile, loadDockerfile, parseTriggerCommands, type ConvertResult } from '../../../src/dockerfile/index.js';
import type { ContainerConfig, ImageConfig } from '../../../src/oci/index.js';
import type { ExecOp, FileOp, Vertex } from '../../../src/plan/index.js';

export const AMD64 = parsePlatform('linux/amd64');

export function baseImage(overrides: Partial<ContainerConfig> = {}, onBuild?: string[]): ImageConfig {
  return {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'BASEVAR=base'], Cmd: ['sh'], ...overrides, ...(onBuild !== undefined ? { OnBuild: onBuild } : {}) },
    history: [{ created: '2020-01-01T00:00:00Z', created_by: 'base layer' }],
  };
}

export async function convert(text: string, options: { buildArgs?: Record<string, string>; target?: string; images?: Record<string, ImageConfig>; platform?: Platform } = {}): Promise<ConvertResult> {
  const parsed = loadDockerfile(text, 'Dockerfile');
  return convertDockerfile(parsed, {
    lex: new ShellLex({ escapeToken: parsed.escapeToken }),
    buildArgs: new Map(Object.entries(options.buildArgs ?? {})),
    target: options.target,
    buildPlatform: AMD64,
    targetPlatform: options.platform ?? AMD64,
    resolveImage: (ref) => {
      const image = options.images?.[ref] ?? baseImage();
      return Promise.resolve({ ref: `${ref}@sha256:${'0'.repeat(64)}`, image });
    },
    parseTriggers: (text) => parseTriggerCommands(text, 'ONBUILD'),
  });
}

export function vertex(result: ConvertResult, id: string): Vertex {
  const found = result.plan.vertices.find((v) => v.id === id);
  if (found === undefined) throw new Error(`no vertex ${id}`);
  return found;
}

/** The ops of one stage's chain, from its base to its root (following input 0). */
export function chain(result: ConvertResult, stageIndex: number): Vertex[] {
  const stage = result.stages.get(stageIndex);
  if (stage === undefined) throw new Error(`stage ${stageIndex} not converted`);
  const out: Vertex[] = [];
  let current: Vertex | undefined = vertex(result, stage.root);
  while (current !== undefined) {
    out.unshift(current);
    const next: string | undefined = current.op.type === 'merge' || current.op.type === 'exec' || current.op.type === 'file' ? current.inputs[0] : undefined;
    current = next === undefined ? undefined : vertex(result, next);
  }
  return out;
}

export function execs(result: ConvertResult, stageIndex: number): ExecOp[] {
  return chain(result, stageIndex).flatMap((v) => (v.op.type === 'exec' ? [v.op] : []));
}

export function files(result: ConvertResult, stageIndex: number): FileOp[] {
  return chain(result, stageIndex).flatMap((v) => (v.op.type === 'file' ? [v.op] : []));
}
