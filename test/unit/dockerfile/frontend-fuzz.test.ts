import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError, parsePlatform } from '../../../src/core/index.js';
import { ShellLex, buildStageGraph, loadDockerfile } from '../../../src/dockerfile/index.js';

const testfiles = new URL('../../fixtures/buildkit/parser-testfiles/', import.meta.url);
const seeds = readdirSync(testfiles).map((name) => readFileSync(new URL(`${name}/Dockerfile`, testfiles), 'utf8'));
const fragments = [
  'FROM a AS b\n', 'FROM b\n', 'ARG X=1\n', 'COPY --from=b /a /b\n', 'COPY --from=0 a b\n', 'RUN --mount=type=cache,target=/c true\n',
  'RUN --mount=from=b,target=/x true\n', 'ENV A=$X\n', 'FROM ${X:-busybox}\n', 'ONBUILD RUN x\n', 'HEALTHCHECK --interval=1s CMD x\n',
  'COPY <<EOF /x\nhi\nEOF\n', 'EXPOSE 80\n', 'LABEL a=b\n', 'WORKDIR /w\n', 'COPY --from=9 a b\n', 'RUN --network=none x\n', '\\\n', '#x\n',
];

function frontend(text: string): void {
  try {
    const parsed = loadDockerfile(text, 'Dockerfile');
    buildStageGraph(parsed, { lex: new ShellLex({ escapeToken: parsed.escapeToken }), buildPlatform: parsePlatform('linux/amd64') });
  } catch (error) {
    if (!(error instanceof StagecraftError)) throw error;
  }
}

describe('frontend robustness (parser + instructions + stage graph)', () => {
  it('throws only StagecraftError on Dockerfiles assembled from fragments', { timeout: 60_000 }, () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...fragments), { maxLength: 12 }), (parts) => frontend(parts.join(''))), { numRuns: 2000 });
  });

  it('throws only StagecraftError on mutated real Dockerfiles', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.nat(), fc.string({ maxLength: 8 }), (seed, at, insert) => {
        const i = at % (seed.length + 1);
        frontend(seed.slice(0, i) + insert + seed.slice(i));
        frontend(seed.slice(0, i) + seed.slice(i + insert.length));
      }),
      { numRuns: 2000 },
    );
  });

  it('every parser test file loads or fails with a located error', () => {
    for (const seed of seeds) {
      try {
        loadDockerfile(seed, 'Dockerfile');
      } catch (error) {
        assert.ok(error instanceof StagecraftError && error.location !== undefined, String(error));
      }
    }
  });
});
