/**
 * What a `mode=max` provenance predicate (SLSA v1 or v0.2, BuildKit's metadata) tells the secret scan:
 * the Dockerfile it was built from (`source.infos[].data`, base64: scanned as text, since an `ENV` or
 * `ARG` default in it is a secret in the image's attestation), and which Dockerfile line made each
 * layer (`layers` maps `stepN:0` to the step's layer chain, `source.locations` maps `stepN` to its
 * lines). A predicate without these (mode=min, another builder's) yields nothing; a malformed one too.
 */
import { z } from 'zod';

const position = z.object({ line: z.number().int().nonnegative() });
const buildkitMetadata = z.looseObject({
  source: z.looseObject({
    infos: z.array(z.looseObject({ filename: z.string(), data: z.string().optional() })).optional(),
    locations: z.record(z.string(), z.looseObject({ locations: z.array(z.looseObject({ sourceIndex: z.number().int().nonnegative().optional(), ranges: z.array(z.looseObject({ start: position, end: position })) })) })).optional(),
  }).optional(),
  layers: z.record(z.string(), z.array(z.array(z.looseObject({ digest: z.string() })))).optional(),
});
const v1 = z.looseObject({ runDetails: z.looseObject({ metadata: z.looseObject({ buildkit_metadata: buildkitMetadata }) }) });
const v02 = z.looseObject({ metadata: z.looseObject({ 'https://mobyproject.org/buildkit@v1#metadata': buildkitMetadata }) });

type BuildkitMetadata = z.infer<typeof buildkitMetadata>;

function metadataOf(predicate: unknown): BuildkitMetadata | undefined {
  const one = v1.safeParse(predicate);
  if (one.success) return one.data.runDetails.metadata.buildkit_metadata;
  const old = v02.safeParse(predicate);
  return old.success ? old.data.metadata['https://mobyproject.org/buildkit@v1#metadata'] : undefined;
}

/** Largest Dockerfile decoded from a predicate. */
const MAX_DOCKERFILE_BYTES = 4 << 20;

export interface ProvenanceDockerfile {
  readonly filename: string;
  readonly text: string;
  /** Its JSON path in the predicate (the finding's path). */
  readonly path: string;
}

/** The Dockerfiles the predicate carries, decoded. */
export function provenanceDockerfiles(predicate: unknown): ProvenanceDockerfile[] {
  const metadata = metadataOf(predicate);
  const infos = metadata?.source?.infos ?? [];
  const base = v1.safeParse(predicate).success ? 'provenance.runDetails.metadata.buildkit_metadata' : 'provenance.metadata."https://mobyproject.org/buildkit@v1#metadata"';
  const out: ProvenanceDockerfile[] = [];
  for (const [i, info] of infos.entries()) {
    if (info.data === undefined || info.data.length > (MAX_DOCKERFILE_BYTES / 3) * 4 + 4) continue;
    out.push({ filename: info.filename, text: Buffer.from(info.data, 'base64').toString('utf8'), path: `${base}.source.infos[${i}].data` });
  }
  return out;
}

export interface ProvenanceSource {
  readonly file: string;
  readonly line: number;
  readonly instruction?: string | undefined;
}

/**
 * Per layer (matched by blob digest or diff ID): the Dockerfile line of the step that made it. A
 * step's chain is its whole filesystem; the layers it added are those no step with a shorter chain
 * holds (a FROM's chain is the base image's layers, a RUN's adds one).
 */
export function provenanceLayerSources(predicate: unknown, layers: readonly { readonly digest: string; readonly diffId?: string | undefined }[]): (ProvenanceSource | undefined)[] {
  const metadata = metadataOf(predicate);
  const chains = metadata?.layers;
  const locations = metadata?.source?.locations;
  if (chains === undefined || locations === undefined) return layers.map(() => undefined);
  const dockerfiles = provenanceDockerfiles(predicate);
  const infos = metadata?.source?.infos ?? [];
  const steps = Object.entries(chains)
    .map(([key, value]) => ({ step: key.replace(/:\d+$/u, ''), chain: (value[0] ?? []).map((l) => l.digest) }))
    .sort((a, b) => a.chain.length - b.chain.length || a.step.localeCompare(b.step, 'en', { numeric: true }));
  const byDigest = new Map<string, ProvenanceSource>();
  for (const { step, chain } of steps) {
    const location = locations[step]?.locations[0];
    const range = location?.ranges[0];
    if (location === undefined || range === undefined) continue;
    const index = location.sourceIndex ?? 0;
    const lines = dockerfiles.find((d) => d.filename === infos[index]?.filename)?.text.split('\n');
    const text = lines?.slice(Math.max(0, range.start.line - 1), range.end.line).join('\n').replace(/\\\n\s*/gu, '').trim();
    const source: ProvenanceSource = { file: infos[index]?.filename ?? 'Dockerfile', line: range.start.line, ...(text === undefined || text === '' ? {} : { instruction: text }) };
    for (const digest of chain) if (!byDigest.has(digest)) byDigest.set(digest, source);
  }
  return layers.map((layer) => byDigest.get(layer.digest) ?? (layer.diffId === undefined ? undefined : byDigest.get(layer.diffId)));
}
