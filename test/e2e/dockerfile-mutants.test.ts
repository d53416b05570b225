/**
 * Issue 13, fault 14 ("13 of 200 randomly mutated copies of a valid multi-stage Dockerfile ended in exit
 * 70, a signal or a timeout"), through the built CLI: 200 seeded mutants of examples/hello and the
 * conformance cases, 150 through `stagecraft plan` and 50 through `stagecraft build` (bases replaced by
 * scratch, so no registry is needed). Each ends in success or a clear error: never exit 70 (internal
 * error), a signal or a timeout; a Dockerfile error (exit 3) names its line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { CLI_PATH } from '../helpers/cli.js';
import { mutatedDockerfileFrom, SEEDS } from '../unit/dockerfile/mutation-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'stagecraft-mutants-'));
after(() => rmSync(work, { recursive: true, force: true }));
const context = join(work, 'context');
mkdirSync(context);
for (const name of ['app.sh', 'greeting.txt']) copyFileSync(fileURLToPath(new URL(`../../examples/hello/${name}`, import.meta.url)), join(context, name));

interface Run {
  readonly args: readonly string[];
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly timedOut: boolean;
}

function cli(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=512', CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, 60_000);
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 1 << 20) stderr += chunk.toString();
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ args, status, signal, stderr, timedOut });
    });
  });
}

/** Runs `jobs` with at most `width` at a time. */
async function pool<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      if (job !== undefined) results.push(await job());
    }
  }));
  return results;
}

function check(run: Run, dockerfile: string, file: string): void {
  const where = `stagecraft ${run.args.join(' ')}\n--- stderr:\n${run.stderr.slice(-3000)}\n--- Dockerfile:\n${dockerfile.slice(0, 3000)}`;
  assert.equal(run.timedOut, false, `timed out: ${where}`);
  assert.equal(run.signal, null, `killed by ${run.signal ?? ''}: ${where}`);
  assert.notEqual(run.status, 70, `internal error: ${where}`);
  if (run.status !== 0) assert.match(run.stderr, /^error: /m, where);
  // A Dockerfile error names the file and, where there is one, the line ("FILE:N:", or the excerpt's "> N |").
  if (run.status === 3) assert.ok(run.stderr.includes(`${file}:`) || /^> +\d+ \|/m.test(run.stderr), where);
}

describe('mutated Dockerfiles through the CLI never end in exit 70, a signal or a timeout (fault 14)', { timeout: 20 * 60_000 }, () => {
  // examples/hello takes its bases from ${REGISTRY}; point every base at ${BASE} (scratch here).
  const seeds = SEEDS.map((s) => s.replaceAll('${REGISTRY}/busybox:latest', '${BASE}'));
  const mutants = fc.sample(mutatedDockerfileFrom(seeds), { numRuns: 200, seed: 13_140 });

  it('plan: 150 mutants', { timeout: 10 * 60_000 }, async () => {
    const runs = await pool(mutants.slice(0, 150).map((dockerfile, i) => async () => {
      const file = join(work, `plan-${i}.Dockerfile`);
      writeFileSync(file, dockerfile);
      return { dockerfile, file, run: await cli(['plan', '-f', file, '--build-arg', 'BASE=scratch', context]) };
    }), 4);
    for (const { dockerfile, file, run } of runs) check(run, dockerfile, file);
  });

  it('build: 50 mutants', { timeout: 15 * 60_000 }, async () => {
    const root = join(work, 'root');
    const runs = await pool(mutants.slice(150).map((dockerfile, i) => async () => {
      const file = join(work, `build-${i}.Dockerfile`);
      writeFileSync(file, dockerfile);
      return { dockerfile, file, run: await cli(['--root', root, 'build', '--progress=plain', '--network=none', '-f', file, '--build-arg', 'BASE=scratch', context]) };
    }), 3);
    for (const { dockerfile, file, run } of runs) check(run, dockerfile, file);
  });
});
