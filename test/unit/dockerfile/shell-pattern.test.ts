/**
 * The glob matcher behind ${VAR#pat} ${VAR%pat} ${VAR/pat/rep}: BuildKit's pattern rules
 * (TestConvertShellPatternToRegex, TestReversePattern, TestReverseString), Go's leftmost-first match
 * choice (checked against a backtracking RegExp on small inputs, whose priorities are the same), Go's
 * ReplaceAllString rules, and linear time on patterns that make backtracking engines explode.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ShellLex, envFromList } from '../../../src/dockerfile/shell/index.js';
import {
  PatternError, codePoints, compilePattern, findMatch, replaceAll, replaceFirst, reversePattern, reverseString, trimPrefix, trimSuffix,
} from '../../../src/dockerfile/shell/pattern.js';

/** Whether `pattern` (a shell glob) matches all of `text`. */
function matchesExactly(pattern: string, text: string): boolean {
  const cps = codePoints(text);
  const match = findMatch(compilePattern(pattern), true, cps, 0, true);
  return match !== undefined && trimPrefix(pattern, text, true) === '' && match[1] === cps.length;
}

describe('pattern syntax (BuildKit convertShellPatternToRegex)', () => {
  it('* and ? are wildcards; escaped they are literal', () => {
    assert.ok(matchesExactly('*', 'anything'));
    assert.ok(matchesExactly('?', 'x'));
    assert.ok(!matchesExactly('?', 'xy'));
    assert.ok(matchesExactly('\\*', '*'));
    assert.ok(!matchesExactly('\\*', 'x'));
    assert.ok(matchesExactly('\\?', '?'));
    assert.ok(!matchesExactly('\\?', 'x'));
  });

  it('regular-expression metacharacters and brackets are literal', () => {
    assert.ok(matchesExactly('(()[]{\\}^$.\\*\\?|\\\\', '(()[]{}^$.*?|\\'));
    assert.ok(matchesExactly('[ab]', '[ab]'));
    assert.ok(!matchesExactly('[ab]', 'a'));
    assert.ok(matchesExactly('a.b+', 'a.b+'));
    assert.ok(!matchesExactly('a.b', 'axb'));
  });

  it('\\} and \\/ drop the backslash', () => {
    assert.ok(matchesExactly('a\\}b\\/c', 'a}b/c'));
  });

  it('rejects other escapes and a trailing backslash', () => {
    for (const pattern of ['\\', '\\x', '\\\\\\', 'a\\.']) {
      assert.throws(() => compilePattern(pattern), PatternError, pattern);
    }
    assert.throws(() => compilePattern('\\x'), /invalid escape '\\x'/);
  });

  it('wildcards do not match a newline (Go regexp without the s flag)', () => {
    assert.ok(!matchesExactly('*', 'a\nb'));
    assert.ok(!matchesExactly('a?b', 'a\nb'));
    assert.ok(matchesExactly('*\n*', 'a\nb'));
  });

  it('works on code points, not UTF-16 units', () => {
    assert.ok(matchesExactly('?', '😀'));
    assert.ok(matchesExactly('?국?', '한국어'));
    assert.equal(trimPrefix('?', '😀x', false), 'x');
    assert.equal(trimSuffix('?', 'x😀', false), 'x');
  });

  it('skips a byte order mark at the start of a pattern, as Go text/scanner does', () => {
    assert.ok(matchesExactly('\ufeffab', 'ab'));
  });
});

describe('reversing (BuildKit TestReversePattern, TestReverseString)', () => {
  it('reverses strings by code point', () => {
    assert.equal(reverseString('54321'), '12345');
    assert.equal(reverseString('🖖🚀👽'), '👽🚀🖖');
  });

  it('keeps each escape before the character it escapes', () => {
    const cases: Array<[string, string]> = [
      ['a\\*c', 'c\\*a'],
      ['\\\\\\ab', 'b\\a\\\\'],
      ['ab\\', '\\ba'],
      ['👽\\🚀🖖', '🖖\\🚀👽'],
      ['\\\\b', 'b\\\\'],
    ];
    for (const [pattern, expected] of cases) assert.equal(reversePattern(pattern), expected, pattern);
  });
});

describe('trimming', () => {
  it('# and ## remove the shortest and longest prefix', () => {
    assert.equal(trimPrefix('*/', '/usr/local/bin', false), 'usr/local/bin');
    assert.equal(trimPrefix('*/', '/usr/local/bin', true), 'bin');
    assert.equal(trimPrefix('x', 'abc', false), 'abc');
    assert.equal(trimPrefix('', 'abc', true), 'abc');
  });

  it('% and %% remove the shortest and longest suffix', () => {
    assert.equal(trimSuffix('.*', 'app.tar.gz', false), 'app.tar');
    assert.equal(trimSuffix('.*', 'app.tar.gz', true), 'app');
    assert.equal(trimSuffix('\\**\\*', 'a***yy*', true), 'a');
  });

  it('stops at newlines like Go', () => {
    assert.equal(trimPrefix('*', 'a\nb', true), '\nb');
    assert.equal(trimSuffix('*', 'a\nb', true), 'a\n');
    assert.equal(trimSuffix('.*', 'a\nb.c', false), 'a\nb');
  });
});

