/**
 * Entitlements (buildx --allow): parsing, and the checks that refuse host networking and insecure
 * RUN steps unless granted, before any step runs, naming the Dockerfile line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStagecraftError, parsePlatform } from '../../src/core/index.js';
import { loadDockerfile, convertDockerfile, ShellLex } from '../../src/dockerfile/index.js';
import { checkBuildEntitlements, checkPlanEntitlements, parseEntitlements } from '../../src/engine/index.js';

function usageError(pattern: RegExp, hint: RegExp, line?: number): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), String(error));
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, pattern);
    assert.match(error.hint ?? '', hint);
    if (line !== undefined) assert.equal(error.location?.range.start.line, line);
    return true;
  };
}

async function plan(text: string, target?: string): Promise<Parameters<typeof checkPlanEntitlements>[0]> {
  const parsed = loadDockerfile(text, 'Dockerfile');
  const platform = parsePlatform('linux/amd64');
  const converted = await convertDockerfile(parsed, {
    lex: new ShellLex({ escapeToken: parsed.escapeToken }),
    buildArgs: new Map(),
    target,
    buildPlatform: platform,
    targetPlatform: platform,
    resolveImage: () => Promise.reject(new Error('no images in this test')),
    parseTriggers: () => [],
    noCache: false,
    noCacheFilter: new Set(),
    sourceDateEpoch: undefined,
  });
  return converted.plan.vertices;
}

describe('entitlements', () => {
  it('parses --allow values, repeated or comma-separated, and refuses unknown ones with a suggestion', () => {
    assert.deepEqual(parseEntitlements([]), []);
    assert.deepEqual(parseEntitlements(['network.host', 'security.insecure,network.host']), ['network.host', 'security.insecure']);
    assert.throws(() => parseEntitlements(['network.hots']), usageError(/unknown entitlement "network\.hots"/, /did you mean network\.host/));
  });

  it('--network=host needs network.host', () => {
    assert.throws(() => checkBuildEntitlements('host', []), usageError(/--network=host: network\.host is not allowed/, /--allow network\.host/));
    assert.throws(() => checkBuildEntitlements('host', ['security.insecure']), /network\.host is not allowed/);
    checkBuildEntitlements('host', ['network.host']);
    checkBuildEntitlements('default', []);
    checkBuildEntitlements('none', []);
  });

  it('RUN --network=host and RUN --security=insecure need their entitlement; the error names the line', async () => {
    const vertices = await plan('FROM scratch\nRUN echo ok\nRUN --network=host echo host\nRUN --security=insecure echo insecure\n');
    assert.throws(() => checkPlanEntitlements(vertices, []), usageError(/RUN --network=host: network\.host is not allowed/, /--allow network\.host/, 3));
    assert.throws(() => checkPlanEntitlements(vertices, ['network.host']), usageError(/RUN --security=insecure: security\.insecure is not allowed/, /--allow security\.insecure/, 4));
    checkPlanEntitlements(vertices, ['network.host', 'security.insecure']);
    checkPlanEntitlements(await plan('FROM scratch\nRUN --network=none echo a\nRUN --network=default --security=sandbox echo b\n'), []);
  });

  it('only steps the target needs count (as BuildKit checks solved ops)', async () => {
    const vertices = await plan('FROM scratch AS tool\nRUN --network=host echo host\nFROM scratch AS app\nRUN echo app\n', 'app');
    checkPlanEntitlements(vertices, []);
  });
});
