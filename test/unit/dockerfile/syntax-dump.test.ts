/** BuildKit's dump format: Go %q quoting byte for byte, flags, nesting. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dumpAst, parseDockerfile } from '../../../src/dockerfile/syntax/index.js';
import { goQuote } from '../../../src/dockerfile/syntax/go-text.js';

describe('dump format', () => {
  it('quotes like Go strconv.Quote', () => {
    const cases: [string, string][] = [
      ['plain', '"plain"'],
      ['"q" \\ back', '"\\"q\\" \\\\ back"'],
      ['\x00\x07\x08\x0c\n\r\t\x0b\x1b\x7f', '"\\x00\\a\\b\\f\\n\\r\\t\\v\\x1b\\x7f"'],
      ['é ß 한국어 😀 €', '"é ß 한국어 😀 €"'],
      ['\u0080\u00a0\u00ad', '"\\u0080\\u00a0\\u00ad"'],
      ['\u2028\u3000\ufeff', '"\\u2028\\u3000\\ufeff"'],
      ['\ue000', '"\\ue000"'],
      ['\u{e0001}', '"\\U000e0001"'],
      ['\u{10ffff}', '"\\U0010ffff"'],
      ['\u0378', '"\\u0378"'],
      // A lone surrogate cannot be UTF-8: quoted as the bytes of its WTF-8 form, as Go quotes bad bytes.
      ['a\ud800b', '"a\\xed\\xa0\\x80b"'],
      ['', '""'],
    ];
    for (const [input, expected] of cases) assert.equal(goQuote(input), expected, JSON.stringify(input));
  });

  it('prints one line per instruction with flags as a quoted list', () => {
    const ast = parseDockerfile('FROM a\nCOPY --chown="x y" --link a "b c"\nRUN ["a\\u0000"]\n');
    assert.equal(dumpAst(ast), '(from "a")\n(copy ["--chown=x y" "--link"] "a" "\\"b" "c\\"")\n(run "a\\x00")\n');
  });

  it('nests ONBUILD with the flags of every level', () => {
    const ast = parseDockerfile('ONBUILD --x ONBUILD COPY --from=a b c\n');
    assert.equal(dumpAst(ast), '(onbuild ["--x"] (onbuild (copy ["--from=a"] "b" "c")))\n');
  });

  it('prints instructions without arguments as the bare keyword', () => {
    assert.equal(dumpAst(parseDockerfile('CMD\nCMD []\n')), '(cmd)\n(cmd)\n');
  });
});
