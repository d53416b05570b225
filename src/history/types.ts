/** The build history's records, as the store returns them and `history export` writes them. */
import { z } from 'zod';
import type { Severity } from '../scan/index.js';

export const BUILD_STATUSES = ['success', 'failed', 'cancelled'] as const;
export type BuildStatus = (typeof BUILD_STATUSES)[number];

export const STEP_STATUSES = ['done', 'cached', 'failed', 'cancelled', 'running'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/**
 * What was asked for, as far as it can be kept: build-arg names and values, but secrets and ssh
 * sockets by id only (their values never reach the history).
 */
export const BuildRequestFacts = z.object({
  buildArgs: z.array(z.object({ name: z.string(), value: z.string() })),
  secrets: z.array(z.string()),
  ssh: z.array(z.string()),
  tags: z.array(z.string()),
  outputs: z.array(z.string()),
  noCache: z.boolean(),
  push: z.boolean(),
});
export type BuildRequestFacts = z.infer<typeof BuildRequestFacts>;

export interface SourcePoint {
  readonly file: string;
  readonly line: number;
  readonly column?: number | undefined;
}

export interface BuildRecord {
  /** The `buildId` of the build's `build.started` event. */
  readonly id: string;
  /** The git remote of the context (without credentials), else the context directory. */
  readonly project: string;
  readonly context: string;
  readonly dockerfile: string;
  /** The target stage ('' for the last stage). */
  readonly target: string;
  readonly platform: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly status: BuildStatus;
  readonly error?: { readonly code?: string | undefined; readonly message: string; readonly location?: SourcePoint | undefined; readonly vertex?: string | undefined } | undefined;
  readonly request: BuildRequestFacts;
  readonly image?: { readonly digest: string; readonly configDigest: string; readonly size: number } | undefined;
  readonly steps: { readonly total: number; readonly executed: number; readonly cached: number };
  readonly warnings: number;
  /** What left the build with the image (a successful build; absent when unknown). */
  readonly supplyChain?: SupplyChainRecord | undefined;
  /** Bytes uploaded to registries (pushed image and cache blobs), when the build pushed. */
  readonly pushBytes?: number | undefined;
  /** Whether a CI promoted the image (`stagecraft history annotate ID promoted=true`); absent: not told. */
  readonly promoted?: boolean | undefined;
  /** The build's OpenTelemetry trace id (32 hex digits) when its trace was exported. */
  readonly traceId?: string | undefined;
}

/** The supply-chain facts a record keeps (SLIs M5, M8, M10). */
export interface SupplyChainRecord {
  readonly sbom: boolean;
  readonly provenance: boolean;
  readonly signed: boolean;
  /** The final image's SBOM: packages, and how many have a purl / a declared license. */
  readonly sbomPackages?: { readonly total: number; readonly purl: number; readonly license: number } | undefined;
  /** Vulnerability counts when the image was scanned (`hasData` false: the scan had no data to match). */
  readonly vulns?: { readonly hasData: boolean; readonly counts: Readonly<Record<Severity, number>> } | undefined;
  /** Secret findings when the image was scanned for them. */
  readonly secrets?: number | undefined;
}

/** One base image (repository) pulled during a build: from its first blob requested to its last received. */
export interface PullRecord {
  readonly seq: number;
  /** The repository, `registry.example/library/debian`. */
  readonly ref: string;
  readonly startedAt: number;
  readonly durationMs: number;
  /** Bytes received. */
  readonly bytes: number;
  /** Blobs received (manifests, config, layers). */
  readonly blobs: number;
}

export interface StepRecord {
  /** Order of first appearance in the build, from 1 (the `#N` of the progress output). */
  readonly seq: number;
  readonly vertex: string;
  readonly name: string;
  readonly stage?: string | undefined;
  readonly status: StepStatus;
  readonly startedAt: number;
  readonly durationMs?: number | undefined;
  /** Why the cache missed (empty when cached or not explained). */
  readonly missReasons: readonly string[];
  /** The step's cache key (`sha256:…`): the key that hit, or the one a miss was saved under. */
  readonly cacheKey?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly error?: string | undefined;
  /** The layer the step made, when it made one. */
  readonly layer?: { readonly digest: string; readonly size: number } | undefined;
  readonly location?: SourcePoint | undefined;
}

export interface WarningRecord {
  readonly seq: number;
  readonly rule?: string | undefined;
  readonly message: string;
  readonly location?: SourcePoint | undefined;
  readonly url?: string | undefined;
  /** How to fix it. */
  readonly detail?: string | undefined;
}

export interface StepLog {
  readonly seq: number;
  readonly text: string;
}

/** One build with everything recorded about it (`history export`). */
export interface BuildRecordBundle {
  readonly build: BuildRecord;
  readonly steps: readonly StepRecord[];
  readonly warnings: readonly WarningRecord[];
  readonly logs: readonly StepLog[];
  /** Base images pulled (absent in records from before pulls were recorded). */
  readonly pulls?: readonly PullRecord[] | undefined;
}
