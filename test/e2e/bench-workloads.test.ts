/**
 * The six benchmark workloads of ../shared/bench build with stagecraft (cold, from a fresh state
 * root), and w6's secrets reach no layer, config or manifest (the harness's leakcheck). The bases
 * (busybox, Debian bookworm with gcc) are made locally by ../shared/tools/make-base-images.sh and
 * served on 127.0.0.1:5000, where the workloads' Dockerfiles expect them. Skipped, saying why, when
 * the shared folder is not next to this repository (set STAGECRAFT_SHARED to point at it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
    const bases = spawnSync('bash', [join(shared, 'tools', 'make-base-images.sh'), '127.0.0.1:5000'], { encoding: 'utf8' });
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
});
