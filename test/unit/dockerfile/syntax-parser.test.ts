/** The Dockerfile parser: lines, directives, comments, continuations, arguments per instruction, errors. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { dumpAst, parseDockerfile, type DockerfileAst, type InstructionNode } from '../../../src/dockerfile/syntax/index.js';
import { parseWords } from '../../../src/dockerfile/syntax/line-parsers.js';

function only(text: string): InstructionNode {
  const ast = parseDockerfile(text);
  assert.equal(ast.instructions.length, 1, dumpAst(ast));
  const node = ast.instructions[0];
  assert.ok(node !== undefined);
  return node;
}

function dump(text: string): string {
  return dumpAst(parseDockerfile(text));
}

function syntaxError(text: string, message: RegExp, check?: (error: StagecraftError) => void): void {
  assert.throws(
    () => parseDockerfile(text, { file: 'ctx/Dockerfile' }),
    (error: unknown) => {
      assert.ok(error instanceof StagecraftError, String(error));
      assert.equal(error.code, 'DOCKERFILE_SYNTAX');
      assert.match(error.message, message);
      assert.equal(error.location?.file, 'ctx/Dockerfile');
      assert.ok(error.hint !== undefined && error.hint.length > 0, 'has a hint');
      check?.(error);
      return true;
    },
  );
}

describe('dockerfile parser', () => {
  describe('instructions', () => {
    it('splits keyword, flags and arguments', () => {
      const node = only('COPY --from=build --chmod=755 a b /dst/\n');
      assert.equal(node.keyword, 'copy');
      assert.deepEqual(node.flags, ['--from=build', '--chmod=755']);
      assert.deepEqual(node.args, ['a', 'b', '/dst/']);
      assert.equal(node.json, false);
      assert.equal(node.original, 'COPY --from=build --chmod=755 a b /dst/');
      assert.equal(node.child, undefined);
    });

    it('lower-cases keywords with Go semantics, also unknown ones (kept with one empty argument)', () => {
      assert.equal(only('FrOm x').keyword, 'from');
      const unknown = only('FOO bar baz\n');
      assert.equal(unknown.keyword, 'foo');
      assert.deepEqual(unknown.args, ['']);
      assert.equal(dump('FOO bar\n'), '(foo "")\n');
      // Go maps U+0130 to a plain i (JavaScript would give i + combining dot).
      assert.equal(only('İNSTRUCTION x').keyword, 'instruction');
    });

    it('parses the empty input, a blank file and a comments-only file to no instructions', () => {
      for (const text of ['', '   \n\t\n\r\n', '# just a comment\n#\n', '\ufeff']) {
        const ast = parseDockerfile(text);
        assert.deepEqual(ast.instructions, []);
        assert.equal(dumpAst(ast), '');
      }
    });

    it('takes the last line without a newline, CRLF endings and a byte order mark', () => {
      assert.equal(dump('FROM a\nRUN b'), '(from "a")\n(run "b")\n');
      assert.equal(dump('\ufeffFROM a\r\nRUN b \\\r\n  c\r\n'), '(from "a")\n(run "b   c")\n');
    });

    it('dispatches arguments as BuildKit does per instruction', () => {
      assert.equal(dump('FROM --platform=$P img AS  base\n'), '(from ["--platform=$P"] "img" "AS" "base")\n');
      assert.equal(dump('EXPOSE 80/tcp\t 443\n'), '(expose "80/tcp" "443")\n');
      assert.equal(dump('MAINTAINER  Jane Doe <j@d>\n'), '(maintainer "Jane Doe <j@d>")\n');
      assert.equal(dump('USER a b\nWORKDIR /a b\nSTOPSIGNAL SIGTERM\n'), '(user "a b")\n(workdir "/a b")\n(stopsignal "SIGTERM")\n');
      assert.equal(dump('VOLUME /a /b\nVOLUME ["/c", "/d"]\n'), '(volume "/a" "/b")\n(volume "/c" "/d")\n');
      assert.equal(dump('ARG A B=2 "C=x y"\n'), '(arg "A" "B=2" "\\"C=x y\\"")\n');
      assert.equal(dump('ENV A=1 B="x y"\n'), '(env "A" "1" "=" "B" "\\"x y\\"" "=")\n');
      assert.equal(dump('ENV A x y\nLABEL k v\n'), '(env "A" "x y" "")\n(label "k" "v" "")\n');
      assert.equal(dump('SHELL ["/bin/bash", "-c"]\n'), '(shell "/bin/bash" "-c")\n');
      assert.equal(dump('ENTRYPOINT ["a"]\nCMD b c\n'), '(entrypoint "a")\n(cmd "b c")\n');
    });

    it('keeps instructions without arguments', () => {
      assert.equal(dump('RUN\nENV\nARG\nFROM\nONBUILD\nHEALTHCHECK\nCOPY\n'), '(run)\n(env)\n(arg)\n(from)\n(onbuild)\n(healthcheck)\n(copy)\n');
    });

    it('parses HEALTHCHECK as a type word and a command', () => {
      const node = only('HEALTHCHECK --interval=5s --retries=3 CMD ["curl", "-f", "http://x/"]\n');
      assert.deepEqual(node.flags, ['--interval=5s', '--retries=3']);
      assert.deepEqual(node.args, ['CMD', 'curl', '-f', 'http://x/']);
      assert.equal(node.json, true);
      assert.deepEqual(only('HEALTHCHECK CMD curl -f http://x/ || exit 1').args, ['CMD', 'curl -f http://x/ || exit 1']);
      assert.deepEqual(only('HEALTHCHECK NONE').args, ['NONE']);
    });

    it('nests the ONBUILD trigger as a child instruction', () => {
      const node = only('ONBUILD COPY --chown=a:b . /app\n');
      assert.equal(node.keyword, 'onbuild');
      assert.deepEqual(node.args, []);
      assert.equal(node.child?.keyword, 'copy');
      assert.deepEqual(node.child?.flags, ['--chown=a:b']);
      assert.deepEqual(node.child?.args, ['.', '/app']);
      assert.equal(node.child?.original, 'COPY --chown=a:b . /app');
      assert.deepEqual(node.child?.range, node.range);
      assert.equal(dump('ONBUILD RUN ["echo", "x"]\n'), '(onbuild (run "echo" "x"))\n');
    });

    it('leaves ONBUILD ONBUILD / FROM / MAINTAINER to the instruction layer, as BuildKit\'s parser does', () => {
      assert.equal(dump('ONBUILD ONBUILD RUN x\nONBUILD FROM a\nONBUILD MAINTAINER m\n'), '(onbuild (onbuild (run "x")))\n(onbuild (from "a"))\n(onbuild (maintainer "m"))\n');
    });

    it('handles ONBUILD nested many thousand times without recursion', () => {
      const depth = 20_000;
      // Continuation lines: one physical line may not exceed 65535 bytes (BuildKit's limit).
      const text = `${'ONBUILD \\\n'.repeat(depth)}RUN x\n`;
      const expected = `(${'onbuild ('.repeat(depth)}run "x"${')'.repeat(depth)})\n`;
      assert.equal(dump(text), expected);
    });
  });

  describe('flags', () => {
    it('takes flags only before the arguments', () => {
      assert.deepEqual(only('RUN --network=none echo --not-a-flag').flags, ['--network=none']);
      assert.deepEqual(only('RUN --network=none echo --not-a-flag').args, ['echo --not-a-flag']);
      assert.deepEqual(only('RUN -x --y echo').flags, []);
    });

    it('ends flags at a bare --', () => {
      const node = only('RUN --mount=type=cache,target=/x -- --help\n');
      assert.deepEqual(node.flags, ['--mount=type=cache,target=/x']);
      assert.deepEqual(node.args, ['--help']);
    });

    it('removes quotes and applies escapes inside flags', () => {
      assert.deepEqual(only('RUN --mount="type=secret, id=a" --x=\'b c\' --y=d\\ e echo').flags, ['--mount=type=secret, id=a', '--x=b c', '--y=d e']);
      assert.deepEqual(only('RUN --empty="" echo').flags, ['--empty=']);
      assert.deepEqual(only('# escape=`\nRUN --y=d` e echo').flags, ['--y=d e']);
    });

    it('keeps a flag at the end of the line', () => {
      const node = only('COPY --link');
      assert.deepEqual(node.flags, ['--link']);
      assert.deepEqual(node.args, []);
    });

    it('reads flags byte by byte like BuildKit (non-ASCII bytes become Latin-1 characters)', () => {
      // BuildKit's extractBuilderFlags writes each UTF-8 byte as a rune: é (C3 A9) becomes "Ã©", and the
      // byte 0x85 of Å (C3 85) counts as a space.
      assert.equal(dump('COPY --from=é x y\n'), '(copy ["--from=Ã©"] "x" "y")\n');
      assert.equal(dump('COPY --a=Å b\n'), '(copy ["--a=Ã"] "b")\n');
    });
  });

  describe('JSON (exec) form', () => {
    it('decodes a JSON array of strings', () => {
      const node = only('CMD [ "a", "b\\u0041\\n", "\\ud83d\\ude00" ]');
      assert.equal(node.json, true);
      assert.deepEqual(node.args, ['a', 'bA\n', '😀']);
      assert.deepEqual(only('CMD []').args, []);
      assert.equal(only('CMD []').json, true);
    });

    it('falls back to the shell form for text that is not valid JSON', () => {
      for (const text of ["CMD ['a']", 'CMD ["a"', 'CMD ["a" "b"]', 'CMD ["a"] x', 'CMD [1e400]']) {
        const node = only(text);
        assert.equal(node.json, false, text);
        assert.deepEqual(node.args, [text.slice(4)], text);
      }
      assert.deepEqual(only('COPY ["a" b]').args, ['["a"', 'b]']);
    });

    it('falls back for nesting deeper than Go allows (10000)', () => {
      const deep = `CMD ${'['.repeat(10_001)}${']'.repeat(10_001)}`;
      assert.equal(only(deep).json, false);
    });

    it('rejects an array with a non-string element', () => {
      syntaxError('FROM a\nCMD [ "echo", [ "nested json" ] ]\n', /^ctx\/Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only$/);
      syntaxError('RUN [1]', /comprised of strings only/);
      syntaxError('ONBUILD RUN [null]', /comprised of strings only/);
    });

    it('replaces an unpaired surrogate escape with U+FFFD, as Go does', () => {
      assert.deepEqual(only('CMD ["a\\ud800"]').args, ['a\ufffd']);
    });
  });

  describe('ENV / LABEL / ARG words', () => {
    it('splits words, keeping quotes and escapes (parseWords)', () => {
      const cases: [string, string[]][] = [
        ['foo', ['foo']],
        ['foo bar', ['foo', 'bar']],
        ['foo\\ bar', ['foo\\ bar']],
        ['foo=bar', ['foo=bar']],
        ["foo bar 'abc xyz'", ['foo', 'bar', "'abc xyz'"]],
        ['foo bar "abc xyz"', ['foo', 'bar', '"abc xyz"']],
        ['àöû', ['àöû']],
        ['föo bàr "âbc xÿz"', ['föo', 'bàr', '"âbc xÿz"']],
        ['a ""', ['a', '""']],
        ['a \\', ['a']],
        ['"a \\" b"', ['"a \\" b"']],
        ["'a \\' b'", ["'a \\'", "b'"]],
      ];
      for (const [input, expected] of cases) assert.deepEqual(parseWords(input, '\\'), expected, input);
    });

    it('rejects ENV NAME without a value and words without =', () => {
      syntaxError('FROM busybox\n\nENV PATH\n', /^ctx\/Dockerfile:3: ENV must have two arguments$/);
      syntaxError('LABEL a=b c\n', /Syntax error - can't find = in "c". Must be of the form: name=value/);
    });
  });

  describe('directives', () => {
    it('reads syntax, escape and check at the top, case-insensitively', () => {
      const ast = parseDockerfile('# syntax=docker/dockerfile:1\n#ESCAPE = `\n#  Check=skip=all;error=true  \nFROM a\n');
      assert.deepEqual(
        ast.directives.map((d) => [d.name, d.value, d.range.start.line]),
        [
          ['syntax', 'docker/dockerfile:1', 1],
          ['escape', '`', 2],
          ['check', 'skip=all;error=true', 3],
        ],
      );
      assert.equal(ast.escapeToken, '`');
      assert.deepEqual(ast.instructions[0]?.comments, []);
    });

    it('ends the header at the first other line (instruction, comment or blank line)', () => {
      for (const text of ['FROM a\n# escape=`\n', '# hello\n# escape=`\nFROM a\n', '\n# escape=`\nFROM a\n', '# foo=bar\n# escape=`\nFROM a\n']) {
        const ast = parseDockerfile(text);
        assert.equal(ast.escapeToken, '\\', text);
        assert.deepEqual(ast.directives, [], text);
      }
      // The ignored directive is an ordinary comment of the next instruction.
      assert.deepEqual(parseDockerfile('# hello\n# escape=`\nFROM a\n').instructions[0]?.comments, ['hello', 'escape=`']);
    });

    it('accepts leading white space before the #', () => {
      assert.equal(parseDockerfile('   # escape=`\nFROM a\n').escapeToken, '`');
    });

    it('rejects a repeated directive and an invalid escape token', () => {
      syntaxError('# escape=\\\n# ESCAPE=`\nFROM a\n', /^ctx\/Dockerfile:2: only one escape parser directive can be used$/, (error) => {
        assert.deepEqual(error.location?.range.start, { line: 2, column: 1 });
      });
      syntaxError('# syntax=a\n# syntax=b\n', /only one syntax parser directive can be used/);
      syntaxError('# escape=x\nFROM a\n', /^ctx\/Dockerfile:1: invalid escape token 'x' does not match ` or \\$/);
      // `(.+?)` takes the last blank when only blanks follow the =.
      syntaxError('# escape=  \nFROM a\n', /invalid escape token ' ' does not match/);
    });

    it('uses the escape token for continuations and leaves \\ literal with a backtick', () => {
      assert.equal(dump('# escape=`\nRUN dir c:\\ `\n  && echo ok\nCOPY a\\ b\n'), '(run "dir c:\\\\   && echo ok")\n(copy "a\\\\" "b")\n');
    });
  });

  describe('comments and continuations', () => {
    it('collects comments above an instruction; a bare # clears them', () => {
      const ast = parseDockerfile('# one\n  #two  \n\nFROM a\n# gone\n#\n# three\nRUN x\nRUN y\n');
      assert.deepEqual(ast.instructions.map((n) => n.comments), [['one', '#two'], ['three'], []]);
    });

    it('joins continuation lines, keeping their leading white space', () => {
      const node = only('RUN a \\\n    b \\\n\tc\n');
      assert.deepEqual(node.args, ['a     b \tc']);
      assert.equal(node.original, 'RUN a     b \tc');
      assert.deepEqual([node.range.start.line, node.range.end.line], [1, 3]);
    });

    it('skips comment lines inside a continuation and does not record them', () => {
      const ast = parseDockerfile('RUN a \\\n# inside\n   # indented\n  b\nRUN c\n');
      assert.equal(dumpAst(ast), '(run "a   b")\n(run "c")\n');
      assert.deepEqual(ast.instructions[1]?.comments, []);
    });

    it('skips empty continuation lines with a warning, like BuildKit', () => {
      const ast = parseDockerfile('FROM a\nRUN something \\\n\n    following \\\n\n    more\nRUN ok \\\n  fine\n');
      assert.equal(dumpAst(ast), '(from "a")\n(run "something     following     more")\n(run "ok   fine")\n');
      assert.equal(ast.warnings.length, 1);
      const warning = ast.warnings[0];
      assert.equal(warning?.rule, 'NoEmptyContinuation');
      assert.equal(warning?.message, 'Empty continuation line found in: RUN something     following     more');
      assert.equal(warning?.range.start.line, 6);
    });

    it('ends at the end of the file inside a continuation', () => {
      assert.equal(dump('FROM a\nRUN something \\'), '(from "a")\n(run "something")\n');
      assert.equal(dump('RUN a \\\n'), '(run "a")\n');
    });

    it('does not continue after an escaped escape token', () => {
      assert.equal(dump('RUN a \\\\\nRUN b\n'), '(run "a \\\\\\\\")\n(run "b")\n');
    });

    it('continues after a line holding only the escape token', () => {
      assert.equal(dump('\\\nRUN a\n'), '(run "a")\n');
      assert.equal(dump('\\'), '("")\n');
    });

    it('allows blanks after the escape token', () => {
      assert.equal(dump('RUN a \\  \t\n b\n'), '(run "a  b")\n');
    });
  });

  describe('positions', () => {
    it('gives 1-based line and column ranges', () => {
      const ast: DockerfileAst = parseDockerfile('\n\n# comment\n  FROM a\n\nRUN b \\\n  c \\\n  d\n');
      const [from, run] = ast.instructions;
      assert.deepEqual(from?.range, { start: { line: 4, column: 3 }, end: { line: 4, column: 9 } });
      assert.deepEqual(run?.range, { start: { line: 6, column: 1 }, end: { line: 8, column: 4 } });
    });

    it("matches BuildKit's line numbers (testfile-line)", () => {
      const text = readFileSync(new URL('../../fixtures/buildkit/testfile-line/Dockerfile', import.meta.url), 'utf8');
      const ast = parseDockerfile(text);
      assert.deepEqual(ast.instructions.map((n) => [n.range.start.line, n.range.end.line]), [[5, 5], [11, 12], [17, 31]]);
    });
  });

  describe('errors', () => {
    it('locates an instruction error over its lines', () => {
      syntaxError('FROM a\nENV \\\n  A\n', /^ctx\/Dockerfile:2: ENV must have two arguments$/, (error) => {
        assert.deepEqual(error.location?.range, { start: { line: 2, column: 1 }, end: { line: 3, column: 4 } });
      });
    });
  });
});
