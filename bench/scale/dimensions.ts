// The scaling benchmark's dimensions (issue 18, "Scaling curves"): each grows one thing a builder
// pays for, at three sizes, with everything else held small. A dimension gives the Dockerfile and
// writes the build context for a size; contexts are deterministic and generated once per size.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type DimensionName = 'files' | 'layer' | 'steps' | 'stages';

export interface Dimension {
  name: DimensionName;
  /** What the size counts, for axis labels. */
  unit: string;
  /** The three sizes of the issue, smallest first. */
  sizes: readonly number[];
  /** What the workload does, for the doc. */
  describe: string;
  dockerfile(size: number, base: string): string;
  /** Writes the context's files into an empty directory. */
  writeContext(dir: string, size: number): void;
}

const MiB = 1024 * 1024;

/** Small files: 1,000 per directory, ~100 bytes each, content depends only on the index. */
function writeSmallFiles(dir: string, count: number): void {
  for (let d = 0; d * 1000 < count; d++) {
    const sub = join(dir, `d${String(d).padStart(4, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let i = d * 1000; i < Math.min(count, (d + 1) * 1000); i++) {
      writeFileSync(join(sub, `f${String(i).padStart(7, '0')}.txt`), `file ${i}\n${'x'.repeat(90)}\n`);
    }
  }
}

export const DIMENSIONS: readonly Dimension[] = [
  {
    name: 'files',
    unit: 'context files',
    sizes: [10_000, 100_000, 1_000_000],
    describe: '`COPY . /ctx` of a context of N small files (~100 bytes, 1,000 per directory): context walk, hashing, copy and the layer tar',
    dockerfile: (_size, base) => `FROM ${base}\nCOPY . /ctx\n`,
    writeContext: writeSmallFiles,
  },
  {
    name: 'layer',
    unit: 'layer bytes',
    sizes: [100 * MiB, 1024 * MiB, 4096 * MiB],
    describe: 'one `RUN dd if=/dev/urandom` writing one file of N bytes: snapshot diff, layer tar and digest',
    dockerfile: (size, base) => `FROM ${base}\nRUN dd if=/dev/urandom of=/big bs=1048576 count=${Math.round(size / MiB)} 2>/dev/null && ls -l /big\n`,
    writeContext: (dir) => writeFileSync(join(dir, 'README'), 'layer workload: the RUN step makes the data\n'),
  },
  {
    name: 'steps',
    unit: 'steps',
    sizes: [10, 100, 500],
    describe: 'N cheap `RUN` instructions in one stage, each appending a line to a file: per-step overhead (container start, snapshot, commit)',
    dockerfile: (size, base) => {
      const lines = [`FROM ${base}`];
      for (let i = 1; i <= size; i++) lines.push(`RUN echo step-${i} >> /steps.log`);
      return `${lines.join('\n')}\n`;
    },
    writeContext: (dir) => writeFileSync(join(dir, 'README'), 'steps workload: no context files\n'),
  },
  {
    name: 'stages',
    unit: 'parallel stages',
    sizes: [2, 8, 32],
    describe: 'N independent stages, each hashing 16 MiB of random data (~0.1 s CPU), and a final stage that `COPY --from`s every result: stage scheduling and parallelism',
    dockerfile: (size, base) => {
      const lines: string[] = [];
      for (let i = 1; i <= size; i++) {
        lines.push(`FROM ${base} AS s${i}`, `RUN dd if=/dev/urandom bs=1048576 count=16 2>/dev/null | sha256sum > /out-${i}`, '');
      }
      lines.push(`FROM ${base}`);
      for (let i = 1; i <= size; i++) lines.push(`COPY --from=s${i} /out-${i} /out/`);
      return `${lines.join('\n')}\n`;
    },
    writeContext: (dir) => writeFileSync(join(dir, 'README'), 'stages workload: no context files\n'),
  },
];

export function dimension(name: string): Dimension {
  const found = DIMENSIONS.find((d) => d.name === name);
  if (found === undefined) throw new Error(`unknown dimension '${name}' (known: ${DIMENSIONS.map((d) => d.name).join(', ')})`);
  return found;
}

/** `small`: the two smallest sizes of each dimension (a quick end-to-end run); `full`: all three. */
export function sizesFor(dim: Dimension, which: 'small' | 'full'): number[] {
  return which === 'small' ? dim.sizes.slice(0, 2) : [...dim.sizes];
}

/** Bumped when a generator changes, so old contexts are regenerated. */
const GENERATOR_VERSION = '1';

/**
 * Makes (once) the context and Dockerfile of one point under `work`: `ctx/<dim>-<size>/` and
 * `df/<dim>-<size>.Dockerfile` (outside the context, so it does not count as a context file).
 */
export function preparePoint(work: string, dim: Dimension, size: number, base: string): { context: string; dockerfile: string } {
  const id = `${dim.name}-${size}`;
  const context = join(work, 'ctx', id);
  const stamp = `${context}.stamp`;
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== GENERATOR_VERSION) {
    const tmp = `${context}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    rmSync(context, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    dim.writeContext(tmp, size);
    renameSync(tmp, context);
    writeFileSync(stamp, GENERATOR_VERSION);
  }
  mkdirSync(join(work, 'df'), { recursive: true });
  const dockerfile = join(work, 'df', `${id}.Dockerfile`);
  writeFileSync(dockerfile, dim.dockerfile(size, base));
  return { context, dockerfile };
}
