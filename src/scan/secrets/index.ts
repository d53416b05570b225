/**
 * The secret scan of an image: every layer blob of the content store (streamed once, including the
 * files a later layer deletes), the config (Env, Labels, history), the provenance predicate and the
 * build log, through `@secretlint`'s recommended rules plus stagecraft's (rules.ts). Findings name the
 * site, layer, path, line, rule and the Dockerfile instruction that made the layer; a value is never
 * kept, only its fingerprint.
 */
import type { Content } from '../../content/index.js';
import { StagecraftError, type Digest } from '../../core/index.js';
import { parseImageConfig, parseManifest, type ImageConfig } from '../../oci/index.js';
import type { SecretFinding, SecretReport, SecretSite } from '../types.js';
import { configTexts, provenanceTexts, type NamedFinding } from './config.js';
import { walkLayers, type LayerBlob } from './layers.js';
import { provenanceDockerfiles, provenanceLayerSources } from './provenance.js';
import { SecretMatcher, redact, type TextMatch } from './text.js';

export { fingerprint, redact } from './text.js';
export { STAGECRAFT_RULES } from './rules.js';
export { SENSITIVE_NAME_RULE } from './config.js';

/** Files larger than this are skipped (counted in `skippedFiles`): 10 MiB. */
export const DEFAULT_MAX_FILE_BYTES = 10 << 20;

/** The Dockerfile instruction that made a layer. */
export interface InstructionSource {
  readonly file: string;
  /** 1-based; 0 when only the image history names the instruction (`file` is then `history[N]`). */
  readonly line: number;
  readonly instruction?: string | undefined;
}

export interface ScanImageSecretsInput {
  readonly content: Content;
  /** The image manifest (a single-platform manifest in the store, with its config and layers). */
  readonly manifest: Digest;
  /** Per layer index: the instruction that made it (from the build plan); else read from the config history. */
  readonly sources?: readonly (InstructionSource | undefined)[] | undefined;
  /** The provenance predicate (SLSA), whose build-arg values `mode=max` records. */
  readonly provenance?: unknown;
  /** Build logs, one per step (`name` is the step). */
  readonly logs?: readonly { readonly name: string; readonly text: string }[] | undefined;
  /** Default DEFAULT_MAX_FILE_BYTES. */
  readonly maxFileBytes?: number | undefined;
  /** An unreadable layer or file: reported, never fatal. */
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

/** Where a text came from, carried through the matcher. */
interface Origin {
  readonly site: SecretSite;
  readonly path: string;
  readonly layer?: LayerBlob | undefined;
  readonly deleted?: boolean | undefined;
}

/** Longest instruction text shown beside a finding. */
const MAX_INSTRUCTION = 160;

async function readBlob(content: Content, digest: Digest, what: string): Promise<Buffer> {
  try {
    return await content.blobs.read(digest);
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'NOT_FOUND') {
      throw new StagecraftError('STORE_CORRUPT', `the ${what} (${digest}) is missing from the content store`, { hint: 'remove the image (stagecraft rmi) and pull or build it again', cause: error });
    }
    throw error;
  }
}

