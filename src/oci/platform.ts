/**
 * Platform matching for index entries, with containerd's compatibility order (`platforms.Only`): the
 * exact platform first, then older variants of the same architecture, then the 32-bit architecture
 * the CPU can also run (arm64 → arm/v8…v5, amd64 → 386).
 */
import { StagecraftError, formatPlatform, normalizePlatform, platformEquals, type Platform } from '../core/index.js';
import { isImageManifestMediaType } from './media-types.js';
import type { Descriptor, ImageIndex, OciPlatform } from './schemas.js';

/** The normalized platform of an index entry's `platform` object. */
export function platformFromOci(platform: OciPlatform): Platform {
  return normalizePlatform({
    os: platform.os,
    architecture: platform.architecture,
    variant: platform.variant,
    osVersion: platform['os.version'],
    osFeatures: platform['os.features'],
  });
}

/** The OCI `platform` object of a platform (for descriptors and image configs). */
export function platformToOci(platform: Platform): OciPlatform {
  const out: OciPlatform = { architecture: platform.architecture, os: platform.os };
  if (platform.variant !== undefined) out.variant = platform.variant;
  if (platform.osVersion !== undefined) out['os.version'] = platform.osVersion;
  if (platform.osFeatures !== undefined) out['os.features'] = [...platform.osFeatures];
  return out;
}

function variantNumber(variant: string | undefined, baseline: number): number | undefined {
  if (variant === undefined) return baseline;
  const match = /^v(\d+)/.exec(variant);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function armVector(os: string, top: number): Platform[] {
  const out: Platform[] = [];
  for (let v = Math.min(top, 8); v >= 5; v--) out.push(normalizePlatform({ os, architecture: 'arm', variant: `v${v}` }));
  return out;
}

/** The platforms that `want` can run, best first (`want` itself first). */
export function compatiblePlatforms(want: Platform): Platform[] {
  const { os } = want;
  const out: Platform[] = [want];
  switch (want.architecture) {
    case 'amd64': {
      const top = variantNumber(want.variant, 1);
      if (top !== undefined) {
        for (let v = top - 1; v >= 1; v--) out.push(normalizePlatform({ os, architecture: 'amd64', variant: `v${v}` }));
      }
      out.push(normalizePlatform({ os, architecture: '386' }));
      break;
    }
    case 'arm64':
      if (want.variant !== undefined) out.push(normalizePlatform({ os, architecture: 'arm64' }));
      out.push(...armVector(os, 8));
      break;
    case 'arm': {
      const top = variantNumber(want.variant, 7);
      if (top !== undefined) out.push(...armVector(os, top - 1));
      break;
    }
    default:
      break;
  }
  const unique: Platform[] = [];
  for (const p of out) if (!unique.some((u) => platformEquals(u, p))) unique.push(p);
  return unique;
}

/** 0 for an exact match, larger for less preferred compatible platforms, undefined when `want` cannot run `have`. */
export function platformMatchRank(want: Platform, have: Platform): number | undefined {
  const index = compatiblePlatforms(want).findIndex((p) => platformEquals(p, have));
  return index === -1 ? undefined : index;
}

function isAttestation(descriptor: Descriptor): boolean {
  return descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * The best image manifest of `index` for `platform`: an exact match, else the most preferred
 * compatible one; an entry without a platform only when no entry names one that matches. Attestation
 * manifests and nested indexes are skipped. Throws PLATFORM_MISMATCH listing what the index offers.
 */
export function selectManifest(index: ImageIndex, platform: Platform, options: { readonly source?: string | undefined } = {}): Descriptor {
  let best: { descriptor: Descriptor; rank: number } | undefined;
  const available: string[] = [];
  for (const descriptor of index.manifests) {
    if (!isImageManifestMediaType(descriptor.mediaType) || isAttestation(descriptor)) continue;
    let rank: number | undefined;
    if (descriptor.platform === undefined) {
      rank = Number.MAX_SAFE_INTEGER;
    } else {
      let have: Platform;
      try {
        have = platformFromOci(descriptor.platform);
      } catch {
        continue;
      }
      available.push(formatPlatform(have));
      rank = platformMatchRank(platform, have);
    }
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { descriptor, rank };
  }
  if (best === undefined) {
    const where = options.source === undefined ? '' : ` ${options.source}`;
    throw new StagecraftError('PLATFORM_MISMATCH', `image${where} has no manifest for platform ${formatPlatform(platform)}`, {
      hint: available.length === 0 ? 'the index lists no image manifests' : `available platforms: ${[...new Set(available)].join(', ')}; pass --platform with one of them`,
    });
  }
  return best.descriptor;
}
