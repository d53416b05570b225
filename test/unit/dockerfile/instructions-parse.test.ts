import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { loadDockerfile } from '../../../src/dockerfile/index.js';

const load = (text: string) => loadDockerfile(text, 'Dockerfile');
const first = (text: string) => {
  const stage = load(text).stages.at(-1);
  const command = stage?.commands[0];
  if (command === undefined) throw new Error('no command');
  return command;
};
const rejects = (text: string, pattern: RegExp, line?: number): void => {
  assert.throws(() => load(text), (e: unknown) => {
    if (!(e instanceof StagecraftError) || !pattern.test(`${e.message} | ${e.hint ?? ''}`)) return false;
    if (line !== undefined) assert.equal(e.location?.range.start.line, line);
    return true;
  });
};

describe('typed instructions', () => {
  it('FROM with --platform and AS (case-insensitive, lower-cased name)', () => {
    const { from } = load('FROM --platform=linux/arm64 golang:1.22 As Builder').stages[0] ?? {};
    assert.deepEqual([from?.baseName, from?.stageName, from?.platform], ['golang:1.22', 'builder', 'linux/arm64']);
    rejects('FROM a b', /FROM requires either one or three arguments/, 1);
    rejects('FROM a AS 1x', /invalid name for build stage: "1x"/);
    rejects('FROM --plat=x a', /unknown flag: --plat.*did you mean --platform/);
  });

  it('ARG: several, with and without defaults', () => {
    const arg = load('ARG A B=2 C=').metaArgs[0];
    assert.deepEqual(arg?.args, [{ key: 'A' }, { key: 'B', value: '2' }, { key: 'C', value: '' }]);
    rejects('ARG =x', /ARG names can not be blank/);
  });

  it('RUN: flags, exec form, shell form', () => {
    const run = first('FROM a\nRUN --network=none --mount=type=cache,target=/c ["make", "all"]');
    assert.ok(run.kind === 'run');
    assert.deepEqual([run.network, run.prependShell, run.cmdLine, run.mounts[0]?.type], ['none', false, ['make', 'all'], 'cache']);
    rejects('FROM a\nRUN --network=bridge true', /invalid network mode "bridge"/, 2);
    rejects('FROM a\nRUN --security=root true', /security "root" is not valid/);
    rejects('FROM a\nRUN --mount=type=cache,target=/x,sharing=wide true', /unsupported sharing value "wide"/);
    rejects('FROM a\nRUN --mnt=type=cache true', /unknown flag: --mnt.*did you mean --mount/);
  });

  it('COPY and ADD flags', () => {
    const copy = first('FROM a\nCOPY --from=build --chown=1:2 --chmod=755 --link --parents --exclude=*.log --exclude=tmp src/./x /dst/');
    assert.ok(copy.kind === 'copy');
    assert.deepEqual([copy.from, copy.chown, copy.chmod, copy.link, copy.parents, copy.excludes, copy.sources, copy.dest],
      ['build', '1:2', '755', true, true, ['*.log', 'tmp'], ['src/./x'], '/dst/']);
    const add = first('FROM a\nADD --keep-git-dir=true --checksum=sha256:' + 'c'.repeat(64) + ' --unpack=false https://x/y.tgz /y');
    assert.ok(add.kind === 'add');
    assert.deepEqual([add.keepGitDir, add.checksum?.length, add.unpack], [true, 71, false]);
    rejects('FROM a\nCOPY onlyone', /COPY requires at least two arguments/);
    rejects('FROM a\nCOPY --chmod=999 a b', /invalid chmod parameter: 999/);
    rejects('FROM a\nADD --checksum=md5:abc http://x /y', /invalid checksum digest format/);
    rejects('FROM a\nCOPY --parents=maybe a b', /expecting boolean value for flag --parents/);
    rejects('FROM a\nADD --from=x a b', /unknown flag: --from/);
  });

  it('CMD, ENTRYPOINT, SHELL forms', () => {
    const cmd = first('FROM a\nCMD echo "hi there"');
    assert.ok(cmd.kind === 'cmd');
    assert.deepEqual([cmd.prependShell, cmd.cmdLine], [true, ['echo "hi there"']]);
    const entry = first('FROM a\nENTRYPOINT ["/bin/app", "--flag"]');
    assert.ok(entry.kind === 'entrypoint');
    assert.deepEqual([entry.prependShell, entry.cmdLine], [false, ['/bin/app', '--flag']]);
    rejects('FROM a\nSHELL /bin/bash -c', /SHELL requires the arguments to be in JSON form/);
  });

  it('single-argument instructions and lists', () => {
    const workdir = first('FROM a\nWORKDIR /a b');
    assert.ok(workdir.kind === 'workdir');
    assert.equal(workdir.path, '/a b', 'the rest of the line is one path, as in BuildKit');
    rejects('FROM a\nUSER', /USER requires exactly one argument/);
    const volume = first('FROM a\nVOLUME /a /b');
    assert.ok(volume.kind === 'volume');
    assert.deepEqual(volume.volumes, ['/a', '/b']);
    const expose = first('FROM a\nEXPOSE 8080 80');
    assert.ok(expose.kind === 'expose');
    assert.deepEqual(expose.ports, ['80', '8080'], 'sorted as BuildKit does');
  });

  it('HEALTHCHECK options and NONE', () => {
    const hc = first('FROM a\nHEALTHCHECK --interval=1m30s --timeout=10s --start-period=5s --start-interval=1s --retries=2 CMD ["true"]');
    assert.ok(hc.kind === 'healthcheck');
    assert.deepEqual(hc.health, { test: ['CMD', 'true'], interval: 90e9, timeout: 10e9, startPeriod: 5e9, startInterval: 1e9, retries: 2 });
    rejects('FROM a\nHEALTHCHECK --interval=1ns CMD true', /Interval "interval" cannot be less than 1ms/);
    rejects('FROM a\nHEALTHCHECK --timeout=soon CMD true', /invalid duration "soon"/);
    rejects('FROM a\nHEALTHCHECK --retries=-1 CMD true', /--retries cannot be negative/);
    rejects('FROM a\nHEALTHCHECK NONE extra', /HEALTHCHECK NONE takes no arguments/);
    rejects('FROM a\nHEALTHCHECK PING x', /Unknown type "PING" in HEALTHCHECK/);
    rejects('FROM a\nHEALTHCHECK CMD', /Missing command after HEALTHCHECK CMD/);
  });

  it('ONBUILD keeps its trigger text and rejects chaining', () => {
    const onbuild = first('FROM a\nONBUILD RUN make install');
    assert.ok(onbuild.kind === 'onbuild');
    assert.equal(onbuild.expression, 'RUN make install');
    rejects('FROM a\nONBUILD ONBUILD RUN x', /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
    rejects('FROM a\nONBUILD FROM b', /FROM isn't allowed as an ONBUILD trigger/);
    rejects('FROM a\nONBUILD MAINTAINER x', /MAINTAINER isn't allowed as an ONBUILD trigger/);
  });

  it('ENV and LABEL key/value forms; MAINTAINER', () => {
    const env = first('FROM a\nENV A=1 B="x y"');
    assert.ok(env.kind === 'env');
    assert.deepEqual(env.pairs.map((p) => [p.key, p.value]), [['A', '1'], ['B', '"x y"']]);
    const maintainer = first('FROM a\nMAINTAINER Jane <j@x>');
    assert.ok(maintainer.kind === 'maintainer');
  });

  it('unknown instructions get a suggestion and the line', () => {
    rejects('FROM a\nRUNN true', /unknown instruction: RUNN.*did you mean RUN/, 2);
    rejects('FROM a\nCOPPY a b', /unknown instruction: COPPY.*did you mean COPY/);
  });
});
