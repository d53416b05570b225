import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { parseDockerignore } from '../../src/util/dockerignore.js';
import {
  PatternMatcher,
  PatternSyntaxError,
  cleanPath,
  hasWildcards,
  matchesPatterns,
  pathMatch,
  type MatchInfo,
} from '../../src/util/patterns.js';

/** [pattern, path, matches] — single patterns, checked with a path and its parents. */
const SINGLE: ReadonlyArray<readonly [string, string, boolean]> = [
  ['**', 'file', true],
  ['**', 'file/', true],
  ['**/', 'file', true],
  ['**/', 'file/', true],
  ['**', '/', true],
  ['**/', '/', true],
  ['**', 'dir/file', true],
  ['**/', 'dir/file', true],
  ['**', 'dir/file/', true],
  ['**/', 'dir/file/', true],
  ['**/**', 'dir/file', true],
  ['**/**', 'dir/file/', true],
  ['dir/**', 'dir/file', true],
  ['dir/**', 'dir/file/', true],
  ['dir/**', 'dir/dir2/file', true],
  ['dir/**', 'dir/dir2/file/', true],
  ['**/dir', 'dir', true],
  ['**/dir', 'dir/file', true],
  ['**/dir2/*', 'dir/dir2/file', true],
  ['**/dir2/*', 'dir/dir2/file/', true],
  ['**/dir2/**', 'dir/dir2/dir3/file', true],
  ['**/dir2/**', 'dir/dir2/dir3/file/', true],
  ['**file', 'file', true],
  ['**file', 'dir/file', true],
  ['**/file', 'dir/file', true],
  ['**file', 'dir/dir/file', true],
  ['**/file', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file', true],
  ['**/file*', 'dir/dir/file.txt', true],
  ['**/file*txt', 'dir/dir/file.txt', true],
  ['**/file*.txt', 'dir/dir/file.txt', true],
  ['**/file*.txt*', 'dir/dir/file.txt', true],
  ['**/**/*.txt', 'dir/dir/file.txt', true],
  ['**/**/*.txt2', 'dir/dir/file.txt', false],
  ['**/*.txt', 'file.txt', true],
  ['**/**/*.txt', 'file.txt', true],
  ['a**/*.txt', 'a/file.txt', true],
  ['a**/*.txt', 'a/dir/file.txt', true],
  ['a**/*.txt', 'a/dir/dir/file.txt', true],
  ['a/*.txt', 'a/dir/file.txt', false],
  ['a/*.txt', 'a/file.txt', true],
  ['a/*.txt**', 'a/file.txt', true],
  ['a[b-d]e', 'ae', false],
  ['a[b-d]e', 'ace', true],
  ['a[b-d]e', 'aae', false],
  ['a[^b-d]e', 'aze', true],
  ['.*', '.foo', true],
  ['.*', 'foo', false],
  ['abc.def', 'abcdef', false],
  ['abc.def', 'abc.def', true],
  ['abc.def', 'abcZdef', false],
  ['abc?def', 'abcZdef', true],
  ['abc?def', 'abcdef', false],
  ['a\\\\', 'a\\', true],
  ['**/foo/bar', 'foo/bar', true],
  ['**/foo/bar', 'dir/foo/bar', true],
  ['**/foo/bar', 'dir/dir2/foo/bar', true],
  ['abc/**', 'abc', false],
  ['abc/**', 'abc/def', true],
  ['abc/**', 'abc/def/ghi', true],
  ['**/.foo', '.foo', true],
  ['**/.foo', 'bar.foo', false],
  ['a(b)c/def', 'a(b)c/def', true],
  ['a(b)c/def', 'a(b)c/xyz', false],
  ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
  ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
  ['a\\*b', 'a*b', true],
  ['a\\*b', 'axb', false],
  // a directory pattern matches everything below it
  ['docs', 'docs/README.md', true],
  ['docs/', 'docs/sub/README.md', true],
  ['docs/*', 'docs/sub/README.md', true],
  ['docs', 'documents/x', false],
  // leading ./ is cleaned away; a leading / is kept (so it never matches a relative path)
  ['./docs', 'docs/x', true],
  ['/docs', 'docs/x', false],
  ['a/../b', 'b/c', true],
  // escapes inside classes; unicode classes
  ['[\\]a]', ']', true],
  ['[x\\-]', '-', true],
  ['[x\\-]', 'z', false],
  ['[a-ζ]*', 'α', true],
  ['a?b', 'a☺b', true],
  ['a???b', 'a☺b', false],
  ['a?b', 'a/b', false],
  ['a*b', 'a/b', false],
];

/** [patterns, path, matches] — order and `!` exceptions. */
const MULTI: ReadonlyArray<readonly [readonly string[], string, boolean]> = [
  [['**', '!util/docker/web'], 'util/docker/web/foo', false],
  [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
  [['**', '!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['**', '!dist/*.whl'], 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', false],
  [['!fileutils.go', '*.go'], 'fileutils.go', true],
  [['*.go', '!fileutils.go'], 'fileutils.go', false],
  [['docs', '!docs/README.md'], 'docs/README.md', false],
  [['docs/', '!docs/README.md'], 'docs/README.md', false],
  [['docs/*', '!docs/README.md'], 'docs/README.md', false],
  [['docs', '!docs/README.md'], 'docs/other.md', true],
  [['*', '!keep', 'keep/drop'], 'keep/drop/x', true],
  [['*', '!keep', 'keep/drop'], 'keep/x', false],
  [[], 'any/path', false],
];

/** Walks the parents of `path` with `matchesUsingParent`, as a tree walk would. */
function walkMatch(matcher: PatternMatcher, path: string): boolean {
  const parent = path.split('/').slice(0, -1).filter((p) => p !== '');
  let info: MatchInfo | undefined;
  for (let i = 0; i < parent.length; i++) info = matcher.matchesUsingParent(parent.slice(0, i + 1).join('/'), info).info;
  return matcher.matchesUsingParent(path, info).matched;
}

describe('PatternMatcher (moby/patternmatcher semantics)', () => {
  it('matches single patterns against a path or its parents', () => {
    for (const [pattern, path, expected] of SINGLE) {
      const matcher = PatternMatcher.create([pattern]);
      assert.equal(matcher.matches(path), expected, `matches(${JSON.stringify(pattern)}, ${JSON.stringify(path)})`);
      assert.equal(matcher.matchesUsingParent(path, undefined).matched, expected, `no-context ${pattern} ${path}`);
      if (!path.endsWith('/') && !path.startsWith('/')) {
        assert.equal(walkMatch(matcher, path), expected, `walk ${pattern} ${path}`);
      }
    }
  });

  it('applies patterns in order with ! exceptions', () => {
    for (const [patterns, path, expected] of MULTI) {
      const matcher = PatternMatcher.create(patterns);
      assert.equal(matcher.matches(path), expected, `${JSON.stringify(patterns)} ${path}`);
      assert.equal(walkMatch(matcher, path), expected, `walk ${JSON.stringify(patterns)} ${path}`);
      assert.equal(matcher.matchesUsingParent(path, undefined).matched, expected, `no-context ${JSON.stringify(patterns)} ${path}`);
    }
  });

  it('trims whitespace, drops empty patterns and notes exceptions', () => {
    const matcher = PatternMatcher.create(['docs', '  !docs/README.md  ', '', '   ']);
    assert.equal(matcher.patterns.length, 2);
    assert.equal(matcher.hasExclusions, true);
    assert.equal(matcher.patterns[1]?.text, 'docs/README.md');
    assert.equal(matcher.patterns[1]?.exclusion, true);
    assert.equal(PatternMatcher.create(['a', 'b']).hasExclusions, false);
  });

  it('rejects a lone ! and malformed patterns with INVALID_PATTERN', () => {
    for (const bad of ['!', '[', 'a[', '[^bc', '[]a]', '[-]', '[x-]', '[-x]', '[a-b-c]', '\\', 'ok/[']) {
      assert.throws(() => PatternMatcher.create(['ok', bad], { source: '.dockerignore' }), (error: unknown) => {
        assert.ok(isStagecraftError(error));
        assert.equal(error.code, 'INVALID_PATTERN');
        assert.match(error.message, /\.dockerignore/);
        return true;
      }, bad);
    }
  });

  it('rejects a class with a reversed range that path.Match accepts', () => {
    assert.throws(() => PatternMatcher.create(['[Local-Only]/']), (error: unknown) => isStagecraftError(error) && error.code === 'INVALID_PATTERN');
  });

  it('never matches "." in matchesPatterns and cleans the path first', () => {
    assert.equal(matchesPatterns('.', ['*']), false);
    assert.equal(matchesPatterns('./a/../fileutils.go', ['*.go']), true);
    assert.equal(matchesPatterns('fileutils.go', ['*']), true);
  });

  it('passes parent results to children (an excluded directory excludes its files)', () => {
    const matcher = PatternMatcher.create(['build', '!build/keep.txt']);
    const dir = matcher.matchesUsingParent('build', undefined);
    assert.equal(dir.matched, true);
    assert.equal(matcher.matchesUsingParent('build/x.o', dir.info).matched, true);
    assert.equal(matcher.matchesUsingParent('build/keep.txt', dir.info).matched, false);
  });
});

describe('pathMatch (Go path.Match)', () => {
  const cases: ReadonlyArray<readonly [string, string, boolean | 'bad']> = [
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'abc', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*/b', 'a/c/b', false],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false],
    ['ab[^e-g]', 'abc', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['a???b', 'a☺b', false],
    ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true],
    ['*[a-ζ]', 'A', false],
    ['a?b', 'a/b', false],
    ['a*b', 'a/b', false],
    ['[\\]a]', ']', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'x', true],
    ['[x\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true],
    ['[\\-x]', '-', true],
    ['[\\-x]', 'a', false],
    ['[]a]', ']', 'bad'],
    ['[-]', '-', 'bad'],
    ['[x-]', 'x', 'bad'],
    ['[x-]', '-', 'bad'],
    ['[x-]', 'z', 'bad'],
    ['[-x]', 'x', 'bad'],
    ['[-x]', '-', 'bad'],
    ['[-x]', 'a', 'bad'],
    ['\\', 'a', 'bad'],
    ['[a-b-c]', 'a', 'bad'],
    ['[', 'a', 'bad'],
    ['[^', 'a', 'bad'],
    ['[^bc', 'a', 'bad'],
    ['a[', 'a', 'bad'],
    ['a[', 'ab', 'bad'],
    ['a[', 'x', 'bad'],
    ['a/b[', 'a/b', 'bad'],
    ['*x', 'xxx', true],
  ];
  it('follows Go path.Match for literals, stars, classes and escapes', () => {
    for (const [pattern, name, expected] of cases) {
      if (expected === 'bad') {
        assert.throws(() => pathMatch(pattern, name), PatternSyntaxError, `${pattern} ${name}`);
      } else {
        assert.equal(pathMatch(pattern, name), expected, `${pattern} ${name}`);
      }
    }
  });

  it('detects wildcards unless escaped', () => {
    assert.equal(hasWildcards('a/b.txt'), false);
    assert.equal(hasWildcards('a/*.txt'), true);
    assert.equal(hasWildcards('a/[ab].txt'), true);
    assert.equal(hasWildcards('a/file?.txt'), true);
    assert.equal(hasWildcards('a/\\*.txt'), false);
  });

  it('cleans paths like Go path.Clean', () => {
    const cases2: ReadonlyArray<readonly [string, string]> = [
      ['', '.'], ['.', '.'], ['/', '/'], ['a/', 'a'], ['./a/./b/', 'a/b'], ['a/../..', '..'], ['/../a', '/a'], ['a//b', 'a/b'], ['../../a/../b', '../../b'],
    ];
    for (const [input, expected] of cases2) assert.equal(cleanPath(input), expected, input);
  });
});

describe('parseDockerignore (ignorefile.ReadAll)', () => {
  it('reads patterns, comments, blank lines, exceptions and absolute paths', () => {
    const content = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ';
    assert.deepEqual(parseDockerignore(content), ['test1', 'test2', 'a/file/here', 'lastfile', '!inverted/abs/path', '!', '!']);
  });

  it('strips a BOM, CRLF line ends and cleans patterns', () => {
    const content = Buffer.from('\uFEFF./a/b/../c\r\n  spaced/  \r\n#comment\r\n  # not a comment\r\n/\r\n');
    assert.deepEqual(parseDockerignore(content), ['a/c', 'spaced', '# not a comment', '/']);
  });

  it('gives an empty list for an empty file', () => {
    assert.deepEqual(parseDockerignore(''), []);
    assert.deepEqual(parseDockerignore('\n\n# x\n'), []);
  });

  it('feeds PatternMatcher: exceptions re-include files', () => {
    const matcher = PatternMatcher.create(parseDockerignore('*.md\n!README.md\nnode_modules\n'));
    assert.equal(matcher.matches('CHANGES.md'), true);
    assert.equal(matcher.matches('README.md'), false);
    assert.equal(matcher.matches('node_modules/x/index.js'), true);
    assert.equal(matcher.matches('src/index.ts'), false);
  });
});
