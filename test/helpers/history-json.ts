/**
 * zod schemas of what `stagecraft history ls|show|export --json` prints, shared by the e2e tests
 * (test/e2e/history.test.ts, history-stats.test.ts, dashboard.test.ts). Objects pass unknown fields
 * through: a test names the fields it checks.
 */
import { z } from 'zod';

const Point = z.object({ file: z.string(), line: z.number() });

export const HistoryBuild = z.object({
  id: z.string(),
  project: z.string(),
  target: z.string(),
  status: z.enum(['success', 'failed', 'cancelled']),
  startedAt: z.number(),
  endedAt: z.number(),
  error: z.object({ code: z.string().optional(), message: z.string(), location: Point.optional() }).optional(),
  request: z.object({ buildArgs: z.array(z.object({ name: z.string(), value: z.string() })), secrets: z.array(z.string()), ssh: z.array(z.string()), tags: z.array(z.string()) }).passthrough(),
  image: z.object({ digest: z.string(), configDigest: z.string(), size: z.number() }).optional(),
  steps: z.object({ total: z.number(), executed: z.number(), cached: z.number() }),
  warnings: z.number(),
  supplyChain: z.unknown().optional(),
  traceId: z.string().regex(/^[0-9a-f]{32}$/).optional(),
}).passthrough();
export type HistoryBuild = z.infer<typeof HistoryBuild>;

export const HistoryStep = z.object({
  seq: z.number(),
  vertex: z.string(),
  name: z.string(),
  status: z.enum(['done', 'cached', 'failed', 'cancelled', 'running']),
  durationMs: z.number().optional(),
  missReasons: z.array(z.string()),
  cacheKey: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
  exitCode: z.number().optional(),
  layer: z.object({ digest: z.string(), size: z.number() }).optional(),
  location: Point.optional(),
}).passthrough();
export type HistoryStep = z.infer<typeof HistoryStep>;

export const HistoryPull = z.object({ ref: z.string(), durationMs: z.number(), bytes: z.number(), blobs: z.number() }).passthrough();

/** `history show --json`. */
export const HistoryShown = z.object({
  build: HistoryBuild,
  steps: z.array(HistoryStep),
  warnings: z.array(z.object({ message: z.string() }).passthrough()),
  pulls: z.array(HistoryPull),
}).passthrough();
export type HistoryShown = z.infer<typeof HistoryShown>;

/** `history ls --json`. */
export const HistoryList = z.array(HistoryBuild);

/** `history logs --json`. */
export const HistoryLogs = z.array(z.object({ seq: z.number(), name: z.string(), text: z.string() }));

/** `history export` (the record bundle). */
export const HistoryExport = z.object({
  version: z.literal(1),
  build: HistoryBuild,
  steps: z.array(HistoryStep),
  warnings: z.array(z.unknown()),
  logs: z.array(z.object({ seq: z.number(), text: z.string() })),
}).passthrough();
