import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError, parsePlatform } from '../../src/core/index.js';
import { loadDockerfile, requiredMountsOfDockerfile, ShellLex } from '../../src/dockerfile/index.js';
import { parseOutputSpec, resolveExporters } from '../../src/exporter/index.js';

const usageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'USAGE' && pattern.test(e.message);
const resolve = (outputs: string[], extra: { tags?: string[]; push?: boolean } = {}): ReturnType<typeof resolveExporters> =>
  resolveExporters({ outputs: outputs.map(parseOutputSpec), tags: extra.tags ?? [], push: extra.push ?? false });

describe('resolveExporters: every output checked together before any work (library callers too)', () => {
  it('refuses two local/tar outputs, two compressions, two outputs on stdout', () => {
    assert.throws(() => resolve(['type=local,dest=a', 'type=tar,dest=b.tar']), usageError(/only one local or tar output/));
    assert.throws(() => resolve(['type=oci,dest=a.tar,compression=zstd', 'type=docker,dest=b.tar,compression=gzip']), usageError(/different layer compressions/));
    assert.throws(() => resolve(['type=oci,dest=-', '-']), usageError(/only one output can go to stdout/));
  });

  it('refuses a bad -t before the build, not after it', () => {
    assert.throws(() => resolve([], { tags: ['Bad:Name:x'] }), (e: unknown) => e instanceof StagecraftError);
  });

  it('names, pushes and compresses as buildx: plain layers for a local-only image, gzip when it leaves', () => {
    const local = resolve([], { tags: ['app:1', 'docker.io/library/app:1'] });
    assert.deepEqual(local.names, ['docker.io/library/app:1']);
    assert.equal(local.compression, undefined);
    assert.equal(local.exporters.length, 1, 'only the image exporter');
    const pushed = resolve(['type=image,name=reg.example/app:2,push=true', 'type=oci,dest=x.tar'], { tags: ['app:1'] });
    assert.deepEqual(pushed.names, ['docker.io/library/app:1', 'reg.example/app:2']);
    assert.equal(pushed.compression?.compression, 'gzip');
    assert.equal(pushed.exporters.length, 3, 'image, registry (one push of reg.example/app:2), oci archive');
    assert.equal(resolve(['type=image,name=a:1,oci-mediatypes=false']).dockerMediaTypes, true);
  });
});

describe('requiredMountsOfDockerfile: the check needs no base image', () => {
  const required = (text: string, target?: string): string[] => {
    const parsed = loadDockerfile(text, 'Dockerfile');
    const platform = parsePlatform('linux/amd64');
    return requiredMountsOfDockerfile(parsed, { lex: new ShellLex({ escapeToken: parsed.escapeToken }), buildPlatform: platform, targetPlatform: platform, target })
      .map((m) => `${m.type}:${m.id}@${m.location?.range.start.line ?? '?'}`);
  };

  it('lists required secrets and ssh ids of the needed stages with their lines', () => {
    const text = [
      'FROM unreachable.example/a AS a',
      'RUN --mount=type=secret,id=only-a,required=true true',
      'FROM unreachable.example/b',
      'RUN --mount=type=secret,id=tok,required true',
      'RUN --mount=type=secret,target=/run/secrets/npmrc,required=true --mount=type=ssh,required=true true',
      'RUN --mount=type=secret,id=optional --mount=type=ssh,id=opt true',
      'RUN --mount=type=secret,id=$FROM_ARG,required=true true',
      '',
    ].join('\n');
    assert.deepEqual(required(text), ['secret:tok@4', 'secret:npmrc@5', 'ssh:default@5']);
    assert.deepEqual(required(text, 'a'), ['secret:only-a@2']);
  });
});
