/**
 * The six benchmark workloads of ../shared/bench build with stagecraft (cold, from a fresh state
 * root), and w6's secrets reach no layer, config or manifest (the harness's leakcheck). The bases
 * (busybox, Debian bookworm with gcc) are made locally by ../shared/tools/make-base-images.sh and
 * served on 127.0.0.1:5000, where the workloads' Dockerfiles expect them. Skipped, saying why, when
 * the shared folder is not next to this repository (set STAGECRAFT_SHARED to point at it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_PATH } from '../helpers/cli.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shared = process.env.STAGECRAFT_SHARED ?? resolve(repo, '..', 'shared');
const present = existsSync(join(shared, 'bench', 'run.sh')) && existsSync(join(shared, 'tools', 'make-base-images.sh'));

describe('the benchmark workloads', { skip: present ? false : `no ${shared}/bench/run.sh (set STAGECRAFT_SHARED)` }, () => {
  it('all six build cold, and w6 leaks no secret', { timeout: 45 * 60_000 }, async () => {
    const bases = spawnSync('bash', [join(repo, 'bench', 'bases.sh'), shared, '127.0.0.1:5000'], { encoding: 'utf8' });
    assert.equal(bases.status, 0, `make-base-images.sh failed:\n${bases.stdout}\n${bases.stderr}`);
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-bench-test-'));
    try {
      const root = join(work, 'root');
      const env = {
        ...process.env,
        STAGECRAFT: `${process.execPath} ${CLI_PATH} --root ${root}`,
        STAGECRAFT_RESET: `rm -rf ${root}`,
      };
      const run = (workloads: string, mode: string): void => {
        const out = join(work, `results-${mode}`);
        const result = spawnSync('bash', [join(shared, 'bench', 'run.sh'), '-b', 'stagecraft', '-w', workloads, '-m', mode, '-n', '1', '-o', out], { encoding: 'utf8', env });
        assert.equal(result.status, 0, `run.sh ${mode} failed:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
        if (mode === 'cold') {
          const summary = readFileSync(join(out, 'summary.tsv'), 'utf8').trim().split('\n').slice(1);
          assert.equal(summary.length, 6, summary.join('\n'));
        }
      };
      run('all', 'cold');
      run('w6-secrets-and-cache-mounts', 'leakcheck');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('npm run bench drives the harness with stagecraft\'s hooks and prints one table with peak RSS', { timeout: 20 * 60_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-npm-bench-'));
    try {
      const results = join(work, 'results');
      // Only stagecraft (BuildKit and buildah are optional peers); dist/ as built by `npm test`.
      const env = { ...process.env, STAGECRAFT_SHARED: shared, STAGECRAFT_BENCH_ROOT: join(work, 'root'), BENCH_RESULTS: results, BENCH_BUILDERS: 'stagecraft', BENCH_SKIP_BUILD: '1' };
      const result = spawnSync('bash', [join(repo, 'bench', 'run-bench.sh'), '-w', 'w5-many-steps', '-m', 'cold,warm', '-n', '1'], { encoding: 'utf8', env, cwd: repo });
      assert.equal(result.status, 0, `run-bench.sh failed:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
      assert.match(result.stdout, /\| workload \| mode \| stagecraft s \| BuildKit s \|/);
      assert.match(result.stdout, /\| w5-many-steps \| cold \| \d+\.\d\d \|/);
      assert.match(result.stdout, /\| w5-many-steps \| warm \| \d+\.\d\d \|/);
      const names = readdirSync(results);
      const json = names.find((n) => n.endsWith('.json'));
      const dir = names.find((n) => n.endsWith('-stagecraft'));
      assert.ok(json !== undefined && dir !== undefined, names.join());
      const rows = (JSON.parse(readFileSync(join(results, json), 'utf8')) as { rows: { workload: string; mode: string; stagecraft: number; peakRssMb?: number }[] }).rows;
      assert.deepEqual(rows.map((r) => r.mode), ['cold', 'warm']);
      for (const row of rows) {
        assert.ok(row.stagecraft > 0, JSON.stringify(row));
        assert.ok((row.peakRssMb ?? 0) > 10, `peak RSS recorded: ${JSON.stringify(row)}`);
      }
      // The size hook (bench/size.sh) counted the image's layers: busybox alone is ~2 MB.
      const [header = '', ...lines] = readFileSync(join(results, dir, 'summary.tsv'), 'utf8').trim().split('\n');
      const column = header.split('\t').indexOf('image_MB');
      for (const line of lines) assert.ok(Number(line.split('\t')[column]) > 1, line);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
