/**
 * Every case of BuildKit's parser test files (test/fixtures/buildkit/parser-testfiles, copied from
 * moby/buildkit): the dump of our AST must equal BuildKit's `result` file byte for byte.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { dumpAst, parseDockerfile } from '../../../src/dockerfile/syntax/index.js';

const ROOT = new URL('../../fixtures/buildkit/parser-testfiles/', import.meta.url);
const CASES = readdirSync(ROOT, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('BuildKit parser test files', () => {
  it('has the full set of cases', () => {
    assert.equal(CASES.length, 33);
  });

  for (const name of CASES) {
    it(name, () => {
      const dockerfile = readFileSync(new URL(`${name}/Dockerfile`, ROOT), 'utf8');
      const expected = readFileSync(new URL(`${name}/result`, ROOT), 'utf8');
      const ast = parseDockerfile(dockerfile, { file: `${name}/Dockerfile` });
      assert.equal(dumpAst(ast), expected);
    });
  }

  it('gives the same dump for CRLF line endings and a byte order mark', () => {
    for (const name of CASES) {
      const dockerfile = readFileSync(new URL(`${name}/Dockerfile`, ROOT), 'utf8');
      const expected = readFileSync(new URL(`${name}/result`, ROOT), 'utf8');
      const crlf = `\ufeff${dockerfile.replace(/\n/g, '\r\n')}`;
      assert.equal(dumpAst(parseDockerfile(crlf)), expected, name);
    }
  });
});
