/**
 * Hostile Dockerfiles that blow up on variable expansion (issue 13, fault 9: an `ENV a=$b$b$b…` chain
 * took the process to 4.2 GB and SIGABRT) end in a Dockerfile error naming the line, quickly and with
 * bounded memory, because the limits are checked while values grow. Real-sized values still work.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, envFromList } from '../../../src/dockerfile/shell/index.js';
import { DOCKERFILE_LIMITS } from '../../../src/dockerfile/limits.js';
import { baseImage, convert } from './convert-helpers.js';

/** Converts `text` and returns the error, checking that the heap grew by less than `heapMiB`. */
async function convertError(text: string, heapMiB = 200): Promise<StagecraftError> {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  const started = Date.now();
  try {
    await convert(text);
  } catch (error) {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    assert.ok(error instanceof StagecraftError, `not a StagecraftError: ${String(error)}`);
    assert.ok((peak - before) / 2 ** 20 < heapMiB, `heap grew by ${Math.round((peak - before) / 2 ** 20)} MiB`);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    return error;
  } finally {
    clearInterval(timer);
  }
  assert.fail('expected the conversion to fail');
}

function chain(lines: number, copies: number, keyword = 'ENV'): string {
  const out = ['FROM scratch', `${keyword} v0=xxxxxxxxxx`];
  for (let i = 1; i <= lines; i++) out.push(`${keyword} v${i}=${`$v${i - 1}`.repeat(copies)}`);
  return out.join('\n');
}

