/** Heredocs, following the cases of BuildKit's parser_heredoc_test.go. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { dumpAst, parseDockerfile, type Heredoc } from '../../../src/dockerfile/syntax/index.js';
import { heredocsFromLine, parseHeredocWord } from '../../../src/dockerfile/syntax/heredoc.js';
import { LexError } from '../../../src/dockerfile/syntax/heredoc-words.js';

function doc(name: string, content: string, extra: Partial<Heredoc> = {}): Heredoc {
  return { name, content, expand: true, chomp: false, fileDescriptor: 0, ...extra };
}

const DOCKERFILE = `
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t`;

// Contents of `<<-` heredocs have their leading tabs removed already (the ast.ts contract); BuildKit's
// parser leaves that to its dispatcher.
const EXPECTED: (Heredoc[] | undefined)[] = [
  undefined, // ENV NAME=me
  undefined, // RUN ls
  undefined, // USER <<INVALID (USER takes no heredoc)
  undefined, // INVALID (so this line is an instruction)
  [doc('EMPTY', '')],
  [doc('EMPTY2', '', { fileDescriptor: 3 })],
  undefined, // RUN "<<NOHEREDOC"
  [doc('INDENT', '\tfoo\n\tbar\n')],
  [doc('UNINDENT', 'baz\nquux\n', { chomp: true })],
  [doc('UNINDENT2', 'baz\nquux\n', { chomp: true })],
  [doc('EXPAND', 'expand $NAME\n', { chomp: true })],
  [doc('NOEXPAND', "don't expand $NAME\n", { chomp: true, expand: false })],
  [doc('COPY', 'echo hello world\necho foo bar\n')],
  [doc('COMMENT', '# internal comment\necho hello world\necho foo bar # trailing comment\n')],
  [doc('MOUNT', 'echo hello\n')],
  [doc('FILE1', 'content 1\n'), doc('FILE2', 'content 2\n')],
  [doc('EOF', '"foo"\n\'bar\'\n')],
  [doc('X', 'Y\n'), doc('Y', 'X\n')],
  [doc('COMPLEX', "print('hello world')\n")],
  [doc('file.txt', 'hello world\n')],
  [doc('eof', 'echo foo\n', { expand: false })],
  [doc("eo'f", 'echo foo\n')],
  [doc("eo'f", 'echo foo\n', { expand: false })],
  [doc('one two', 'echo bar\n', { expand: false })],
  [doc('$EOF', '')],
  [doc('EOF', '')],
  [doc('EOF', '')],
];

describe('heredocs', () => {
  it('extracts heredocs like BuildKit (parser_heredoc_test.go)', () => {
    const ast = parseDockerfile(DOCKERFILE);
    assert.equal(ast.instructions.length, EXPECTED.length + 1);
    EXPECTED.forEach((expected, i) => {
      const node = ast.instructions[i + 1];
      assert.ok(node !== undefined);
      assert.deepEqual(node.heredocs, expected ?? [], `instruction ${i + 1}: ${node.original}`);
    });
  });

  it('keeps the instruction line as the argument and covers the body in the range', () => {
    const ast = parseDockerfile('FROM a\nRUN <<EOF bash\necho hi\nEOF\nCOPY <<A <<B /dst\n1\nA\n2\nB\n');
    assert.equal(dumpAst(ast), '(from "a")\n(run "<<EOF bash")\n(copy "<<A" "<<B" "/dst")\n');
    const [, run, copy] = ast.instructions;
    assert.deepEqual([run?.range.start.line, run?.range.end.line], [2, 4]);
    assert.deepEqual([copy?.range.start.line, copy?.range.end.line], [5, 9]);
    assert.equal(run?.original, 'RUN <<EOF bash');
  });

  it('ignores heredoc markers in the JSON form', () => {
    const ast = parseDockerfile('FROM alpine:3.6\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n');
    for (const node of ast.instructions) assert.deepEqual(node.heredocs, []);
  });

  it('only RUN, COPY and ADD take heredocs', () => {
    const ast = parseDockerfile('ADD <<A /a\nx\nA\nCMD <<B\nWORKDIR <<C\n');
    assert.deepEqual(ast.instructions.map((n) => n.heredocs.length), [1, 0, 0]);
  });

  it('attaches the heredocs of ONBUILD RUN to the ONBUILD node and its trigger', () => {
    const ast = parseDockerfile('FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n');
    const onbuild = ast.instructions[1];
    assert.equal(dumpAst(ast), '(from "a")\n(onbuild (run "<<EOF"))\n');
    assert.deepEqual(onbuild?.heredocs, [doc('EOF', 'echo hi\n')]);
    assert.deepEqual(onbuild?.child?.heredocs, [doc('EOF', 'echo hi\n')]);
    assert.equal(onbuild?.range.end.line, 4);
    // Only one level: ONBUILD ONBUILD RUN takes none, the next lines are instructions.
    assert.equal(parseDockerfile('ONBUILD ONBUILD RUN <<EOF\nEOF\n').instructions.length, 2);
  });

  it('keeps CRLF line endings inside the body and matches the terminator without them', () => {
    const ast = parseDockerfile('RUN <<EOF\r\na\r\nb\r\nEOF\r\n');
    assert.deepEqual(ast.instructions[0]?.heredocs, [doc('EOF', 'a\r\nb\r\n')]);
  });

  it('reads the body after continuation lines', () => {
    const ast = parseDockerfile('RUN <<EOF \\\n  cat\nbody\nEOF\n');
    assert.equal(dumpAst(ast), '(run "<<EOF   cat")\n');
    assert.deepEqual(ast.instructions[0]?.heredocs, [doc('EOF', 'body\n')]);
  });

  it('takes a terminator on the last line without a newline', () => {
    const ast = parseDockerfile('RUN <<EOF\nx\nEOF');
    assert.deepEqual(ast.instructions[0]?.heredocs, [doc('EOF', 'x\n')]);
  });

  it('does not treat body lines as comments, directives or continuations', () => {
    const ast = parseDockerfile('RUN <<EOF\n# escape=`\nline \\\n\nEOF\nRUN next\n');
    assert.deepEqual(ast.instructions[0]?.heredocs, [doc('EOF', '# escape=`\nline \\\n\n')]);
    assert.deepEqual(ast.instructions[1]?.comments, []);
    assert.equal(ast.escapeToken, '\\');
  });

  it('fails on an unterminated heredoc, at the instruction', () => {
    assert.throws(
      () => parseDockerfile('FROM a\nRUN <<EOF\necho hi\n', { file: 'df' }),
      (error: unknown) => {
        assert.ok(error instanceof StagecraftError);
        assert.equal(error.code, 'DOCKERFILE_SYNTAX');
        assert.equal(error.message, 'df:2: unterminated heredoc');
        assert.equal(error.location?.file, 'df');
        assert.deepEqual(error.location?.range.start, { line: 2, column: 1 });
        assert.equal(error.location?.range.end.line, 3);
        assert.match(error.hint ?? '', /EOF/);
        return true;
      },
    );
    // The second of two heredocs is missing its terminator.
    assert.throws(() => parseDockerfile('COPY <<A <<B /x\na\nA\nb\n'), /unterminated heredoc/);
  });

  it('finds no heredoc in a line the shell lexer cannot split (unbalanced quote)', () => {
    const ast = parseDockerfile('RUN <<EOF echo "unbalanced\nRUN x\n');
    assert.equal(ast.instructions.length, 2);
    assert.deepEqual(ast.instructions[0]?.heredocs, []);
  });

  it("drops the text before ${…} in a word, as BuildKit's shared words buffer does", () => {
    // BuildKit's lexer loses "<<EOF" here, so the word is no heredoc marker.
    const ast = parseDockerfile('RUN <<EOF${a:-x}\nRUN y\n');
    assert.equal(ast.instructions.length, 2);
    assert.deepEqual(ast.instructions[0]?.heredocs, []);
  });

  it('errors where BuildKit cannot lex a heredoc delimiter', () => {
    assert.throws(
      // The unset-variable text is split at its space, leaving the word `<<"y`.
      () => parseDockerfile('RUN ${a:-x <<"y z"}\nx\n'),
      (error: unknown) => {
        assert.ok(error instanceof StagecraftError);
        assert.equal(error.code, 'DOCKERFILE_SYNTAX');
        assert.equal(error.message, 'Dockerfile:1: failed to process "\\"y": unexpected end of statement while looking for matching double-quote');
        return true;
      },
    );
  });

  it('handles deeply nested ${…} in a heredoc line without recursion', () => {
    const depth = 50_000;
    // Split into continuation lines: one physical line may not exceed 65535 bytes (BuildKit's limit).
    const line = `RUN <<EOF ${'${a:-\\\n'.repeat(depth)}x${'}'.repeat(depth)}\nbody\nEOF\n`;
    const ast = parseDockerfile(line);
    assert.deepEqual(ast.instructions[0]?.heredocs, [doc('EOF', 'body\n')]);
  });

  describe('markers (ParseHeredoc)', () => {
    it('accepts the valid forms', () => {
      for (const src of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"', '<< EOF', '<<- EOF']) {
        assert.equal(parseHeredocWord(src)?.name, 'EOF', src);
      }
      assert.deepEqual(parseHeredocWord('12<<-"E"'), { name: 'E', fileDescriptor: 12, chomp: true, expand: false });
    });

    it('rejects unbalanced quotes', () => {
      for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
        assert.throws(() => parseHeredocWord(src), LexError, src);
      }
    });

    it('returns nothing for non-markers', () => {
      for (const src of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh', "<<''"]) {
        assert.equal(parseHeredocWord(src), undefined, src);
      }
    });

    it('finds the markers of a line (heredocsFromLine)', () => {
      const cases: [string, string[]][] = [
        ['RUN <<EOF', ['EOF']],
        ['RUN <<-EOF', ['EOF']],
        // `<<-` and `EOF` are two words here (BuildKit's own test passes this case vacuously).
        ['RUN <<- EOF', []],
        ['RUN << -EOF', ['-EOF']],
        ["RUN <<'EOF'", ['EOF']],
        ['RUN 4<<EOF', ['EOF']],
        ['RUN <<EOF <<EOF2', ['EOF', 'EOF2']],
        ["RUN '<<EOF'", []],
        ['RUN "<<EOF"', []],
        ['RUN cat <<EOF | sh', ['EOF']],
        ['RUN a<<EOF', []],
      ];
      for (const [line, names] of cases) {
        assert.deepEqual(heredocsFromLine(line).map((h) => h.name), names, line);
      }
    });
  });
});
