/**
 * Generated build records (the `history export` bundle shape) for server tests and the dashboard
 * benchmark: realistic steps (a base pull, COPY, RUN in two parallel stages, a test stage), some
 * cached with miss reasons, some failing, layer sizes, step output.
 */
import type { RecordBundle } from '../../src/history/index.js';

export interface FixtureOptions {
  readonly project?: string;
  readonly target?: string;
  readonly startedAt: number;
  readonly status?: 'success' | 'failed' | 'cancelled';
  readonly durationMs?: number;
  readonly imageSize?: number;
  /** Steps that are cache hits (by index 0..6). */
  readonly cached?: readonly number[];
  readonly failStage?: 'build' | 'test';
  readonly logText?: string;
  /** The build's trace id. */
  readonly traceId?: string;
}

const STEPS = [
  { name: '[internal] load metadata for registry.local/busybox:latest', stage: undefined, line: 1 },
  { name: '[build 1/3] FROM registry.local/busybox:latest', stage: 'build', line: 1 },
  { name: '[build 2/3] COPY src /src', stage: 'build', line: 2 },
  { name: '[build 3/3] RUN make -C /src', stage: 'build', line: 3 },
  { name: '[test 1/2] RUN make -C /src test', stage: 'test', line: 6 },
  { name: '[stage-2 1/2] COPY --from=build /src/app /app', stage: 'stage-2', line: 9 },
  { name: '[stage-2 2/2] RUN chmod +x /app', stage: 'stage-2', line: 10 },
] as const;

const hex = (n: number, len = 64): string => n.toString(16).padStart(len, '0').slice(-len);

export function fixtureBundle(id: string, options: FixtureOptions): RecordBundle {
  const status = options.status ?? 'success';
  const duration = options.durationMs ?? 10_000;
  const cached = new Set(options.cached ?? []);
  const failIndex = status === 'failed' ? (options.failStage === 'test' ? 4 : 3) : -1;
  const t0 = options.startedAt;
  const steps: RecordBundle['steps'] = [];
  STEPS.forEach((step, i) => {
    if (failIndex >= 0 && i > failIndex && i !== 4) return;
    // build and test run in parallel after COPY; stage-2 after build.
    const start = t0 + (i <= 2 ? i * 0.05 : i === 4 ? 0.2 : i === 3 ? 0.15 : 0.7) * duration;
    const isCached = cached.has(i);
    const failed = i === failIndex;
    steps.push({
      seq: steps.length + 1, vertex: `sha256:${hex(i * 7919 + 17)}`, name: step.name, ...(step.stage === undefined ? {} : { stage: step.stage }),
      // A hit reuses the step's standing key; a miss saves under a key of its own.
      cacheKey: `sha256:${isCached ? hex(i * 31 + 5) : hex(i * 1_000_003 + t0)}`,
      status: isCached ? 'cached' : failed ? 'failed' : 'done', startedAt: Math.round(start), durationMs: isCached ? 0 : Math.round(duration * (i === 3 ? 0.5 : 0.1)),
      missReasons: isCached || i === 0 ? [] : [i === 2 ? 'file src/main.c changed' : 'an input step changed'],
      ...(failed ? { exitCode: 2, error: `process "/bin/sh -c make" did not complete successfully: exit code: 2` } : {}),
      ...(i >= 2 && !failed ? { layer: { digest: `sha256:${hex(i * 104_729 + t0)}`, size: (options.imageSize ?? 5_000_000) / 5 } } : {}),
      location: { file: 'Dockerfile', line: step.line },
    });
  });
  const executed = steps.filter((s) => s.status === 'done' || s.status === 'failed').length;
  return {
    version: 1,
    build: {
      id, project: options.project ?? 'git@example.com:team/app.git', context: '/src/app', dockerfile: 'Dockerfile', target: options.target ?? '', platform: 'linux/amd64',
      startedAt: t0, endedAt: t0 + duration, status,
      ...(status === 'failed' ? { error: { code: 'BUILD_STEP_FAILED', message: 'RUN make failed: exit code: 2', location: { file: 'Dockerfile', line: failIndex === 4 ? 6 : 3 } } } : {}),
      ...(status === 'cancelled' ? { error: { code: 'ABORTED', message: 'interrupted' } } : {}),
      request: { buildArgs: [{ name: 'VERSION', value: '1' }], secrets: ['npmrc'], ssh: [], tags: ['app:latest'], outputs: ['type=image,name=app:latest'], noCache: false, push: false },
      ...(status === 'success' ? { image: { digest: `sha256:${hex(t0 * 3 + 1)}`, configDigest: `sha256:${hex(t0 * 5 + 2)}`, size: options.imageSize ?? 5_000_000 } } : {}),
      steps: { total: steps.length, executed, cached: steps.length - executed - steps.filter((s) => s.status === 'cancelled').length },
      warnings: 0,
      ...(options.traceId === undefined ? {} : { traceId: options.traceId }),
    },
    steps,
    warnings: [],
    logs: steps.filter((s) => s.status !== 'cached').map((s) => ({ seq: s.seq, text: options.logText ?? `output of ${s.name}\n` })),
  };
}
