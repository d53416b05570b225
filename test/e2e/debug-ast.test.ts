/** `stagecraft debug ast` through the built binary (run `npm run build` first). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

const TESTFILES = new URL('../fixtures/buildkit/parser-testfiles/', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'stagecraft-debug-ast-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('stagecraft debug ast', () => {
  it("prints BuildKit's dump of a Dockerfile (positional path and -f)", () => {
    const dockerfile = fileURLToPath(new URL('escapes/Dockerfile', TESTFILES));
    const expected = readFileSync(new URL('escapes/result', TESTFILES), 'utf8');
    for (const args of [[dockerfile], ['-f', dockerfile]]) {
      const run = runCli(['debug', 'ast', ...args]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, expected);
    }
  });

  it('reads stdin for -', () => {
    const run = runCli(['debug', 'ast', '-f', '-'], { input: 'FROM a\nONBUILD RUN echo hi\n' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, '(from "a")\n(onbuild (run "echo hi"))\n');
  });

  it('prints the AST as JSON with --json and parser warnings on stderr', () => {
    const path = write('warn.Dockerfile', '# syntax=docker/dockerfile:1\nFROM a\nRUN a \\\n\n  b\n');
    const run = runCli(['debug', 'ast', '--json', path]);
    assert.equal(run.status, 0, run.stderr);
    const ast = JSON.parse(run.stdout) as { instructions: { keyword: string; args: string[] }[]; directives: { name: string }[] };
    assert.deepEqual(ast.instructions.map((i) => [i.keyword, i.args]), [['from', ['a']], ['run', ['a   b']]]);
    assert.deepEqual(ast.directives.map((d) => d.name), ['syntax']);
    const plain = runCli(['debug', 'ast', path]);
    assert.match(plain.stderr, /^warning: .*warn\.Dockerfile:5: Empty continuation line found in: RUN a {3}b \[NoEmptyContinuation\]$/m);
  });

  it('reports a syntax error with file:line, an excerpt, a hint and exit status 3', () => {
    const path = write('bad.Dockerfile', 'FROM a\nRUN <<EOF\necho hi\n');
    const run = runCli(['debug', 'ast', path]);
    assert.equal(run.status, 3);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^error: .*bad\.Dockerfile:2: unterminated heredoc$/m);
    assert.match(run.stderr, / --> .*bad\.Dockerfile:2:1/);
    assert.match(run.stderr, /^> 2 \| RUN <<EOF$/m);
    assert.match(run.stderr, /^hint: .*EOF/m);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });

  it('fails clearly for a missing file or no file at all', () => {
    const missing = runCli(['debug', 'ast', join(dir, 'nope')]);
    assert.equal(missing.status, 4);
    assert.match(missing.stderr, /cannot read Dockerfile .*nope: no such file/);
    const none = runCli(['debug', 'ast']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /no Dockerfile given/);
  });
});
