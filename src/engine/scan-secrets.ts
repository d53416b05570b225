/**
 * `stagecraft scan secrets IMAGE`: the secret scan (scan/secrets) of an image of the local store — or,
 * when the store does not hold it, of the image pulled from its registry (the path `stagecraft sbom`
 * takes). Each layer's instruction comes from the image history (a build passes the plan's; see
 * layer-sources.ts).
 */
import { formatPlatform, type Digest, type Platform } from '../core/index.js';
import type { EventSink } from '../events/index.js';
import { scanImageSecrets, type SecretReport } from '../scan/index.js';
import { imageAttestations } from './attestations.js';
import { resolveImage, type SbomDeps } from './sbom.js';

export interface SecretScanOptions {
  /** The platform to scan when the image comes from a registry (default: the engine's). */
  readonly platform?: Platform | undefined;
  /** Files larger than this many bytes are skipped (default 10 MiB). */
  readonly maxFileBytes?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Where a registry pull reports its transfers. */
  readonly events?: EventSink | undefined;
  /** An unreadable layer: reported, never fatal. */
  readonly warn?: ((message: string) => void) | undefined;
}

export interface ImageSecrets {
  /** The image's full name in the store. */
  readonly name: string;
  readonly digest: Digest;
  readonly platform?: string | undefined;
  /** `local`: found in the store; `registry`: pulled for this scan. */
  readonly source: 'local' | 'registry';
  readonly report: SecretReport;
}

export async function scanSecrets(deps: SbomDeps, text: string, options: SecretScanOptions = {}): Promise<ImageSecrets> {
  const signal = options.signal ?? new AbortController().signal;
  const content = await deps.content();
  const { ref, source } = await resolveImage(deps, content, text, { platform: options.platform, signal, events: options.events });
  const warn = options.warn ?? ((): void => undefined);
  // A max provenance attached to the image names each layer's Dockerfile line and carries build args.
  let provenance: unknown;
  try {
    provenance = (await imageAttestations(deps, ref.name, signal)).Provenance.SLSA;
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    warn(`the image's provenance could not be read (layers are named by the image history instead): ${error instanceof Error ? error.message : String(error)}`);
  }
  const report = await scanImageSecrets({ content, manifest: ref.digest, provenance, maxFileBytes: options.maxFileBytes, warn, signal });
  return { name: ref.name, digest: ref.digest, platform: ref.platform ?? (options.platform === undefined ? undefined : formatPlatform(options.platform)), source, report };
}
