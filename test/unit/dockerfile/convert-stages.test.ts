import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { parseImageConfig } from '../../../src/oci/index.js';
import { convert } from './convert-helpers.js';

const stageError = (pattern: RegExp) => (e: unknown): boolean => e instanceof StagecraftError && e.code === 'DOCKERFILE_STAGE' && pattern.test(`${e.message} ${e.hint ?? ''}`);

const multi = [
  'FROM busybox AS Base',
  'RUN echo base',
  'FROM base AS build',
  'RUN echo build',
  'FROM busybox AS docs',
  'RUN echo docs',
  'FROM busybox AS test',
  'COPY --from=BUILD /out /out',
  'FROM busybox',
  'COPY --from=1 /out /app',
  'RUN --mount=type=bind,from=base,target=/b true',
].join('\n');

describe('stage graph', () => {
  it('keeps only the stages the target needs, by case-insensitive name or index', async () => {
    const all = await convert(multi);
    assert.deepEqual(all.graph.needed, [0, 1, 4]);
    assert.deepEqual([...all.stages.keys()].sort(), [0, 1, 4]);
    const test = await convert(multi, { target: 'TEST' });
    assert.deepEqual(test.graph.needed, [0, 1, 3]);
    const docs = await convert(multi, { target: 'docs' });
    assert.deepEqual(docs.graph.needed, [2]);
  });

  it('records how each stage depends on the others', async () => {
    const { graph } = await convert(multi);
    assert.deepEqual(graph.stages[1]?.base, { kind: 'stage', index: 0 });
    assert.deepEqual(graph.stages[3]?.dependencies.map((d) => [d.via, d.source]), [['copy', { kind: 'stage', index: 1 }]]);
    assert.deepEqual(graph.stages[4]?.dependencies.map((d) => [d.via, d.source]), [['copy', { kind: 'stage', index: 1 }], ['mount', { kind: 'stage', index: 0 }]]);
    assert.ok(graph.order.indexOf(0) < graph.order.indexOf(1));
  });

  it('treats an unknown --from name as an image', async () => {
    const { graph } = await convert('FROM scratch\nCOPY --from=nginx:1 /etc/nginx /etc/nginx');
    assert.deepEqual(graph.stages[0]?.dependencies[0]?.source, { kind: 'image', ref: 'nginx:1' });
  });

  it('rejects duplicate stage names, bad indexes, cycles, variables in --from and unknown targets', async () => {
    await assert.rejects(convert('FROM a AS x\nFROM b AS X'), stageError(/duplicate stage name "x"/));
    await assert.rejects(convert('FROM a\nCOPY --from=3 /a /b'), stageError(/invalid stage index 3/));
    await assert.rejects(convert('FROM a AS one\nCOPY --from=two /a /b\nFROM b AS two\nCOPY --from=one /a /b'), stageError(/circular dependency detected on stage: (one|two)/));
    await assert.rejects(convert('FROM a AS one\nCOPY --from=one /a /b'), stageError(/circular dependency/));
    await assert.rejects(convert('FROM a AS one\nARG S=one\nCOPY --from=$S /a /b'), stageError(/variable expansion is not supported for --from/));
    await assert.rejects(convert(multi, { target: 'buidl' }), stageError(/target stage "buidl" could not be found.*did you mean "build"\?/));
  });

  it('errors when an instruction comes before the first FROM', async () => {
    await assert.rejects(convert('RUN true\nFROM a'), stageError(/no build stage in current context/));
  });

  it('handles a chain of as many stages as the limit allows (1,000) without recursion limits; refuses one more', async () => {
    const lines = ['FROM scratch AS s0'];
    for (let i = 1; i < 1_000; i++) lines.push(`FROM s${i - 1} AS s${i}`);
    const { graph } = await convert(lines.join('\n'));
    assert.equal(graph.needed.length, 1_000);
    assert.equal(graph.order[0], 0);
    await assert.rejects(convert([...lines, 'FROM s999 AS s1000'].join('\n')), (e: unknown) =>
      stageError(/^Dockerfile:1001: the Dockerfile has more than 1000 stages Split/)(e) && e instanceof StagecraftError && e.location?.range.start.line === 1001);
  });
});

describe('a base image\'s oci ImageConfig as the stage\'s start', () => {
  it('reads a config with null or absent parts and never changes the base', async () => {
    // As a registry serves it (after the oci schema): no config, no history.
    const bare = parseImageConfig(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: null, rootfs: { type: 'layers', diff_ids: [] }, history: null })), { source: 'bare' });
    const fromBare = await convert('FROM bare\nENV A=1\nLABEL l=v', { images: { bare } });
    assert.deepEqual(fromBare.target.image.config.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
    assert.deepEqual(fromBare.target.image.config.Labels, { l: 'v' });
    assert.equal(fromBare.target.image.history.length, 2);
    assert.equal(bare.config, undefined);
    assert.equal(bare.history, undefined);

    const rich = parseImageConfig(Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] },
      config: { Env: ['PATH=/bin'], Labels: { a: '1' }, ExposedPorts: { '80/tcp': {} }, Healthcheck: { Interval: 5 }, OnBuild: ['LABEL from=trigger'] },
      history: [{ created_by: 'base' }],
    })), { source: 'rich' });
    const before = JSON.stringify(rich);
    const fromRich = await convert('FROM rich\nLABEL b=2\nEXPOSE 53/udp\nENV X=y', { images: { rich } });
    const config = fromRich.target.image.config;
    assert.deepEqual(config.Labels, { a: '1', from: 'trigger', b: '2' });
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['80/tcp', '53/udp']);
    assert.deepEqual(config.Healthcheck, { Interval: 5, Test: [] }, 'a healthcheck without Test gets an empty one, as BuildKit\'s struct');
    assert.equal(config.OnBuild, undefined, 'the base\'s triggers ran and are not inherited');
    assert.equal(JSON.stringify(rich), before, 'the base config is copied, not changed');
  });
});
