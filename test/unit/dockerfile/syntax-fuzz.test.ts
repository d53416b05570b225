/**
 * Robustness of the parser: random and mutated Dockerfiles either parse or fail with a located
 * StagecraftError (never another exception, never a hang), results satisfy structural invariants, and
 * line endings / a byte order mark do not change the result. Large inputs parse with correct results.
 * The `timeout` options are hang guards, not performance assertions (see bench/parser-bench.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError } from '../../../src/core/index.js';
import { DOCKERFILE_LIMITS } from '../../../src/dockerfile/limits.js';
import { dumpAst, parseDockerfile, type DockerfileAst } from '../../../src/dockerfile/syntax/index.js';

const ROOT = new URL('../../fixtures/buildkit/parser-testfiles/', import.meta.url);
const TESTFILES = readdirSync(ROOT, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => readFileSync(new URL(`${entry.name}/Dockerfile`, ROOT), 'utf8'));

type Outcome = { ok: true; ast: DockerfileAst; dump: string } | { ok: false; message: string };

/** Parses; any exception other than a located DOCKERFILE_SYNTAX StagecraftError fails the test. */
function outcome(text: string): Outcome {
  try {
    const ast = parseDockerfile(text, { file: 'fuzz/Dockerfile' });
    return { ok: true, ast, dump: dumpAst(ast) };
  } catch (error) {
    assert.ok(error instanceof StagecraftError, `unexpected ${String(error)}`);
    assert.equal(error.code, 'DOCKERFILE_SYNTAX');
    assert.equal(error.location?.file, 'fuzz/Dockerfile');
    const range = error.location.range;
    assert.ok(range.start.line >= 1 && range.end.line >= range.start.line);
    // The message of a located error names the line, without the file name (it differs per input).
    return { ok: false, message: error.message.replace(/^fuzz\/Dockerfile:\d+: /, '') };
  }
}

function lineCount(text: string): number {
  let count = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < text.length - 1; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

function checkInvariants(text: string, result: Outcome): void {
  if (!result.ok) return;
  const { ast, dump } = result;
  const lines = lineCount(text);
  let previousEnd = 0;
  for (const node of ast.instructions) {
    assert.ok(node.range.start.line > previousEnd, 'instructions do not overlap and are in order');
    assert.ok(node.range.end.line >= node.range.start.line);
    assert.ok(node.range.end.line <= lines, 'range within the file');
    assert.ok(node.range.start.column >= 1 && node.range.end.column >= 1);
    assert.ok(!/[A-Z]/.test(node.keyword), 'keywords are lower-cased');
    if (node.keyword === 'onbuild') assert.ok(node.args.length === 0);
    previousEnd = node.range.end.line;
  }
  assert.equal(dump.length === 0 ? 0 : dump.split('\n').length - 1, ast.instructions.length, 'one dump line per instruction');
  assert.ok(ast.escapeToken === '\\' || ast.escapeToken === '`');
}

/** Same outcome for CRLF line endings and a leading byte order mark (heredoc bodies aside). */
function checkLineEndingInvariance(text: string, result: Outcome): void {
  const bom = text.startsWith('\ufeff') ? '' : '\ufeff';
  const variant = outcome(`${bom}${text.replace(/\n/g, '\r\n')}`);
  assert.equal(variant.ok, result.ok, 'same success for CRLF + BOM');
  if (result.ok && variant.ok) assert.equal(variant.dump, result.dump);
  if (!result.ok && !variant.ok) assert.equal(variant.message, result.message);
}

const FRAGMENTS = [
  'FROM ', 'RUN ', 'COPY ', 'ADD ', 'ENV ', 'LABEL ', 'ARG ', 'CMD ', 'ENTRYPOINT ', 'ONBUILD ', 'HEALTHCHECK ', 'SHELL ',
  'VOLUME ', 'EXPOSE ', 'USER ', 'WORKDIR ', 'MAINTAINER ', 'STOPSIGNAL ', 'NONE', 'CMD',
  '--from=a ', '--mount=type=cache,target=/x ', '-- ', '--', '="', "='", '=',
  '<<EOF', '<<-EOF', '<<"EOF"', "<<'EOF'", 'EOF', '\tEOF', '2<<X', 'X',
  '["a", "b"]', '[', ']', '"', "'", ',', '\\', '`', '$', '${', '}', ':-', '#', '# escape=`', '# syntax=x', '# check=y',
  '\n', '\n', '\n', '\r\n', ' ', ' ', '\t', '\u00a0', '\u0085', 'é', '😀', '\u0000', '\ufeff', 'a', 'b=c', 'x y',
];

const fragmentLine = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 8 }).map((parts) => parts.join(''));
const fragmentText = fc.array(fragmentLine, { maxLength: 16 }).map((lines) => lines.join('\n'));

