// The scaling benchmark (issue 18, "Scaling curves"): for each dimension and size, a cold build
// (every build cache dropped, the base image kept) by stagecraft and by dockerd's BuildKit, timed
// (wall seconds of the whole client command) with the peak RSS. Writes one JSON file.
// Usually started through bench/scale/run.sh (`npm run bench:scale`), which builds dist/, starts the
// base image registry and, when needed, dockerd.
//   node --import tsx bench/scale/run.ts [--sizes small|full] [--dims files,layer,steps,stages]
//     [--builders stagecraft,buildkit] [--runs N] [--out FILE] [--force]
// Environment: STAGECRAFT_SCALE_WORK (contexts, logs; default /var/tmp/stagecraft-scale),
// STAGECRAFT_SCALE_ROOT (stagecraft's state root; default /var/tmp/stagecraft-scale-root),
// BENCH_REGISTRY (default 127.0.0.1:5000), DOCKER (default /usr/bin/docker).
/* eslint-disable no-restricted-imports, no-restricted-properties -- a script like scripts/: it runs the builders and reads its settings from the environment */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DIMENSIONS, dimension, preparePoint, sizesFor, type Dimension } from './dimensions.js';
import type { ScaleMeasurement, ScalePoint, ScaleRun } from './schema.js';

const BUILDERS = ['stagecraft', 'buildkit'] as const;
type Builder = (typeof BUILDERS)[number];

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'full' },
    dims: { type: 'string', default: DIMENSIONS.map((d) => d.name).join(',') },
    builders: { type: 'string', default: BUILDERS.join(',') },
    runs: { type: 'string', default: '1' },
    out: { type: 'string' },
    force: { type: 'boolean', default: false },
  },
});
const fail = (message: string): never => {
  process.stderr.write(`bench:scale: ${message}\n`);
  process.exit(2);
};
if (values.sizes !== 'small' && values.sizes !== 'full') fail(`--sizes wants small or full, got '${values.sizes}'`);
const sizesChoice = values.sizes === 'small' ? 'small' : 'full';
const dims: Dimension[] = [];
for (const name of values.dims.split(',').filter((s) => s !== '')) {
  try {
    dims.push(dimension(name));
  } catch (error) {
    fail(`--dims: ${(error as Error).message}`);
  }
}
const builders = values.builders.split(',').filter((s) => s !== '');
for (const b of builders) if (!(BUILDERS as readonly string[]).includes(b)) fail(`--builders: unknown builder '${b}' (known: ${BUILDERS.join(', ')})`);
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) fail(`--runs wants a positive integer, got '${values.runs}'`);

const work = process.env.STAGECRAFT_SCALE_WORK ?? '/var/tmp/stagecraft-scale';
const root = process.env.STAGECRAFT_SCALE_ROOT ?? '/var/tmp/stagecraft-scale-root';
const registry = process.env.BENCH_REGISTRY ?? '127.0.0.1:5000';
const docker = process.env.DOCKER ?? '/usr/bin/docker';
const base = `${registry}/busybox:latest`;
const cli = join(repo, 'dist', 'cli.js');
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
const out = values.out ?? join(repo, 'bench', 'results', `scale-${stamp}.json`);
const logs = join(out.replace(/\.json$/, ''), 'logs');
mkdirSync(logs, { recursive: true });
if (!existsSync('/usr/bin/time')) fail('/usr/bin/time (GNU time) is needed for the peak RSS: apt-get install time');
if (builders.includes('stagecraft') && !existsSync(cli)) fail(`${cli} missing: run npm run build`);

const note = (message: string): void => {
  process.stderr.write(`bench:scale: ${message}\n`);
};
const quiet = (cmd: string, args: string[], env?: NodeJS.ProcessEnv): void => {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
};

/** The largest point of a dimension is refused on a busy machine (its timing would mean little). */
const busy = (): boolean => (loadavg()[0] ?? 0) > 1.5;

function dockerdPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pidof', ['-s', 'dockerd'], { encoding: 'utf8' }).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** VmHWM of a process in MB; writing 5 to clear_refs resets it (Linux ≥ 4.0). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
function peakMb(pid: number): number | undefined {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match?.[1] === undefined ? undefined : Number(match[1]) / 1024;
}