describe('replacing (Go Regexp.ReplaceAllString)', () => {
  it('replaces the leftmost match, stars taking as much as they can', () => {
    assert.equal(replaceFirst('b*', 'abcb', 'X'), 'aX');
    assert.equal(replaceFirst('b?', 'abcb', 'X'), 'aXb');
    assert.equal(replaceFirst('z', 'abc', 'X'), 'abc');
    assert.equal(replaceFirst('', 'abc', 'X'), 'Xabc');
  });

  it('replaces every match; an empty match right after a match is skipped', () => {
    assert.equal(replaceAll('', 'ab', 'x'), 'xaxbx');
    assert.equal(replaceAll('*', 'ab', 'x'), 'x');
    assert.equal(replaceAll('*', 'a\nb', 'x'), 'x\nx');
    assert.equal(replaceAll('?', 'a\nbc', 'x'), 'x\nxx');
    assert.equal(replaceAll('a', 'banana', 'o'), 'bonono');
  });

  it('expands Go template references in the replacement of //, not of /', () => {
    assert.equal(replaceAll('a', 'ab', '[$0]'), '[a]b');
    assert.equal(replaceAll('a', 'ab', '[${0}]'), '[a]b');
    assert.equal(replaceAll('a', 'ab', '$$'), '$b');
    assert.equal(replaceAll('a', 'ab', '<$1>'), '<>b');
    assert.equal(replaceAll('a', 'ab', '<$name>'), '<>b');
    assert.equal(replaceAll('a', 'ab', '<$>'), '<$>b');
    assert.equal(replaceAll('a', 'ab', '<${0>'), '<${0>b');
    assert.equal(replaceAll('a', 'ab', '<$00>'), '<>b');
    assert.equal(replaceFirst('a', 'ab', '[$0]'), '[$0]b');
  });

  it('reaches the template through the lexer', () => {
    const lex = new ShellLex();
    const env = envFromList(['FOO=ab', 'REP=[$0]']);
    assert.equal(lex.processWord('${FOO//a/$REP}', env), '[a]b');
    assert.equal(lex.processWord('${FOO/a/$REP}', env), '[$0]b');
    // The replacement keeps its escapes, so \$0 is a backslash and then the match.
    assert.equal(lex.processWord('${FOO//a/\\$0}', env), '\\ab');
  });
});

/** The same glob as a backtracking RegExp (same leftmost-first priorities as Go's RE2). */
function toRegExp(pattern: readonly string[], greedy: boolean, anchored: boolean): RegExp {
  let source = anchored ? '^' : '';
  for (const token of pattern) {
    if (token === '*') source += greedy ? '[^\\n]*' : '[^\\n]*?';
    else if (token === '?') source += '[^\\n]';
    else source += token.slice(-1).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  }
  return new RegExp(source, anchored ? 'u' : 'gu');
}

describe('match choice equals a leftmost-first backtracking engine', () => {
  const patternToken = fc.constantFrom('a', 'b', '\n', '*', '?', '\\*', '\\?', '\\\\', '.');
  const textChar = fc.constantFrom('a', 'b', '\n', '*', '?', '\\', '.');

  it('for anchored and unanchored searches, greedy and shortest', () => {
    fc.assert(
      fc.property(fc.array(patternToken, { maxLength: 7 }), fc.array(textChar, { maxLength: 10 }), fc.boolean(), fc.boolean(), fc.nat(10), (pattern, chars, greedy, anchored, fromRaw) => {
        const text = chars.join('');
        const from = anchored ? 0 : Math.min(fromRaw, text.length);
        const actual = findMatch(compilePattern(pattern.join('')), greedy, codePoints(text), from, anchored);
        const re = toRegExp(pattern, greedy, anchored);
        re.lastIndex = from;
        const m = re.exec(text);
        const expected = m === null ? undefined : [m.index, m.index + m[0].length];
        assert.deepEqual(actual, expected);
      }),
      { numRuns: 4000 },
    );
  });
});

describe('linear time', () => {
  it('handles patterns that make backtracking engines exponential', { timeout: 20_000 }, () => {
    const pattern = `${'*a'.repeat(20)}*b`;
    const value = 'a'.repeat(5000);
    assert.equal(trimPrefix(pattern, value, true), value);
    assert.equal(trimPrefix(pattern, value, false), value);
    assert.equal(trimSuffix(pattern, value, true), value);
    assert.equal(replaceAll(pattern, value, 'x'), value);
    assert.equal(replaceFirst(pattern, value, 'x'), value);
    const lex = new ShellLex();
    const env = envFromList([`V=${value}`, `P=${pattern}`]);
    assert.equal(lex.processWord('${V##$P}${V%%$P}${V//$P/x}', env), value.repeat(3));
  });

  it('handles long values with many matches', { timeout: 20_000 }, () => {
    const value = 'ab'.repeat(20_000);
    assert.equal(replaceAll('a', value, ''), 'b'.repeat(20_000));
    assert.equal(replaceAll('?', value, 'x'), 'x'.repeat(40_000));
    assert.equal(trimSuffix('a*', value, true), '');
  });
});
