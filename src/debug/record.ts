/**
 * The record of a failed RUN step kept for `stagecraft debug`: what it ran and how, without any
 * secret value (secrets and ssh agents appear by id only; proxy variables, which may hold
 * credentials, are left out). Read back through the schema: the file is on disk and may be damaged.
 */
import { z } from 'zod';

/** Build ids are 16 hex digits (engine/build.ts). */
export const BUILD_ID_RE = /^[a-f0-9]{16}$/u;

const owner = { uid: z.number().int().min(0), gid: z.number().int().min(0), mode: z.number().int().min(0).max(0o7777) };

export const debugMountSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('cache'), target: z.string(), id: z.string(), sharing: z.enum(['shared', 'private', 'locked']), readonly: z.boolean(), ...owner }),
  z.strictObject({ type: z.literal('tmpfs'), target: z.string(), size: z.number().int().positive().optional() }),
  z.strictObject({ type: z.literal('secret'), id: z.string(), target: z.string().optional(), env: z.string().optional(), required: z.boolean(), ...owner }),
  z.strictObject({ type: z.literal('ssh'), id: z.string(), target: z.string(), required: z.boolean(), ...owner }),
  /**
   * A bind of a stage's filesystem (`from: 'stage'`, kept as the committed snapshot `snapshot`) or
   * of build context files (`from: 'context'`, not kept: the context is the user's directory).
   */
  z.strictObject({ type: z.literal('bind'), target: z.string(), source: z.string(), readonly: z.boolean(), from: z.enum(['stage', 'context']), snapshot: z.string().regex(/^[a-f0-9]{16,64}$/u).optional() }),
]);
export type DebugMount = z.infer<typeof debugMountSchema>;

export const debugRecordSchema = z.strictObject({
  version: z.literal(1),
  buildId: z.string().regex(BUILD_ID_RE),
  /** When the step failed (ms since the epoch). */
  time: z.number().int(),
  /** The Dockerfile and the step's first line in it. */
  dockerfile: z.strictObject({ file: z.string(), line: z.number().int().positive() }).optional(),
  /** The step's progress name, e.g. `[build 2/3] RUN make`. */
  step: z.string(),
  stage: z.string().optional(),
  /** The kept rootfs: a committed snapshot (the step's upper dir over its parent chain). */
  snapshot: z.string().regex(/^[a-f0-9]{16,64}$/u),
  process: z.strictObject({
    args: z.array(z.string()).min(1),
    env: z.array(z.string()),
    cwd: z.string(),
    user: z.string(),
    hostname: z.string(),
    network: z.enum(['default', 'none', 'host']),
    security: z.enum(['sandbox', 'insecure']),
  }),
  /** Build-wide RUN settings (`--add-host`, `--shm-size`, `--ulimit`, cgroup limits). */
  settings: z.strictObject({
    extraHosts: z.array(z.strictObject({ host: z.string(), ip: z.string() })).optional(),
    shmSize: z.number().int().positive().optional(),
    ulimits: z.array(z.strictObject({ name: z.string(), soft: z.number().int(), hard: z.number().int() })).optional(),
    cgroupParent: z.string().optional(),
    resources: z.strictObject({
      memory: z.number().int().optional(),
      memorySwap: z.number().int().optional(),
      cpuShares: z.number().int().optional(),
      cpuPeriod: z.number().int().optional(),
      cpuQuota: z.number().int().optional(),
      cpusetCpus: z.string().optional(),
      cpusetMems: z.string().optional(),
    }).optional(),
  }),
  mounts: z.array(debugMountSchema),
  /** Heredoc scripts of the step (Dockerfile text, not secret). */
  inlineFiles: z.array(z.strictObject({ path: z.string(), data: z.string(), mode: z.number().int() })),
  exitCode: z.number().int(),
  signal: z.string().optional(),
});
export type DebugRecord = z.infer<typeof debugRecordSchema>;