function reset(builder: Builder, tag: string): void {
  if (builder === 'stagecraft') {
    const sc = ['--root', root];
    try {
      quiet('node', [cli, ...sc, 'rmi', tag]);
    } catch {
      // not there yet
    }
    quiet('node', [cli, ...sc, 'prune', '--all', '--force']);
    quiet('node', [cli, ...sc, 'pull', '-q', base]);
  } else {
    try {
      quiet(docker, ['image', 'rm', '-f', tag]);
    } catch {
      // not there yet
    }
    quiet(docker, ['image', 'prune', '-f']);
    quiet(docker, ['builder', 'prune', '-af']);
    try {
      quiet(docker, ['image', 'inspect', base]);
    } catch {
      quiet(docker, ['pull', '-q', base]);
    }
  }
  quiet('sync', []);
}

/** One timed cold build under GNU time; the log keeps the builder's output. */
async function build(builder: Builder, dockerfile: string, context: string, tag: string, log: string): Promise<ScaleRun> {
  const timeFile = `${log}.time`;
  const command = builder === 'stagecraft'
    ? ['node', cli, '--root', root, 'build', '--progress=plain', '-f', dockerfile, '-t', tag, context]
    : [docker, 'build', '--progress=plain', '-f', dockerfile, '-t', tag, context];
  const daemon = builder === 'buildkit' ? dockerdPid() : undefined;
  if (daemon !== undefined) resetPeak(daemon);
  const logStream = createWriteStream(log);
  const started = process.hrtime.bigint();
  const code = await new Promise<number>((done, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, ...command], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DOCKER_BUILDKIT: '1' },
    });
    child.stdout.pipe(logStream, { end: false });
    child.stderr.pipe(logStream, { end: false });
    child.on('error', reject);
    child.on('close', (status) => done(status ?? 1));
  });
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  logStream.end();
  if (code !== 0) {
    const tail = readFileSync(log, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`${builder} build failed (exit ${code}); log ${log}:\n${tail}`);
  }
  const clientMb = Number(/^(\d+)\s*$/m.exec(readFileSync(timeFile, 'utf8'))?.[1] ?? NaN) / 1024;
  rmSync(timeFile, { force: true });
  const daemonMb = daemon === undefined ? undefined : peakMb(daemon);
  return {
    wallS: Number(wallS.toFixed(3)),
    clientPeakRssMb: Number(clientMb.toFixed(1)),
    ...(daemonMb === undefined ? {} : { daemonPeakRssMb: Number(daemonMb.toFixed(1)) }),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  const points: ScalePoint[] = [];
  for (const dim of dims) {
    const sizes = sizesFor(dim, sizesChoice);
    for (const size of sizes) {
      if (size === dim.sizes[2] && busy() && values.force !== true) {
        note(`${dim.name} ${size}: skipped, the machine is busy (load ${loadavg()[0]?.toFixed(2)}); the largest points need an idle machine (--force runs them anyway)`);
        continue;
      }
      note(`${dim.name} ${size}: generating the context (once) ...`);
      const { context, dockerfile } = preparePoint(work, dim, size, base);
      const measurements: ScaleMeasurement[] = [];
      for (const builder of builders as Builder[]) {
        const tag = `stagecraft-scale/${dim.name}-${size}:${builder}`;
        const done: ScaleRun[] = [];
        let error: string | undefined;
        for (let i = 1; i <= runs; i++) {
          try {
            reset(builder, tag);
            const run = await build(builder, dockerfile, context, tag, join(logs, `${builder}-${dim.name}-${size}-${i}.log`));
            done.push(run);
            note(`${builder} ${dim.name} ${size} run ${i}/${runs}: ${run.wallS.toFixed(2)} s, client ${run.clientPeakRssMb} MB${run.daemonPeakRssMb === undefined ? '' : `, daemon ${run.daemonPeakRssMb} MB`}`);
          } catch (caught) {
            error = (caught as Error).message;
            note(error);
            break;
          }
        }
        try {
          reset(builder, tag); // leave no multi-GB image behind
        } catch {
          // the next point resets again
        }
        const rss = done.map((r) => r.clientPeakRssMb + (r.daemonPeakRssMb ?? 0));
        measurements.push({
          builder,
          runs: done,
          ...(done.length > 0 ? { wallS: Number(median(done.map((r) => r.wallS)).toFixed(3)), peakRssMb: Number(Math.max(...rss).toFixed(1)) } : {}),
          ...(error === undefined ? {} : { error }),
        });
      }
      points.push({ dimension: dim.name, unit: dim.unit, size, measurements });
      writeResult(points); // after every point, so an interrupted run keeps what it measured
    }
  }
  writeResult(points);
  process.stdout.write(`json: ${out}\nlogs: ${logs}\n`);
}

function writeResult(points: ScalePoint[]): void {
  const machine = `${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
  const result = { date: new Date().toISOString(), machine, sizes: sizesChoice, runs, points };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
