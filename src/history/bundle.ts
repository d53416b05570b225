/**
 * The record bundle: one build with its steps, warnings and whole logs, as `history export` writes
 * it and as a builder posts it to `stagecraft serve` (`POST /api/records`). Posted bundles are
 * untrusted: every field is checked and bounded here, once, before anything is stored.
 */
import { z } from 'zod';
import { SEVERITIES } from '../scan/index.js';
import { compressLog, type CompressedLog, type NewBuildRecord } from './store.js';
import { BUILD_STATUSES, STEP_STATUSES, type BuildRecordBundle } from './types.js';

/** The bundle format version this program writes and reads. */
export const BUNDLE_VERSION = 1;

const MAX_TEXT = 64 * 1024;
const MAX_STEPS = 10_000;
const MAX_WARNINGS = 10_000;
const ms = z.number().int().min(0).max(8_640_000_000_000_000);
const count = z.number().int().min(0).max(1_000_000_000);
const text = (max = MAX_TEXT): z.ZodString => z.string().max(max);
const Point = z.object({ file: text(4096), line: z.number().int().min(0).max(10_000_000), column: z.number().int().min(0).max(10_000_000).optional() });
// Ids name rows and appear in URLs: the alphabet of generated build ids only.
const Id = z.string().regex(/^[0-9a-z]{1,64}$/, 'a build id is 1-64 lowercase letters and digits');

const BuildSchema = z.object({
  id: Id,
  project: text(4096),
  context: text(4096),
  dockerfile: text(4096),
  target: text(1024),
  platform: text(256),
  startedAt: ms,
  endedAt: ms,
  status: z.enum(BUILD_STATUSES),
  error: z.object({ code: text(64).optional(), message: text(), location: Point.optional(), vertex: text(256).optional() }).optional(),
  request: z.object({
    buildArgs: z.array(z.object({ name: text(1024), value: text() })).max(1000),
    secrets: z.array(text(1024)).max(1000),
    ssh: z.array(text(1024)).max(1000),
    tags: z.array(text(4096)).max(1000),
    outputs: z.array(text(4096)).max(1000),
    noCache: z.boolean(),
    push: z.boolean(),
  }),
  image: z.object({ digest: text(100), configDigest: text(100), size: count.max(Number.MAX_SAFE_INTEGER) }).optional(),
  steps: z.object({ total: count, executed: count, cached: count }),
  warnings: count,
  supplyChain: z.object({
    sbom: z.boolean(),
    provenance: z.boolean(),
    signed: z.boolean(),
    sbomPackages: z.object({ total: count, purl: count, license: count }).optional(),
    vulns: z.object({ hasData: z.boolean(), counts: z.object(Object.fromEntries(SEVERITIES.map((s) => [s, count])) as Record<(typeof SEVERITIES)[number], typeof count>) }).optional(),
    secrets: count.optional(),
  }).optional(),
  pushBytes: count.max(Number.MAX_SAFE_INTEGER).optional(),
  promoted: z.boolean().optional(),
  traceId: z.string().regex(/^[0-9a-f]{32}$/, 'a trace id is 32 lowercase hex digits').optional(),
});

const PullSchema = z.object({ seq: z.number().int().min(1).max(MAX_STEPS), ref: text(4096), startedAt: ms, durationMs: ms, bytes: count.max(Number.MAX_SAFE_INTEGER), blobs: count });

const StepSchema = z.object({
  seq: z.number().int().min(1).max(MAX_STEPS),
  vertex: text(256),
  name: text(),
  stage: text(1024).optional(),
  status: z.enum(STEP_STATUSES),
  startedAt: ms,
  durationMs: ms.optional(),
  missReasons: z.array(text()).max(100),
  cacheKey: text(100).optional(),
  exitCode: z.number().int().min(-1024).max(1024).optional(),
  error: text().optional(),
  layer: z.object({ digest: text(100), size: count.max(Number.MAX_SAFE_INTEGER) }).optional(),
  location: Point.optional(),
});

const WarningSchema = z.object({
  seq: z.number().int().min(1).max(MAX_WARNINGS),
  rule: text(256).optional(),
  message: text(),
  location: Point.optional(),
  url: text(4096).optional(),
  detail: text().optional(),
});

/** A step's whole output (not clipped: the request body cap bounds it). */
const LogSchema = z.object({ seq: z.number().int().min(1).max(MAX_STEPS), name: z.string().optional(), text: z.string() });

export const RecordBundle = z
  .object({
    version: z.literal(BUNDLE_VERSION),
    build: BuildSchema,
    steps: z.array(StepSchema).max(MAX_STEPS),
    warnings: z.array(WarningSchema).max(MAX_WARNINGS),
    logs: z.array(LogSchema).max(MAX_STEPS),
    pulls: z.array(PullSchema).max(MAX_STEPS).optional(),
  })
  .superRefine((bundle, ctx) => {
    const seqs = new Set<number>();
    for (const step of bundle.steps) {
      if (seqs.has(step.seq)) ctx.addIssue({ code: 'custom', path: ['steps'], message: `step ${step.seq} appears twice` });
      seqs.add(step.seq);
    }
    const warnings = new Set(bundle.warnings.map((w) => w.seq));
    if (warnings.size !== bundle.warnings.length) ctx.addIssue({ code: 'custom', path: ['warnings'], message: 'a warning number appears twice' });
    const logs = new Set(bundle.logs.map((l) => l.seq));
    if (logs.size !== bundle.logs.length) ctx.addIssue({ code: 'custom', path: ['logs'], message: 'a step log appears twice' });
    if (bundle.build.endedAt < bundle.build.startedAt) ctx.addIssue({ code: 'custom', path: ['build', 'endedAt'], message: 'the build ends before it starts' });
  });
export type RecordBundle = z.infer<typeof RecordBundle>;

/** The bundle of a stored build, as `history export` writes it and `history push` posts it. */
export function toRecordBundle(bundle: BuildRecordBundle): { readonly version: typeof BUNDLE_VERSION } & BuildRecordBundle {
  return { version: BUNDLE_VERSION, ...bundle };
}

/** A validated bundle as the store saves it (each log compressed again). */
export function fromRecordBundle(bundle: RecordBundle): NewBuildRecord {
  const logs = new Map<number, CompressedLog>();
  for (const log of bundle.logs) logs.set(log.seq, compressLog([Buffer.from(log.text, 'utf8')]));
  return { build: bundle.build, steps: bundle.steps, warnings: bundle.warnings, logs, ...(bundle.pulls === undefined ? {} : { pulls: bundle.pulls }) };
}
