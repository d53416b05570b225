/**
 * Build checks in a real build: violations are `build.warning` events with rule, location, url and fix
 * (rawjson), printed with file:line and the fix and counted after the build (plain), judged with the
 * resolved base image's environment (UndefinedVar), and `# check=error=true` fails the build before a
 * step runs.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

describe('build checks in builds', () => {
  let env: BuildEnv;
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  const contextWith = (name: string, dockerfile: string): string => {
    const dir = join(env.work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };

  it('warnings are build.warning events with rule, location, url and detail; the build succeeds', () => {
    const dir = contextWith('warn', `FROM ${env.busybox}\nMAINTAINER me\nENV GREETING=$PATHH\nRUN echo hi > /x\nCMD echo hi\n`);
    const run = env.build(['-f', join(dir, 'Dockerfile'), '-o', `type=local,dest=${join(env.work, 'warn-out')}`, dir]);
    assert.equal(run.status, 0, run.stderr);
    const warnings = run.events.flatMap((e) => (e.type === 'build.warning' && e.rule !== undefined ? [e] : []));
    const maintainer = warnings.find((w) => w.rule === 'MaintainerDeprecated');
    assert.deepEqual(maintainer?.location, { file: join(dir, 'Dockerfile'), line: 2, column: 1 });
    assert.equal(maintainer?.url, 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/');
    assert.match(maintainer?.detail ?? '', /LABEL org\.opencontainers\.image\.authors/);
    // The stage starts from an image: only a build (which resolved its config) can judge its variables.
    const undefinedVar = warnings.find((w) => w.rule === 'UndefinedVar');
    assert.equal(undefinedVar?.message, "Usage of undefined variable '$PATHH' (did you mean $PATH?)");
    assert.equal(undefinedVar.location?.line, 3);
    assert.deepEqual(warnings.map((w) => w.rule).sort(), ['BaseImageNotPinned', 'FinalStageRunsAsRoot', 'JSONArgsRecommended', 'MaintainerDeprecated', 'UndefinedVar']);
    // The build history keeps them, with their rule, line and fix.
    const shown = runCli(['--root', join(env.work, 'root'), 'history', 'show', '^1', '--json']);
    assert.equal(shown.status, 0, shown.stderr);
    const recorded = (JSON.parse(shown.stdout) as { warnings: { rule?: string; location?: { line: number }; detail?: string }[] }).warnings;
    const kept = recorded.find((w) => w.rule === 'MaintainerDeprecated');
    assert.equal(kept?.location?.line, 2, shown.stdout);
    assert.match(kept.detail ?? '', /LABEL org\.opencontainers\.image\.authors/);
    assert.deepEqual(recorded.flatMap((w) => (w.rule === undefined ? [] : [w.rule])).sort(), warnings.map((w) => w.rule).sort());
    const warnedAt = run.events.findIndex((e) => e.type === 'build.warning' && e.rule !== undefined);
    const firstStep = run.events.findIndex((e) => e.type === 'vertex.started' && / RUN /.test(e.name));
    assert.ok(warnedAt !== -1 && (firstStep === -1 || warnedAt < firstStep), 'checks are reported before the steps run');
  });

  it('plain progress prints file:line, rule, message and fix, and buildx\'s "N warnings found" summary', () => {
    const dir = contextWith('plain', `FROM ${env.busybox}\nMAINTAINER me\nUSER 1000\nCMD ["true"]\n`);
    const run = runCli(['--root', join(env.work, 'root'), 'build', '--progress=plain', '-f', join(dir, 'Dockerfile'), '-o', `type=local,dest=${join(env.work, 'plain-out')}`, dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /WARNING: \S*Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\n {2}fix: write LABEL/);
    assert.match(run.stderr, /\n 2 warnings found:\n - BaseImageNotPinned: Base image \S+ is not pinned by digest \(\S*Dockerfile:1\)\n {3}fix: .*\n - MaintainerDeprecated: /);
  });

  it('# check=error=true fails the build (CHECK_FAILED, exit 1) after reporting, before any step; skip= silences', () => {
    const strict = contextWith('strict', `# check=error=true\nFROM ${env.busybox}\nRUN touch /ran\nMAINTAINER me\n`);
    const failed = env.build(['-o', `type=local,dest=${join(env.work, 'strict-out')}`, strict]);
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stderr, /error: lint violation found for rules: BaseImageNotPinned, FinalStageRunsAsRoot, MaintainerDeprecated/);
    assert.ok(failed.events.some((e) => e.type === 'build.warning' && e.rule === 'MaintainerDeprecated'));
    assert.ok(!failed.events.some((e) => e.type === 'vertex.started' && /RUN touch/.test(e.name)), 'no step ran');
    assert.ok(failed.events.some((e) => e.type === 'build.failed'));

    const skipped = contextWith('skipped', `# check=error=true;skip=BaseImageNotPinned,FinalStageRunsAsRoot,MaintainerDeprecated\nFROM ${env.busybox}\nRUN touch /ran\nMAINTAINER me\n`);
    const ok = env.build(['-o', `type=local,dest=${join(env.work, 'skipped-out')}`, skipped]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(!ok.events.some((e) => e.type === 'build.warning' && e.rule !== undefined));
  });
});
