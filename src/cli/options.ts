/** Flag parsing shared by commands: build args, Dockerfile location. */
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { DOCKERFILE_LIMITS, formatSize } from '../dockerfile/index.js';

/** Collects a repeatable option into an array (commander's `argParser`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `--build-arg KEY=VALUE` or `--build-arg KEY` (value from the environment, skipped when unset), as
 * docker buildx does.
 */
export function parseBuildArgs(values: readonly string[], env: NodeJS.ProcessEnv): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const key = eq === -1 ? value : value.slice(0, eq);
    if (key === '') {
      throw new StagecraftError('USAGE', `invalid --build-arg "${value}": the name is empty`, { hint: 'write --build-arg NAME=VALUE or --build-arg NAME' });
    }
    if (eq !== -1) out.set(key, value.slice(eq + 1));
    else if (env[key] !== undefined) out.set(key, env[key]);
  }
  return out;
}

export interface DockerfileSource {
  readonly path: string;
  readonly text: string;
}

/**
 * Reads at most DOCKERFILE_LIMITS.fileBytes of a Dockerfile from `fd`, refusing a larger one before it is
 * in memory (a Dockerfile that is a symlink to /dev/zero, or a huge file, must not exhaust memory).
 */
export function readBoundedDockerfile(fd: number, name: string): string {
  const limit = DOCKERFILE_LIMITS.fileBytes;
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
    const read = readSync(fd, chunk, 0, chunk.length, null);
    if (read === 0) break;
    chunks.push(chunk.subarray(0, read));
    total += read;
    if (total > limit) {
      throw new StagecraftError('DOCKERFILE_SYNTAX', `${name}: the Dockerfile is larger than the limit of ${formatSize(limit)}`, {
        hint: 'A Dockerfile this large is not hand-written: generate the content into files of the build context and COPY them.',
      });
    }
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** Reads the Dockerfile: `-f -` is stdin, `-f PATH`, or `CONTEXT/Dockerfile`. */
export function readDockerfile(file: string | undefined, context: string, stdin: () => string): DockerfileSource {
  if (file === '-') return { path: '<stdin>', text: stdin() };
  const path = file !== undefined ? resolve(file) : resolve(context, 'Dockerfile');
  try {
    const fd = openSync(path, 'r');
    try {
      return { path: file ?? path, text: readBoundedDockerfile(fd, file ?? path) };
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if (error instanceof StagecraftError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new StagecraftError('FILE_NOT_FOUND', `cannot read Dockerfile ${path}: ${code === 'ENOENT' ? 'no such file' : String(code)}`, {
      hint: file === undefined ? `create ${path} or name the Dockerfile with -f` : 'check the path given with -f',
      cause: error,
    });
  }
}
