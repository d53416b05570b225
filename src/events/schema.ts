/**
 * The rawjson progress stream's schema: one JSON object per line, `{ "v": 2, "type": …, … }`.
 * docs/progress-events.md documents each type and field; a unit test keeps the two in sync.
 */
import { z } from 'zod';
import { EVENT_SCHEMA_VERSION, type BuildEvent } from './types.js';

const time = z.number().nonnegative();
const vertex = z.string().min(1);
const bytes = z.number().int().nonnegative();
const kind = z.enum(['manifest', 'config', 'layer', 'blob']);
const transfer = { direction: z.enum(['pull', 'push']), ref: z.string(), digest: z.string() };

export const EVENT_SCHEMAS = {
  'build.started': z.object({ type: z.literal('build.started'), time, buildId: z.string(), target: z.string(), vertices: z.number().int().nonnegative() }),
  'vertex.started': z.object({ type: z.literal('vertex.started'), time, vertex, name: z.string(), stage: z.string().optional(), inputs: z.array(z.string()), cacheKey: z.string().optional() }),
  'vertex.cached': z.object({ type: z.literal('vertex.cached'), time, vertex, name: z.string(), stage: z.string().optional(), cacheKey: z.string().optional(), reason: z.string().optional() }),
  'vertex.log': z.object({ type: z.literal('vertex.log'), time, vertex, stream: z.enum(['stdout', 'stderr']), data: z.string() }),
  'vertex.progress': z.object({ type: z.literal('vertex.progress'), time, vertex, id: z.string(), current: z.number(), total: z.number().optional() }),
  'vertex.completed': z.object({ type: z.literal('vertex.completed'), time, vertex, durationMs: z.number().nonnegative() }),
  'vertex.failed': z.object({ type: z.literal('vertex.failed'), time, vertex, error: z.string(), durationMs: z.number().nonnegative() }),
  'vertex.canceled': z.object({ type: z.literal('vertex.canceled'), time, vertex }),
  'cache.miss': z.object({ type: z.literal('cache.miss'), time, vertex, key: z.string(), reasons: z.array(z.string()) }),
  'transfer.started': z.object({ type: z.literal('transfer.started'), time, ...transfer, kind, total: bytes }),
  'transfer.progress': z.object({ type: z.literal('transfer.progress'), time, ...transfer, current: bytes, total: bytes }),
  'transfer.completed': z.object({ type: z.literal('transfer.completed'), time, ...transfer, kind, outcome: z.enum(['done', 'exists', 'mounted']), bytes, total: bytes, durationMs: z.number().nonnegative() }),
  'registry.retry': z.object({ type: z.literal('registry.retry'), time, what: z.string(), reason: z.string(), attempt: z.number().int().positive(), attempts: z.number().int().positive(), delayMs: z.number().nonnegative() }),
  'build.warning': z.object({
    type: z.literal('build.warning'), time, message: z.string(), rule: z.string().optional(),
    location: z.object({ file: z.string(), line: z.number().int().positive(), column: z.number().int().positive().optional() }).optional(),
    url: z.string().optional(), detail: z.string().optional(),
  }),
  'build.completed': z.object({
    type: z.literal('build.completed'), time, durationMs: z.number().nonnegative(), executed: z.number().int(), cached: z.number().int(),
    image: z.object({ digest: z.string(), configDigest: z.string(), size: bytes }).optional(),
    epoch: z.object({ seconds: z.number().int().nonnegative(), source: z.enum(['SOURCE_DATE_EPOCH', 'git', 'base-image', 'default']) }).optional(),
  }),
  'build.failed': z.object({
    type: z.literal('build.failed'), time, durationMs: z.number().nonnegative(), error: z.string(),
    code: z.string().optional(), location: z.object({ file: z.string(), line: z.number().int() }).optional(), vertex: z.string().optional(),
  }),
} as const satisfies Record<BuildEvent['type'], z.ZodType>;

const v = { v: z.literal(EVENT_SCHEMA_VERSION) };
const S = EVENT_SCHEMAS;
/** A validated rawjson line. */
export const RawJsonLine = z.discriminatedUnion('type', [
  S['build.started'].extend(v), S['vertex.started'].extend(v), S['vertex.cached'].extend(v), S['vertex.log'].extend(v),
  S['vertex.progress'].extend(v), S['vertex.completed'].extend(v), S['vertex.failed'].extend(v), S['vertex.canceled'].extend(v),
  S['cache.miss'].extend(v), S['transfer.started'].extend(v), S['transfer.progress'].extend(v), S['transfer.completed'].extend(v),
  S['registry.retry'].extend(v), S['build.warning'].extend(v), S['build.completed'].extend(v), S['build.failed'].extend(v),
]);

/** One rawjson line (without the newline). */
export function toRawJson(event: BuildEvent): string {
  return JSON.stringify({ v: EVENT_SCHEMA_VERSION, ...event });
}