describe('Dockerfile resource limits (fault 9)', () => {
  it('an ENV chain that multiplies the value by 10 per line stops at the environment limit, on its line', async () => {
    // v5 would be 10^6 · 10 characters; the environment passes 1 Mi characters at v5 (line 7).
    const error = await convertError(chain(30, 10));
    assert.equal(error.code, 'DOCKERFILE_INSTRUCTION');
    assert.match(error.message, /^Dockerfile:7: the stage's environment \(ENV and ARG values\) grows to \d+ characters, more than the limit of 1 Mi characters$/);
    assert.equal(error.location?.range.start.line, 7);
    assert.match(error.hint ?? '', /keep large data in files/);
  });

  it('a doubling ARG chain in a stage and before the first FROM stop the same way', async () => {
    const inStage = await convertError(chain(40, 2, 'ARG'));
    assert.equal(inStage.code, 'DOCKERFILE_INSTRUCTION');
    assert.match(inStage.message, /^Dockerfile:\d+: the stage's environment/);

    const global = ['ARG v0=xxxxxxxxxx', ...Array.from({ length: 40 }, (_, i) => `ARG v${i + 1}=$v${i}$v${i}`), 'FROM scratch'].join('\n');
    const error = await convertError(global);
    assert.equal(error.code, 'DOCKERFILE_INSTRUCTION');
    assert.match(error.message, /^Dockerfile:1\d: the global ARG values grow to \d+ characters, more than the limit of 1 Mi characters$/);
  });

  it('one instruction that expands a value thousands of times fails while expanding (SHELL_EXPANSION)', async () => {
    const text = ['FROM scratch', `ENV a=${'x'.repeat(1000)}`, `ENV b=${'$a'.repeat(20_000)}`].join('\n');
    const error = await convertError(text);
    assert.equal(error.code, 'SHELL_EXPANSION');
    assert.match(error.message, /: variables expand to more than \d+ characters, what is left of the limits \(8 Mi characters for one instruction, 64 Mi characters for the whole Dockerfile\)$/);
    assert.ok(error.message.length < 500, 'the message quotes the word shortened');
    assert.equal(error.location?.range.start.line, 3);
  });

  it('pattern replacement that multiplies a value fails while replacing', async () => {
    const value = 'x'.repeat(50_000);
    for (const word of ['${a//x/$a}', `\${a//?/${'\\$0'.repeat(400)}}`, `\${a/x/${'$a'.repeat(400)}}`]) {
      const error = await convertError(['FROM scratch', `ENV a=${value}`, `LABEL b=${word}`].join('\n'));
      assert.equal(error.code, 'SHELL_EXPANSION', word.slice(0, 20));
      assert.match(error.message, /variables expand to more than/);
      assert.equal(error.location?.range.start.line, 3);
    }
  });

  it('a large value repeated by every RUN (environment, history) or LABEL stops at the output limit', async () => {
    // ~900 KB of ARG value (under the environment limit), then steps that each repeat it.
    const big = ['FROM scratch', `ARG a=${'x'.repeat(60_000)}`, `ARG b=${'$a'.repeat(15)}`];
    const runs = await convertError([...big, ...Array.from({ length: 2000 }, (_, i) => `RUN echo ${i}`)].join('\n'));
    assert.equal(runs.code, 'DOCKERFILE_INSTRUCTION');
    assert.match(runs.message, /^Dockerfile:\d+: the Dockerfile produces more than 64 Mi characters of expanded values/);
    assert.ok((runs.location?.range.start.line ?? 0) < 100, 'fails at one of the first RUN steps');

    // Labels fail while expanding, when what is left of the 64 Mi characters is less than the value.
    const labels = await convertError([...big, ...Array.from({ length: 2000 }, (_, i) => `LABEL l${i}=$b`)].join('\n'));
    assert.equal(labels.code, 'SHELL_EXPANSION');
    assert.match(labels.message, /64 Mi characters for the whole Dockerfile/);
    assert.ok((labels.location?.range.start.line ?? 0) < 100, 'fails at one of the first LABELs');
  });

  it('real-sized values, environments and heredocs are untouched', async () => {
    const path = Array.from({ length: 200 }, (_, i) => `/opt/tool${i}/bin`).join(':');
    const result = await convert([
      'FROM scratch',
      `ENV PATH=${path}:$PATH`,
      `ARG BIG=${'y'.repeat(60_000)}`,
      `ENV BIG2=$BIG$BIG$BIG$BIG$BIG$BIG$BIG$BIG`,
      'LABEL a=$BIG2',
      ...Array.from({ length: 50 }, (_, i) => `RUN echo ${i}`),
      `COPY <<EOF /f\n${'z'.repeat(1000)}$BIG\nEOF`,
    ].join('\n'));
    const env = result.target.image.config.Env ?? [];
    assert.ok(env.includes(`BIG2=${'y'.repeat(480_000)}`));
    assert.equal(result.target.image.config.Labels?.a?.length, 480_000);
  });

  it('the lexer checks its limit while expanding, for every entry point', () => {
    const lex = new ShellLex();
    const env = envFromList([`A=${'a'.repeat(1000)}`, `B=${'b'.repeat(4000)}`]);
    assert.equal(lex.processWord('$A$A', env, 2004).length, 2000);
    for (const call of [
      () => lex.processWord('$A$A', env, 2003),
      () => lex.processWords('$A $A', env, 2000),
      () => lex.processWordWithMatches('${A:-x}${A/a/$A}', env, 2500),
      () => lex.processWord('${B//b/$B}', env),
    ]) {
      assert.throws(call, (e: unknown) => e instanceof StagecraftError && e.code === 'SHELL_EXPANSION' && /expand to more than/.test(e.message));
    }
    assert.equal(DOCKERFILE_LIMITS.instructionExpansionChars, 8 * 1024 * 1024);
  });

  it('a label or volume named __proto__ is kept as a key', async () => {
    const result = await convert('FROM scratch\nLABEL __proto__=x\nVOLUME __proto__');
    assert.deepEqual(Object.keys(result.target.image.config.Labels ?? {}), ['__proto__']);
    assert.deepEqual(Object.keys(result.target.image.config.Volumes ?? {}), ['__proto__']);
  });
});

describe('regressions found by the mutation tests (fault 14)', () => {
  it('an ONBUILD trigger FROM from the base image is a Dockerfile error at the FROM line, not an internal error', async () => {
    const images = { busybox: baseImage({}, ['FROM x']) };
    await assert.rejects(convert('ARG A\nFROM busybox\nRUN x', { images }), (e: unknown) =>
      e instanceof StagecraftError && e.code === 'DOCKERFILE_INSTRUCTION' && e.location?.file === 'Dockerfile' && e.location.range.start.line === 2 &&
      e.message === 'Dockerfile:2: ONBUILD trigger "FROM x" of the base: FROM isn\'t allowed as an ONBUILD trigger');
    const two = { busybox: baseImage({}, ['RUN a\nRUN b']) };
    await assert.rejects(convert('FROM busybox', { images: two }), /Dockerfile:1: ONBUILD trigger "RUN a\\nRUN b" of the base: onbuild trigger should be a single expression/);
  });

  it('a trigger that fails is located at the FROM that ran it, not at the trigger\'s own line', async () => {
    await assert.rejects(convert('FROM scratch AS parent\nONBUILD RFROM x\n\n\nFROM parent'), (e: unknown) =>
      e instanceof StagecraftError && e.location?.file === 'Dockerfile' && e.location.range.start.line === 5 && /^Dockerfile:5: ONBUILD trigger "RFROM x" of the base: /.test(e.message));
    await assert.rejects(convert('FROM scratch AS parent\nONBUILD RUN --mount=type=nope x\nFROM parent'), (e: unknown) =>
      e instanceof StagecraftError && e.location?.range.start.line === 3);
  });

  it('COPY with thousands of sources, and ARG/RUN pairs up to the instruction limit, convert in linear time', async () => {
    let started = Date.now();
    await convert(`FROM scratch\nCOPY ${'a '.repeat(20_000)}/d/`);
    assert.ok(Date.now() - started < 5000, `COPY took ${Date.now() - started} ms`);
    started = Date.now();
    await convert(`FROM scratch\n${Array.from({ length: 1500 }, (_, i) => `ARG a${i}=1\nRUN x`).join('\n')}`);
    assert.ok(Date.now() - started < 5000, `ARG/RUN took ${Date.now() - started} ms`);
  });
});
