import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

const example = new URL('../../examples/hello', import.meta.url).pathname;

describe('stagecraft plan', () => {
  it('prints the stages, what each needs and the build order', () => {
    const run = runCli(['plan', '--build-arg', 'REGISTRY=127.0.0.1:5000', example]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /needed +#0 greeting +FROM 127\.0\.0\.1:5000\/busybox:latest/);
    assert.match(run.stdout, /uses stage test \(COPY --from, line \d+\)/);
    assert.match(run.stdout, /build order: greeting → app → test → stage-3/);
  });

  it('prunes to the stages a --target needs, in json', () => {
    const run = runCli(['plan', '--format', 'json', '--target', 'app', example]);
    assert.equal(run.status, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as { order: string[]; stages: { displayName: string; needed: boolean }[] };
    assert.deepEqual(plan.order, ['app']);
    assert.deepEqual(plan.stages.filter((s) => s.needed).map((s) => s.displayName), ['app']);
  });

  it('writes Graphviz dot', () => {
    const run = runCli(['plan', '--format', 'dot', example]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^digraph stages \{/);
    assert.match(run.stdout, /"stage:0" -> "stage:2" \[label="COPY --from"\];/);
  });

  it('takes a --build-arg value from the environment when only the name is given', () => {
    const run = runCli(['plan', '--build-arg', 'REGISTRY', example], { env: { ...process.env, REGISTRY: 'mirror.local:5000' } });
    assert.match(run.stdout, /FROM mirror\.local:5000\/busybox:latest/);
  });

  it('warns about build args no stage consumes', () => {
    const run = runCli(['plan', '--build-arg', 'NOPE=1', example]);
    assert.equal(run.status, 0);
    assert.match(run.stderr, /warning: build-arg NOPE was not consumed/);
  });

  it('reports Dockerfile errors with file, line, excerpt and hint, exit status 3, no stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stagecraft-plan-'));
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox AS base\nRUN true\nCOPY --from=base --chmod=999 a b\nRUN true\n');
    const run = runCli(['plan', dir]);
    assert.equal(run.status, 3);
    assert.match(run.stderr, /error: .*Dockerfile:3: COPY: invalid chmod parameter: 999/);
    assert.match(run.stderr, /> 3 \| COPY --from=base --chmod=999 a b/);
    assert.match(run.stderr, /  2 \| RUN true/);
    assert.match(run.stderr, /hint: use an octal mode/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  it('names an unknown target and suggests the closest stage', () => {
    const run = runCli(['plan', '--target', 'tset', example]);
    assert.equal(run.status, 3);
    assert.match(run.stderr, /target stage "tset" could not be found/);
    assert.match(run.stderr, /did you mean "test"\?/);
  });

  it('fails with exit status 4 when the Dockerfile is missing, and 2 for a bad --format', () => {
    assert.equal(runCli(['plan', '/nonexistent-dir']).status, 4);
    const bad = runCli(['plan', '--format', 'yaml', example]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown --format "yaml"/);
  });
});
