import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, contextKey, convertDockerfile, loadDockerfile, parseBuildContextFlag, type ConvertNamedContext, type ConvertResult } from '../../../src/dockerfile/index.js';
import type { Vertex } from '../../../src/plan/index.js';
import { AMD64, baseImage, chain } from './convert-helpers.js';

async function convert(text: string, contexts: Record<string, ConvertNamedContext>, target?: string): Promise<{ result: ConvertResult; resolved: string[] }> {
  const parsed = loadDockerfile(text, 'Dockerfile');
  const resolved: string[] = [];
  const result = await convertDockerfile(parsed, {
    lex: new ShellLex({ escapeToken: parsed.escapeToken }),
    target,
    buildPlatform: AMD64,
    resolveImage: (ref) => {
      resolved.push(ref);
      return Promise.resolve({ ref: `${ref}@sha256:${'0'.repeat(64)}`, image: baseImage({ Env: [`FROM_IMAGE=${ref}`] }) });
    },
    namedContexts: new Map(Object.entries(contexts)),
  });
  return { result, resolved };
}

const usage = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(`${e.message} ${e.hint ?? ''}`);

describe('--build-context flag', () => {
  it('normalises names to the familiar reference without :latest, as buildx', () => {
    for (const name of ['alpine', 'alpine:latest', 'docker.io/library/alpine', 'index.docker.io/library/alpine:latest']) assert.equal(contextKey(name), 'alpine', name);
    assert.equal(contextKey('alpine:3.19'), 'alpine:3.19');
    assert.equal(contextKey('ghcr.io/org/tool'), 'ghcr.io/org/tool');
    assert.equal(contextKey('my_stage-2'), 'my_stage-2');
    assert.equal(contextKey('Builder'), undefined, 'names are lower case');
    assert.equal(contextKey(`a@sha256:${'1'.repeat(64)}`), undefined, 'no digest');
    assert.equal(contextKey(''), undefined);
  });

  it('reads each form', () => {
    assert.deepEqual(parseBuildContextFlag('assets=./dir'), { name: 'assets', spec: { kind: 'local', dir: './dir' } });
    assert.deepEqual(parseBuildContextFlag('docker.io/library/alpine:latest=/abs/dir=x'), { name: 'alpine', spec: { kind: 'local', dir: '/abs/dir=x' } });
    assert.deepEqual(parseBuildContextFlag('alpine=docker-image://busybox:1.36'), { name: 'alpine', spec: { kind: 'image', ref: 'busybox:1.36' } });
    assert.deepEqual(parseBuildContextFlag('base=docker-image://scratch'), { name: 'base', spec: { kind: 'scratch' } });
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseBuildContextFlag('b=oci-layout:///srv/layout'), { name: 'b', spec: { kind: 'oci-layout', dir: '/srv/layout' } });
    assert.deepEqual(parseBuildContextFlag('b=oci-layout://./out:v2'), { name: 'b', spec: { kind: 'oci-layout', dir: './out', tag: 'v2' } });
    assert.deepEqual(parseBuildContextFlag(`b=oci-layout://out@${digest}`), { name: 'b', spec: { kind: 'oci-layout', dir: 'out', digest } });
    assert.deepEqual(parseBuildContextFlag(`b=oci-layout://out:v1@${digest}`), { name: 'b', spec: { kind: 'oci-layout', dir: 'out', tag: 'v1', digest } });
    assert.deepEqual(parseBuildContextFlag('b=oci-layout:///a:b/layout'), { name: 'b', spec: { kind: 'oci-layout', dir: '/a:b/layout' } }, 'a colon before the last / is part of the path');
  });

  it('refuses what it cannot build, naming the flag', () => {
    assert.throws(() => parseBuildContextFlag('x=https://github.com/moby/buildkit.git'), usage(/not supported by stagecraft yet/));
    assert.throws(() => parseBuildContextFlag('x=https://example.com/ctx.tar.gz'), usage(/not supported by stagecraft yet/));
    assert.throws(() => parseBuildContextFlag('x=git@github.com:a/b.git'), usage(/not supported by stagecraft yet/));
    assert.throws(() => parseBuildContextFlag('x=s3://bucket'), usage(/unsupported context source s3:\/\//));
    assert.throws(() => parseBuildContextFlag('x=target:other'), usage(/bake feature/));
    assert.throws(() => parseBuildContextFlag('x'), usage(/expected NAME=VALUE/));
    assert.throws(() => parseBuildContextFlag('=dir'), usage(/expected NAME=VALUE/));
    assert.throws(() => parseBuildContextFlag('x='), usage(/expected NAME=VALUE/));
    assert.throws(() => parseBuildContextFlag('Upper=dir'), usage(/invalid context name "Upper"/));
    assert.throws(() => parseBuildContextFlag('x=oci-layout://'), usage(/needs the path/));
    assert.throws(() => parseBuildContextFlag('x=oci-layout://d@sha256:12'), (e: unknown) => e instanceof StagecraftError && e.code === 'INVALID_DIGEST');
    assert.throws(() => parseBuildContextFlag('x=docker-image://Busybox'), (e: unknown) => e instanceof StagecraftError && e.code === 'INVALID_REFERENCE' && /--build-context x=docker-image:\/\/Busybox/.test(e.message));
  });
});

describe('named contexts in the stage graph and plan', () => {
  const ops = (result: ConvertResult): readonly Vertex[] => result.plan.vertices;

  it('a context named like a stage replaces it: its instructions and the stages it needs are not converted', async () => {
    const { result } = await convert('FROM busybox AS deps\nRUN echo deps\nFROM busybox AS gen\nCOPY --from=deps / /\nRUN exit 1\nFROM busybox\nCOPY --from=gen /a /a\n', { gen: { kind: 'local' } });
    assert.equal(result.graph.stages[1]?.replaced, true);
    assert.deepEqual(result.graph.stages[1]?.base, { kind: 'named', name: 'gen' });
    assert.deepEqual(result.graph.needed, [1, 2], 'deps is needed only by the replaced stage');
    assert.ok(!ops(result).some((v) => v.op.type === 'exec'), 'no RUN of the replaced stages');
    const copy = chain(result, 2).at(-1);
    assert.equal(copy?.op.type, 'file');
    const source = ops(result).find((v) => v.id === copy?.inputs[1]);
    assert.equal(source?.op.type, 'file', 'the stage is the directory as a layer');
    const context = ops(result).find((v) => v.id === source?.inputs[1]);
    assert.deepEqual(context?.op, { type: 'context', name: 'named:gen', include: [''] });
  });

  it('FROM and --from look up an earlier stage first, then scratch, then a named context, then an image', async () => {
    const { result, resolved } = await convert([
      'FROM docker.io/library/alpine:latest AS one',
      'FROM one AS two',
      'FROM scratch AS three',
      'COPY --from=alpine /etc/os-release /',
      'COPY --from=tools /bin/tool /bin/',
      'RUN --mount=from=tools,source=/lib,target=/lib true',
      'COPY --from=one /x /x',
      '',
    ].join('\n'), { alpine: { kind: 'image', ref: 'registry.local/alpine@sha256:' + 'b'.repeat(64) }, tools: { kind: 'local' }, scratch: { kind: 'local' }, one: { kind: 'scratch' } }, 'three');
    const { graph } = result;
    assert.deepEqual(graph.stages[0]?.base, { kind: 'named', name: 'one' }, 'stage "one" is replaced by its context');
    assert.deepEqual(graph.stages[1]?.base, { kind: 'stage', index: 0 });
    assert.deepEqual(graph.stages[2]?.base, { kind: 'scratch' }, 'FROM scratch is never a context');
    assert.deepEqual(graph.stages[2]?.dependencies.map((d) => d.source), [
      { kind: 'named', name: 'alpine' }, { kind: 'named', name: 'tools' }, { kind: 'named', name: 'tools' }, { kind: 'stage', index: 0 },
    ]);
    assert.deepEqual(resolved, [], 'no image is resolved: COPY --from an image needs no config');
    const contexts = ops(result).filter((v) => v.op.type === 'context').map((v) => v.op);
    assert.deepEqual(contexts, [{ type: 'context', name: 'named:tools', include: ['/bin/tool'] }, { type: 'context', name: 'named:tools', include: ['/lib'] }],
      'a directory context is read only where its consumers look (each step keyed by its own files)');
    assert.ok(ops(result).some((v) => v.op.type === 'image' && v.op.ref === `registry.local/alpine@sha256:${'b'.repeat(64)}`));
  });

  it('a docker-image context replaces a FROM image by its normalised name and gives the stage its config', async () => {
    const { result, resolved } = await convert('FROM docker.io/library/alpine\nRUN true\n', { alpine: { kind: 'image', ref: 'busybox:1.36' } });
    assert.deepEqual(resolved, ['busybox:1.36']);
    assert.ok(result.target.image.config.Env?.includes('FROM_IMAGE=busybox:1.36'));
    assert.equal(result.target.baseRef, `busybox:1.36@sha256:${'0'.repeat(64)}`);
    const base = chain(result, 0)[0];
    assert.deepEqual(base?.op, { type: 'image', ref: `busybox:1.36@sha256:${'0'.repeat(64)}`, platform: { os: 'linux', architecture: 'amd64' } });
  });

  it('without named contexts, names resolve as before', async () => {
    const { result, resolved } = await convert('FROM alpine\nCOPY --from=tools /a /a\n', {});
    assert.deepEqual(resolved, ['alpine']);
    assert.deepEqual(result.graph.stages[0]?.dependencies[0]?.source, { kind: 'image', ref: 'tools' });
  });
});
