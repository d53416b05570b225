/**
 * Issue 13, fault 14: randomly mutated copies of valid (multi-stage) Dockerfiles must end in a typed
 * StagecraftError, a Dockerfile error naming its line, never another exception or a hang. Seeds are
 * examples/hello and every conformance case; mutations are line edits (delete, duplicate, swap),
 * inserted text (Dockerfile syntax, random unicode, control characters), truncation, flag flips and
 * huge repeats. The whole frontend runs: parse → instructions → stage graph → convert (with ONBUILD
 * triggers from the base image). Seeded, so a failure reproduces; fast-check prints the shrunk input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { StagecraftError } from '../../../src/core/index.js';
import { SEEDS, TRIGGERS, frontend, mutatedDockerfile } from './mutation-helpers.js';

/** A Dockerfile error names its line: a location, and the `Dockerfile:N:` prefix or an excerpt the renderer shows. */
function assertLocated(error: StagecraftError | undefined, text: string): void {
  if (error === undefined) return;
  if (error.code === 'DOCKERFILE_SYNTAX' || error.code === 'DOCKERFILE_INSTRUCTION' || error.code === 'SHELL_EXPANSION' || error.code === 'INVALID_PATTERN') {
    assert.ok(error.location !== undefined, `no location for ${error.code}: ${error.message}\n--- input:\n${text.slice(0, 2000)}`);
    assert.equal(error.location.file, 'Dockerfile');
    assert.ok(error.location.range.start.line >= 1, error.message);
  }
}

describe('mutated multi-stage Dockerfiles through the whole frontend (fault 14)', () => {
  it(`${SEEDS.length} seeds are valid`, async () => {
    for (const seed of SEEDS) assert.equal((await frontend(seed))?.message, undefined);
  });

  it('throw only located StagecraftErrors (4,000 mutants)', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(mutatedDockerfile, async (dockerfile) => {
        assertLocated(await frontend(dockerfile), dockerfile);
      }),
      { numRuns: 4000, seed: 13_014 },
    );
  });

  it('with ONBUILD triggers from the base image (1,000 mutants)', { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(mutatedDockerfile, fc.array(fc.constantFrom(...TRIGGERS), { minLength: 1, maxLength: 3 }), async (dockerfile, triggers) => {
        await frontend(dockerfile, triggers);
      }),
      { numRuns: 1000, seed: 13_015 },
    );
  });
});
