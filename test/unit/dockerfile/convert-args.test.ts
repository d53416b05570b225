import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError, isStagecraftError, parsePlatform } from '../../../src/core/index.js';
import { chain, convert, execs } from './convert-helpers.js';

const envOf = (env: readonly string[], key: string): string | undefined => env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1);

describe('ARG scoping', () => {
  const dockerfile = [
    'ARG BASE=alpine',
    'ARG VERSION=1.0',
    'ARG ONLYGLOBAL=g',
    'FROM ${BASE}:${VERSION} AS build',
    'ARG VERSION',
    'ARG LOCAL=local-default',
    'RUN echo $VERSION $LOCAL $ONLYGLOBAL',
    'FROM build AS child',
    'RUN echo child',
    'FROM scratch AS other',
    'RUN echo $VERSION',
  ].join('\n');

  it('uses global ARGs in FROM and inherits their value when re-declared without a default', async () => {
    const result = await convert(dockerfile, { target: 'build' });
    assert.equal(result.graph.stages[0]?.baseName, 'alpine:1.0');
    const [run] = execs(result, 0);
    assert.equal(envOf(run?.env ?? [], 'VERSION'), '1.0');
    assert.equal(envOf(run?.env ?? [], 'LOCAL'), 'local-default');
    assert.equal(envOf(run?.env ?? [], 'ONLYGLOBAL'), undefined, 'a global ARG is not visible in a stage that does not re-declare it');
  });

  it('lets --build-arg override global and stage defaults', async () => {
    const result = await convert(dockerfile, { target: 'build', buildArgs: { VERSION: '2.0', LOCAL: 'cli', BASE: 'debian' } });
    assert.equal(result.graph.stages[0]?.baseName, 'debian:2.0');
    const [run] = execs(result, 0);
    assert.equal(envOf(run?.env ?? [], 'VERSION'), '2.0');
    assert.equal(envOf(run?.env ?? [], 'LOCAL'), 'cli');
  });

  it('records declared ARGs in the RUN history line as BuildKit does', async () => {
    const result = await convert(dockerfile, { target: 'build' });
    const runHistory = result.stages.get(0)?.image.history.find((h) => h.created_by?.startsWith('RUN'));
    assert.equal(runHistory?.created_by, 'RUN |2 VERSION=1.0 LOCAL=local-default /bin/sh -c echo $VERSION $LOCAL $ONLYGLOBAL # buildkit');
  });

  it('carries a stage\'s ARGs into stages built FROM it', async () => {
    const result = await convert(dockerfile, { target: 'child' });
    const [run] = execs(result, 1).slice(-1);
    assert.equal(envOf(run?.env ?? [], 'LOCAL'), 'local-default');
  });

  it('does not leak ARGs into unrelated stages', async () => {
    const result = await convert(dockerfile, { target: 'other' });
    const [run] = execs(result, 2);
    assert.equal(envOf(run?.env ?? [], 'VERSION'), undefined);
  });

  it('lets ENV override an ARG of the same name in later steps', async () => {
    const result = await convert('FROM scratch\nARG X=arg\nENV X=env\nRUN echo $X');
    const [run] = execs(result, 0);
    assert.equal(envOf(run?.env ?? [], 'X'), 'env');
  });

  it('expands ARG defaults with earlier values', async () => {
    const result = await convert('FROM scratch\nARG A=one\nARG B=${A}-two\nRUN true');
    assert.equal(envOf(execs(result, 0)[0]?.env ?? [], 'B'), 'one-two');
  });

  it('provides the platform ARGs to stages that declare them', async () => {
    const result = await convert('FROM --platform=$BUILDPLATFORM scratch\nARG TARGETPLATFORM\nARG TARGETARCH\nARG TARGETVARIANT\nARG BUILDOS\nRUN true', {
      platform: parsePlatform('linux/arm/v7'),
    });
    const env = execs(result, 0)[0]?.env ?? [];
    assert.equal(envOf(env, 'TARGETPLATFORM'), 'linux/arm/v7');
    assert.equal(envOf(env, 'TARGETARCH'), 'arm');
    assert.equal(envOf(env, 'TARGETVARIANT'), 'v7');
    assert.equal(envOf(env, 'BUILDOS'), 'linux');
    assert.equal(result.graph.stages[0]?.platform, 'linux/amd64');
  });

  it('gives the platform ARGs normalized as BuildKit does (arm64/v8 is arm64, x86_64 is amd64)', async () => {
    const result = await convert('FROM scratch\nARG TARGETPLATFORM\nARG TARGETVARIANT\nRUN true', { platform: parsePlatform('linux/aarch64/v8') });
    const env = execs(result, 0)[0]?.env ?? [];
    assert.equal(envOf(env, 'TARGETPLATFORM'), 'linux/arm64');
    assert.equal(envOf(env, 'TARGETVARIANT'), '');
    assert.equal(result.target.image.architecture, 'arm64');
    assert.equal(result.target.image.variant, undefined);
    const stage = await convert('FROM --platform=linux/x86_64 busybox\nRUN true', { platform: parsePlatform('linux/arm64') });
    const [image] = chain(stage, 0);
    assert.ok(image?.op.type === 'image');
    assert.deepEqual({ ...image.op.platform }, { os: 'linux', architecture: 'amd64' });
  });

  it('refuses an invalid FROM --platform at its line, as a Dockerfile error', async () => {
    for (const text of ['linux', 'linux/amd 64', 'linux/amd64/v2/x', 'linux/amd64,linux/arm64']) {
      await assert.rejects(convert(`FROM scratch\nFROM --platform=${text} scratch\nRUN true`), (e: unknown) =>
        isStagecraftError(e) && e.code === 'DOCKERFILE_INSTRUCTION' && e.message.startsWith('Dockerfile:2: ') && e.location?.range.start.line === 2, text);
    }
  });

  it('warns about build args no needed stage declares, but not about proxy args', async () => {
    const result = await convert('ARG USED\nFROM scratch\nARG ALSO\nRUN true', { buildArgs: { USED: '1', ALSO: '2', TYPO: '3', HTTP_PROXY: 'http://p' } });
    assert.deepEqual(result.graph.unusedBuildArgs, ['TYPO']);
    assert.match(result.warnings[0] ?? '', /\[TYPO\] were not consumed/);
  });

  it('passes proxy args to RUN without putting them in the key-relevant env or history', async () => {
    const result = await convert('FROM scratch\nRUN true', { buildArgs: { HTTP_PROXY: 'http://proxy:3128' } });
    const [run] = execs(result, 0);
    assert.deepEqual(run?.proxyEnv, ['HTTP_PROXY=http://proxy:3128']);
    assert.equal(envOf(run?.env ?? [], 'HTTP_PROXY'), undefined);
    assert.ok(!JSON.stringify(result.stages.get(0)?.image.history).includes('proxy:3128'));
  });

  it('errors when FROM expands to nothing', async () => {
    await assert.rejects(convert('ARG IMG\nFROM $IMG\n'), (e: unknown) => e instanceof StagecraftError && /base name \(\$IMG\) should not be blank/.test(e.message) && e.location?.range.start.line === 2);
  });
});
