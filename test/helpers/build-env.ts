/**
 * A build environment for end-to-end tests: a real docker-registry serving the busybox base image,
 * a temporary state root, and a runner for `stagecraft build` with rawjson progress.
 */
import { cpSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawJsonLine } from '../../src/events/index.js';
import { makeBusyboxImage, pushLayout } from './base-image.js';
import { runCli, type CliRun } from './cli.js';
import { startRegistry, type TestRegistry } from './registry.js';

export interface BuildEnv {
  readonly registry: TestRegistry;
  readonly work: string;
  /** `HOST:PORT/busybox:latest` */
  readonly busybox: string;
  newRoot(): Promise<string>;
  /** A fresh copy of examples/hello (its build args: REGISTRY=<this registry>). */
  exampleContext(name: string): string;
  build(args: readonly string[], options?: { root?: string; env?: NodeJS.ProcessEnv }): BuildRun;
  /** Builds `dir` with `-o type=local` into `WORK/outName` (returned as `out`). */
  buildLocal(dir: string, outName: string): BuildRun & { readonly out: string };
  close(): Promise<void>;
}

export interface BuildRun extends CliRun {
  /** The rawjson events of the run (stderr lines that are JSON), validated against the schema. */
  readonly events: ReturnType<typeof RawJsonLine.parse>[];
}

export async function startBuildEnv(): Promise<BuildEnv> {
  const work = await mkdtemp(join(tmpdir(), 'stagecraft-build-'));
  const registry = await startRegistry();
  const image = await makeBusyboxImage(work);
  const busybox = `${registry.host}/busybox:latest`;
  pushLayout(image, busybox);
  const defaultRoot = join(work, 'root');
  let roots = 0;
  const build = (args: readonly string[], options: { root?: string; env?: NodeJS.ProcessEnv } = {}): BuildRun => {
    const run = runCli(['--root', options.root ?? defaultRoot, 'build', '--progress=rawjson', ...args], { env: options.env ?? process.env });
    const events = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l)));
    return { ...run, events };
  };
  return {
    registry,
    work,
    busybox,
    newRoot: () => Promise.resolve(join(work, `root-${++roots}`)),
    exampleContext(name) {
      const dir = join(work, name);
      cpSync(fileURLToPath(new URL('../../examples/hello', import.meta.url)), dir, { recursive: true });
      return dir;
    },
    build,
    buildLocal(dir, outName) {
      const out = join(work, outName);
      return { ...build(['-o', `type=local,dest=${out}`, dir]), out };
    },
    async close() {
      await registry.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
