/**
 * npm run bench:startup [-- RUNS]: the start-up figures of issue 18. Times `node -e 0` (Node's own
 * start), `stagecraft version` and a fully cached `stagecraft build` of the shared w1-c-app workload,
 * then prints the medians and the build's breakdown by phase (STAGECRAFT_PROFILE=json, medians of the
 * same runs' phases). With NODE_EXTRA_CA_CERTS set (Node 20 reads and parses that file before any
 * JavaScript runs), the three are timed again without it.
 *
 * Uses hyperfine when installed (medians of wall time, means of user+system CPU), else a loop (wall
 * time only). Needs root and the local registry of bench/bases.sh, as `npm run bench`. Environment:
 * STAGECRAFT_SHARED (the shared folder), STARTUP_WORK (context copy and state root, default
 * /var/tmp/stagecraft-startup), BENCH_SKIP_BUILD (set: use dist/ as it is).
 */
/* eslint-disable no-restricted-imports, no-restricted-properties -- a script like scripts/: it runs the CLI, hyperfine and the workload's generator, and reads its settings from the environment */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const shared = process.env['STAGECRAFT_SHARED'] ?? resolve(repo, '..', 'shared');
const work = process.env['STARTUP_WORK'] ?? '/var/tmp/stagecraft-startup';
const runs = Number(process.argv[2] ?? 20);
const cli = join(repo, 'dist', 'cli.js');
const context = join(work, 'w1-c-app');
const root = join(work, 'root');
const dockerfile = join(shared, 'bench', 'w1-c-app', 'Dockerfile');

function sh(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(command, args, { cwd: repo, encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

if (!existsSync(join(shared, 'bench', 'w1-c-app', 'gen.sh'))) throw new Error(`bench:startup: ${shared}/bench not found; set STAGECRAFT_SHARED`);
if (process.env['BENCH_SKIP_BUILD'] === undefined) sh('npm', ['run', 'build']);
sh('bash', ['bench/bases.sh', shared, '127.0.0.1:5000']);
mkdirSync(work, { recursive: true });
if (!existsSync(context)) sh('bash', [join(shared, 'bench', 'w1-c-app', 'gen.sh'), context]);
// As the harness's warm mode: the bases pulled, then one build (untimed; the first on a new state root compiles for ~30 s).
for (const base of ['127.0.0.1:5000/debian-gcc:bookworm', '127.0.0.1:5000/busybox:latest']) sh('node', [cli, '--root', root, 'pull', '-q', base]);
const buildArgs = [cli, '--root', root, 'build', '-q', '-f', dockerfile, '-t', 'startup:w1', context];
sh('node', buildArgs);
sh('node', buildArgs);

const withoutCaCerts = { ...process.env };
delete withoutCaCerts['NODE_EXTRA_CA_CERTS'];
const variants: { readonly label: string; readonly env: NodeJS.ProcessEnv }[] = [{ label: '', env: process.env }];
if (process.env['NODE_EXTRA_CA_CERTS'] !== undefined) variants.push({ label: ' (without NODE_EXTRA_CA_CERTS)', env: withoutCaCerts });
const commands = [
  { name: 'node -e 0', argv: ['node', '-e', '0'] },
  { name: 'stagecraft version', argv: ['node', cli, 'version'] },
  { name: 'stagecraft build (w1, fully cached)', argv: ['node', ...buildArgs] },
];

interface Timing {
  readonly name: string;
  readonly wall: number;
  readonly cpu?: number;
}
const timings: Timing[] = [];
const hyperfine = spawnSync('hyperfine', ['--version']).status === 0;
for (const variant of variants) {
  if (hyperfine) {
    const dir = mkdtempSync(join(tmpdir(), 'startup-bench-'));
    const out = join(dir, 'result.json');
    sh('hyperfine', ['-N', '-w', '3', '-r', String(runs), '--style', 'none', '--export-json', out, ...commands.map((c) => c.argv.join(' '))], variant.env);
    const result = JSON.parse(readFileSync(out, 'utf8')) as { results: { median: number; user: number; system: number }[] };
    rmSync(dir, { recursive: true, force: true });
    result.results.forEach((r, i) => timings.push({ name: `${commands[i]?.name ?? ''}${variant.label}`, wall: r.median, cpu: r.user + r.system }));
  } else {
    for (const command of commands) {
      const walls: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = process.hrtime.bigint();
        const result = spawnSync(command.argv[0] ?? 'node', command.argv.slice(1), { env: variant.env, stdio: 'ignore' });
        if (result.status !== 0) throw new Error(`bench:startup: ${command.argv.join(' ')} failed`);
        walls.push(Number(process.hrtime.bigint() - start) / 1e9);
      }
      timings.push({ name: `${command.name}${variant.label}`, wall: median(walls) });
    }
  }
}

// The breakdown: the phases of the cached build, medians over its profiled runs.
const phases = new Map<string, { took: number[]; at: number[]; cpu: number[] }>();
const order: string[] = [];
for (let i = 0; i < Math.max(5, Math.ceil(runs / 2)); i++) {
  const result = spawnSync('node', buildArgs, { env: { ...process.env, STAGECRAFT_PROFILE: 'json' }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bench:startup: the profiled build failed: ${result.stderr}`);
  const line = result.stderr.split('\n').find((l) => l.startsWith('{"stagecraftProfile"'));
  if (line === undefined) throw new Error('bench:startup: the build printed no profile');
  const rows = (JSON.parse(line) as { stagecraftProfile: { name: string; took: number; at: number; cpu?: number; kind: string }[] }).stagecraftProfile;
  const seen = new Map<string, number>();
  for (const row of rows) {
    const base = `${row.kind === 'measure' ? '  ' : ''}${row.name.replace(/\(code cache \w+\)/u, '(code cache)')}`;
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    const name = count === 1 ? base : `${base} (again)`;
    if (!phases.has(name)) order.push(name);
    const entry = phases.get(name) ?? { took: [], at: [], cpu: [] };
    entry.took.push(row.took);
    entry.at.push(row.at);
    if (row.cpu !== undefined) entry.cpu.push(row.cpu);
    phases.set(name, entry);
  }
}

const machine = `${execFileSync('nproc', { encoding: 'utf8' }).trim()} CPUs, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}, node ${process.version}`;
console.log(`\nstart-up (${runs} runs each, ${hyperfine ? 'hyperfine' : 'a loop'}; ${machine})\n`);
console.log('| command | median wall s | mean CPU s (user+system) |\n|---|---|---|');
for (const t of timings) console.log(`| ${t.name} | ${t.wall.toFixed(3)} | ${t.cpu === undefined ? 'n/a' : t.cpu.toFixed(3)} |`);
console.log('\nfully cached build of w1, by phase (STAGECRAFT_PROFILE; medians in ms; indented: part of the phase after it)\n');
console.log('| phase | took ms (wall) | CPU ms | ended at ms |\n|---|---|---|---|');
for (const name of order) {
  const entry = phases.get(name);
  if (entry !== undefined) console.log(`| ${name.startsWith('  ') ? `&nbsp;&nbsp;${name.trim()}` : name} | ${median(entry.took).toFixed(1)} | ${entry.cpu.length === 0 ? '' : median(entry.cpu).toFixed(1)} | ${median(entry.at).toFixed(1)} |`);
}