const mutatedTestfile = fc
  .record({
    source: fc.constantFrom(...TESTFILES),
    edits: fc.array(
      fc.record({ at: fc.nat(), length: fc.nat({ max: 8 }), insert: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 4 })) }),
      { minLength: 1, maxLength: 6 },
    ),
  })
  .map(({ source, edits }) => {
    let text = source;
    for (const edit of edits) {
      const at = text.length === 0 ? 0 : edit.at % (text.length + 1);
      text = text.slice(0, at) + edit.insert + text.slice(at + edit.length);
    }
    return text;
  });

describe('parser robustness (fast-check)', () => {
  it('random Dockerfile-like text: parses or fails with a located syntax error', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fragmentText, (text) => {
        const result = outcome(text);
        checkInvariants(text, result);
        checkLineEndingInvariance(text, result);
      }),
      { numRuns: 3000 },
    );
  });

  it('arbitrary unicode strings: parses or fails with a located syntax error', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        checkInvariants(text, outcome(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('mutated BuildKit test files: parses or fails with a located syntax error', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(mutatedTestfile, (text) => {
        const result = outcome(text);
        checkInvariants(text, result);
        checkLineEndingInvariance(text, result);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('line limit (issue 13)', () => {
  it('a line fails exactly when it passes 65535 UTF-8 bytes, naming its line', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.nat({ max: 4 }), fc.constantFrom('a', 'é', '\u0800', '😀', '\ud800'), fc.integer({ min: 65_500, max: 65_560 }), fc.constantFrom('\n', '\r\n', ''), fc.boolean(), (before, unit, target, end, heredoc) => {
        const prefix = heredoc ? '' : 'RUN ';
        const line = prefix + unit.repeat(Math.floor((target - prefix.length) / Buffer.byteLength(unit)));
        const text = `${'# c\n'.repeat(before)}${heredoc ? 'RUN <<EOF\n' : ''}${line}${end}${heredoc ? (end === '' ? '\nEOF\n' : 'EOF\n') : ''}`;
        const bytes = Buffer.byteLength(end === '\r\n' ? `${line}\r` : line);
        const lineNumber = before + (heredoc ? 2 : 1);
        try {
          parseDockerfile(text, { file: 'fuzz/Dockerfile' });
          assert.ok(bytes <= 65_535, `a line of ${bytes} bytes parsed`);
        } catch (error) {
          assert.ok(error instanceof StagecraftError && error.code === 'DOCKERFILE_SYNTAX', String(error));
          assert.ok(bytes > 65_535, `a line of ${bytes} bytes failed: ${error.message}`);
          assert.equal(error.message, `fuzz/Dockerfile:${lineNumber}: dockerfile line greater than max allowed size of 65535`);
        }
      }),
      { numRuns: 300, seed: 13_010 },
    );
  });
});

describe('large inputs', () => {
  it('parses a Dockerfile with as many instructions as the limit allows (3,333 stages)', { timeout: 60_000 }, () => {
    const stages = 3_333;
    const parts: string[] = ['# syntax=docker/dockerfile:1\nARG BASE=alpine\n'];
    for (let i = 0; i < stages; i++) {
      parts.push(`FROM \${BASE} AS s${i}\n`, `COPY --from=s${Math.max(0, i - 1)} /out /in\n`, `RUN echo ${i} > /out \\\n  && true\n`);
    }
    const ast = parseDockerfile(parts.join(''));
    assert.equal(ast.instructions.length, 1 + stages * 3);
    assert.equal(ast.instructions.length, DOCKERFILE_LIMITS.instructions);
    assert.deepEqual(ast.directives.map((d) => d.name), ['syntax']);
    const last = ast.instructions.at(-1);
    assert.deepEqual(last?.args, [`echo ${stages - 1} > /out   && true`]);
    assert.equal(last?.range.start.line, 5 + (stages - 1) * 4);
    assert.equal(last?.range.end.line, 6 + (stages - 1) * 4);
    assert.deepEqual(ast.instructions.at(-3)?.args, ['${BASE}', 'AS', `s${stages - 1}`]);
    assert.deepEqual(ast.instructions.at(-2)?.flags, [`--from=s${stages - 2}`]);

    const error = syntaxError(`${parts.join('')}LABEL one=more\n`);
    assert.match(error.message, /^fuzz\/Dockerfile:13335: the Dockerfile has more than 10000 instructions$/);
    assert.equal(error.location?.range.start.line, 13_335);
  });

  it('parses a line of 65535 bytes and a 1 MB logical line; refuses a longer line as BuildKit does', { timeout: 60_000 }, () => {
    const payload = 'a'.repeat(65_535 - 'RUN echo  <<EOF'.length);
    const run = parseDockerfile(`RUN echo ${payload} <<EOF\nbody\nEOF\n`).instructions[0];
    assert.deepEqual(run?.args, [`echo ${payload} <<EOF`]);
    assert.deepEqual(run?.heredocs.map((h) => h.content), ['body\n']);
    // The same line with a two-byte character: 65536 bytes.
    const error = syntaxError(`FROM scratch\nRUN echo é${payload.slice(1)} <<EOF\nbody\nEOF\n`);
    assert.equal(error.message, 'fuzz/Dockerfile:2: dockerfile line greater than max allowed size of 65535');
    assert.match(error.hint ?? '', /continues it/);
    // A heredoc line and a line without a newline count too.
    assert.match(syntaxError(`RUN <<EOF\n${'b'.repeat(65_536)}\nEOF\n`).message, /:2: dockerfile line greater/);
    assert.match(syntaxError(`RUN x\n${'b'.repeat(65_536)}`).message, /:2: dockerfile line greater/);
    assert.equal(parseDockerfile(`RUN ${'b'.repeat(65_531)}`).instructions.length, 1);

    const pairs = Array.from({ length: 1 << 16 }, (_, i) => `k${i}="v ${i}"`);
    const lines: string[] = [];
    for (let i = 0; i < pairs.length; i += 1000) lines.push(pairs.slice(i, i + 1000).join(' '));
    const text = `ENV ${lines.join(' \\\n')}`;
    assert.ok(text.length > 1 << 20);
    const env = parseDockerfile(text).instructions[0];
    assert.equal(env?.args.length, 3 * (1 << 16));
    assert.deepEqual(env?.args.slice(-3), [`k${(1 << 16) - 1}`, `"v ${(1 << 16) - 1}"`, '=']);
  });

  it('refuses a file larger than 16 MiB and a heredoc larger than 4 MiB, naming the line', { timeout: 60_000 }, () => {
    const line = `${'#'.repeat(1023)}\n`;
    const big = line.repeat(16 * 1024) + 'FROM scratch\n';
    const error = syntaxError(big);
    assert.equal(error.message, `fuzz/Dockerfile:1: the Dockerfile is ${16 * 1024 * 1024 + 13} bytes, more than the limit of 16 MiB`);
    assert.equal(parseDockerfile(big.slice(13)).instructions.length, 1);

    const body = `${'x'.repeat(1023)}\n`.repeat(4 * 1024);
    assert.equal(parseDockerfile(`FROM scratch\nCOPY <<EOF /f\n${body}EOF\n`).instructions[1]?.heredocs[0]?.content.length, 4 * 1024 * 1024);
    const tooBig = syntaxError(`FROM scratch\nCOPY <<EOF /f\n${body}y\nEOF\n`);
    assert.equal(tooBig.message, 'fuzz/Dockerfile:2: heredoc EOF is larger than the limit of 4 MiB');
  });
});

function syntaxError(text: string): StagecraftError {
  try {
    parseDockerfile(text, { file: 'fuzz/Dockerfile' });
  } catch (error) {
    assert.ok(error instanceof StagecraftError);
    assert.equal(error.code, 'DOCKERFILE_SYNTAX');
    return error;
  }
  assert.fail('expected a syntax error');
}
