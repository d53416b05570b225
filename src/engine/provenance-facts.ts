/**
 * The facts of one build for its provenance (attest/provenance.ts): gathered here, from what the
 * build already holds (its options, plan, base images, downloads), so that nothing new is threaded
 * through the solver. Secret and ssh values are not facts: only the ids the plan's mounts name.
 */
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import type { GitSource, ProvenanceFacts, ProvenanceMountId, ProvenanceStep } from '../attest/index.js';
import type { Platform } from '../core/index.js';
import type { NamedContextSpec } from '../dockerfile/index.js';
import type { ResolvedBaseImage } from '../ops/index.js';
import type { Vertex, VertexId } from '../plan/index.js';

export interface ProvenanceFactsInput {
  readonly buildId: string;
  readonly startedOn: Date;
  readonly finishedOn: Date;
  readonly builderPlatform: Platform;
  readonly contextDir: string;
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly labels: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly noCache: boolean;
  readonly noCacheFilter: readonly string[];
  readonly network: 'default' | 'none' | 'host';
  readonly exec?: {
    readonly extraHosts?: readonly { readonly host: string; readonly ip: string }[] | undefined;
    readonly shmSize?: number | undefined;
    readonly ulimits?: readonly { readonly name: string; readonly soft: number; readonly hard: number }[] | undefined;
  } | undefined;
  readonly namedContexts?: ReadonlyMap<string, NamedContextSpec> | undefined;
  /** The plan's vertices and the target's root. */
  readonly vertices: readonly Vertex[];
  readonly root: VertexId;
  readonly images: readonly ResolvedBaseImage[];
  readonly downloads: readonly { readonly url: string; readonly digest: string }[];
  readonly git: GitSource | undefined;
  /** The build's SOURCE_DATE_EPOCH and its source (undefined: wall-clock times). */
  readonly sourceDateEpoch?: { readonly seconds: number; readonly source: string } | undefined;
  /** The layers a solved vertex produced (undefined when it was not solved, e.g. under a cached target). */
  readonly layers?: ((id: VertexId) => readonly { readonly mediaType: string; readonly digest: string; readonly size: number }[] | undefined) | undefined;
}

/** The Dockerfile's path as BuildKit's `filename`: relative to the context, else its file name. */
function dockerfilePath(contextDir: string, path: string): string {
  if (path === '<stdin>' || path === '-') return 'Dockerfile';
  const rel = relative(contextDir, resolve(path));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return basename(path);
  return rel.split(sep).join('/');
}

/** The vertices the target needs, dependencies first (depth-first, inputs in order). */
function targetVertices(vertices: readonly Vertex[], root: VertexId): Vertex[] {
  const byId = new Map(vertices.map((v) => [v.id, v]));
  const out: Vertex[] = [];
  const done = new Set<string>();
  const visit = (id: VertexId): void => {
    if (done.has(id)) return;
    done.add(id);
    const vertex = byId.get(id);
    if (vertex === undefined) return;
    for (const input of vertex.inputs) visit(input);
    out.push(vertex);
  };
  visit(root);
  return out;
}

/** BuildKit's frontend attributes for what the build was asked (`platform` and other host-specific ones left out, as BuildKit). */
function frontendArgs(input: ProvenanceFactsInput): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [key, value] of input.buildArgs) args[`build-arg:${key}`] = value;
  for (const [key, value] of input.labels) args[`label:${key}`] = value;
  if (input.target !== undefined && input.target !== '') args.target = input.target;
  if (input.noCache) args['no-cache'] = '';
  else if (input.noCacheFilter.length > 0) args['no-cache'] = input.noCacheFilter.join(',');
  if (input.network !== 'default') args['force-network-mode'] = input.network;
  const exec = input.exec;
  if (exec?.extraHosts !== undefined && exec.extraHosts.length > 0) args['add-hosts'] = exec.extraHosts.map((h) => `${h.host}=${h.ip}`).join(',');
  if (exec?.shmSize !== undefined) args['shm-size'] = String(exec.shmSize);
  if (exec?.ulimits !== undefined && exec.ulimits.length > 0) args.ulimit = exec.ulimits.map((u) => `${u.name}=${u.soft}:${u.hard}`).join(',');
  for (const [name, spec] of input.namedContexts ?? new Map<string, NamedContextSpec>()) {
    switch (spec.kind) {
      case 'local':
        args[`context:${name}`] = `local:${name}`;
        break;
      case 'image':
        args[`context:${name}`] = `docker-image://${spec.ref}`;
        break;
      case 'scratch':
        args[`context:${name}`] = 'scratch';
        break;
      case 'oci-layout':
        // The layout's directory is a path of this machine: named by tag and digest only.
        args[`context:${name}`] = `oci-layout://${name}${spec.tag === undefined ? '' : `:${spec.tag}`}${spec.digest === undefined ? '' : `@${spec.digest}`}`;
        break;
    }
  }
  return args;
}

/** The op as provenance shows it: proxy variables (which may carry credentials) left out, as from cache keys. */
function shownOp(vertex: Vertex): unknown {
  if (vertex.op.type !== 'exec') return vertex.op;
  const { proxyEnv: _proxy, ...op } = vertex.op;
  return op;
}

export function provenanceFacts(input: ProvenanceFactsInput): ProvenanceFacts {
  const vertices = targetVertices(input.vertices, input.root);
  const secrets: ProvenanceMountId[] = [];
  const ssh: ProvenanceMountId[] = [];
  let networkAccess = false;
  for (const vertex of vertices) {
    if (vertex.op.type !== 'exec') continue;
    if (vertex.op.network !== 'none') networkAccess = true;
    for (const mount of vertex.op.mounts) {
      if (mount.type === 'secret') secrets.push({ id: mount.id, optional: !mount.required });
      if (mount.type === 'ssh') ssh.push({ id: mount.id, optional: !mount.required });
    }
  }
  const locals = ['context', 'dockerfile'];
  for (const [name, spec] of input.namedContexts ?? new Map<string, NamedContextSpec>()) if (spec.kind === 'local') locals.push(name);
  const steps: ProvenanceStep[] = vertices.map((vertex) => ({
    id: vertex.id,
    op: shownOp(vertex),
    inputs: vertex.inputs,
    range: vertex.meta.location?.file === input.dockerfile.path ? vertex.meta.location.range : undefined,
    layers: input.layers?.(vertex.id)?.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
  }));
  const byUri = <T extends { readonly url?: string; readonly ref?: string; readonly digest: string }>(list: readonly T[]): T[] =>
    [...list].sort((a, b) => {
      const ka = `${a.url ?? a.ref ?? ''} ${a.digest}`;
      const kb = `${b.url ?? b.ref ?? ''} ${b.digest}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  return {
    invocationId: input.buildId,
    startedOn: input.startedOn,
    finishedOn: input.finishedOn,
    builderPlatform: input.builderPlatform,
    frontend: 'dockerfile.v0',
    dockerfile: { path: dockerfilePath(input.contextDir, input.dockerfile.path), text: input.dockerfile.text },
    git: input.git,
    ...(input.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: input.sourceDateEpoch }),
    args: frontendArgs(input),
    locals,
    secrets,
    ssh,
    images: byUri(input.images).map((image) => ({ ref: image.ref, platform: image.platform, digest: image.digest })),
    http: byUri(input.downloads),
    networkAccess,
    steps,
  };
}