/** The instruction a history entry records, without the shell wrapper and BuildKit's marker. */
function historyInstruction(createdBy: string): string {
  return createdBy.replace(/^\/bin\/sh -c #\(nop\)\s*/u, '').replace(/^(?:RUN )?\/bin\/sh -c /u, 'RUN ').replace(/ # buildkit$/u, '').trim();
}

/**
 * Per layer: the source the caller gave, else the Dockerfile line a `mode=max` provenance names, else
 * the history entry that made it (non-empty entries, in order).
 */
async function resolveSources(config: ImageConfig, layers: readonly { readonly digest: Digest }[], given: ScanImageSecretsInput['sources'], provenance: unknown): Promise<(InstructionSource | undefined)[]> {
  const layerCount = layers.length;
  const diffIds = config.rootfs.diff_ids;
  const fromProvenance = provenance === undefined ? [] : provenanceLayerSources(provenance, layers.map((layer, i) => ({ digest: layer.digest, diffId: diffIds[i] })));
  const fromHistory: (InstructionSource | undefined)[] = [];
  const history = config.history ?? [];
  const withLayer = history.flatMap((entry, i) => (entry.empty_layer === true ? [] : [{ entry, i }]));
  // Only when the history describes every layer: an image whose history lost entries would shift them.
  if (withLayer.length === layerCount) {
    for (const { entry, i } of withLayer) {
      const text = historyInstruction(entry.created_by ?? '');
      fromHistory.push(text === '' ? undefined : { file: `history[${i}]`, line: 0, instruction: text });
    }
  }
  const out: (InstructionSource | undefined)[] = [];
  for (let i = 0; i < layerCount; i++) {
    const source = given?.[i] ?? fromProvenance[i] ?? fromHistory[i];
    if (source === undefined) {
      out.push(undefined);
      continue;
    }
    const instruction = source.instruction === undefined ? undefined : await redact(source.instruction.length > MAX_INSTRUCTION ? `${source.instruction.slice(0, MAX_INSTRUCTION)}…` : source.instruction);
    out.push({ file: source.file, line: source.line, ...(instruction === undefined ? {} : { instruction }) });
  }
  return out;
}

/** Control characters of a hostile name shown escaped (a report is printed to terminals). */
function printable(path: string): string {
  return path.replace(/[\u0000-\u001f\u007f-\u009f]/gu, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export async function scanImageSecrets(input: ScanImageSecretsInput): Promise<SecretReport> {
  const { content, signal, warn } = input;
  const maxFileBytes = input.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1) throw new Error(`scanImageSecrets: maxFileBytes ${maxFileBytes} is not a positive integer`);
  const parsed = parseManifest(await readBlob(content, input.manifest, 'image manifest'), undefined, { source: `the content store (${input.manifest})` });
  if (parsed.kind !== 'manifest') {
    throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `${input.manifest} names an index (${parsed.mediaType}), not a single image`, { hint: 'scan one platform of the image (--platform)' });
  }
  const config = parseImageConfig(await readBlob(content, parsed.manifest.config.digest, 'image config'), { source: `the content store (${input.manifest})` });
  const layers: LayerBlob[] = parsed.manifest.layers.map((layer, index) => ({ index, digest: layer.digest, open: () => content.blobs.open(layer.digest) }));
  const sources = await resolveSources(config, layers, input.sources, input.provenance);

  const matcher = new SecretMatcher<Origin>();
  const matches: TextMatch<Origin>[] = [];
  const walked = await walkLayers(layers, {
    maxFileBytes,
    signal,
    warn,
    onText: async (file) => {
      matches.push(...(await matcher.add({ key: { site: 'layer', path: file.path, layer: file.layer, deleted: file.deleted }, path: file.path, text: file.data.toString('utf8') })));
    },
  });
  const named: NamedFinding[] = [];
  let otherBytes = 0;
  const sites = [configTexts(config), ...(input.provenance === undefined ? [] : [provenanceTexts(input.provenance)])];
  // The Dockerfile a max provenance carries (base64): its ENV and ARG defaults are in the attestation.
  for (const dockerfile of input.provenance === undefined ? [] : provenanceDockerfiles(input.provenance)) {
    sites.push({ texts: [{ site: 'provenance', path: `${dockerfile.path} (${dockerfile.filename})`, text: dockerfile.text }], named: [] });
  }
  for (const { texts, named: byName } of sites) {
    named.push(...byName);
    for (const text of texts) {
      signal.throwIfAborted();
      otherBytes += Buffer.byteLength(text.text);
      matches.push(...(await matcher.add({ key: { site: text.site, path: text.path }, path: text.path, text: text.text })));
    }
  }
  for (const log of input.logs ?? []) {
    signal.throwIfAborted();
    otherBytes += Buffer.byteLength(log.text);
    matches.push(...(await matcher.add({ key: { site: 'log', path: log.name }, path: log.name, text: log.text })));
  }
  matches.push(...(await matcher.flush()));

  const findings: SecretFinding[] = [];
  const seen = new Set<string>();
  const add = (finding: SecretFinding): void => {
    const id = `${finding.site}\0${finding.layer?.index ?? ''}\0${finding.path}\0${finding.line ?? ''}\0${finding.fingerprint}`;
    if (seen.has(id)) return;
    seen.add(id);
    findings.push(finding);
  };
  for (const match of matches) {
    const { site, path, layer, deleted } = match.key;
    const source = layer === undefined ? undefined : sources[layer.index];
    add({
      rule: match.rule,
      message: match.message,
      site,
      ...(layer === undefined ? {} : { layer: { index: layer.index, digest: layer.digest } }),
      path: printable(path),
      ...(deleted === true ? { deleted: true } : {}),
      line: match.line,
      ...(source === undefined ? {} : { source }),
      fingerprint: match.fingerprint,
    });
  }
  // The name rule only where no text rule already reported the entry.
  for (const finding of named) {
    if (findings.some((f) => f.site === finding.site && f.path === printable(finding.path))) continue;
    add({ rule: finding.rule, message: finding.message, site: finding.site, path: printable(finding.path), line: 1, fingerprint: finding.fingerprint });
  }
  const siteOrder: Readonly<Record<SecretSite, number>> = { layer: 0, config: 1, provenance: 2, log: 3 };
  findings.sort((a, b) => siteOrder[a.site] - siteOrder[b.site] || (a.layer?.index ?? 0) - (b.layer?.index ?? 0) || a.path.localeCompare(b.path) || (a.line ?? 0) - (b.line ?? 0) || a.rule.localeCompare(b.rule));
  return { findings, scannedBytes: walked.textBytes + otherBytes, skippedFiles: walked.skippedFiles };
}
