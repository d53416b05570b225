/**
 * The cases of BuildKit's frontend/dockerfile/shell/lex_test.go (TestShellParserMandatoryEnvVars,
 * TestProcessWithMatches, TestProcessWithMatchesPlatform, TestGetEnv), expressed as our own tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, envFromList, type EnvLookup } from '../../../src/dockerfile/shell/index.js';

const fromRecord = (record: Record<string, string>): EnvLookup => (name) => (Object.hasOwn(record, name) ? record[name] : undefined);

function isExpansionError(error: unknown): boolean {
  return error instanceof StagecraftError && error.code === 'SHELL_EXPANSION';
}

describe('mandatory variables (${VAR:?msg}, ${VAR?msg})', () => {
  const lex = new ShellLex();
  const set = envFromList(['VAR=plain', 'ARG=x']);
  const empty = envFromList(['VAR=', 'ARG=x']);
  const unset = envFromList(['ARG=x']);
  const noEmpty = '${VAR:?message here$ARG}';
  const noUnset = '${VAR?message here$ARG}';

  it(':? accepts a non-empty value and rejects empty or unset with the expanded message', () => {
    assert.equal(lex.processWord(noEmpty, set), 'plain');
    for (const env of [empty, unset]) {
      assert.throws(() => lex.processWord(noEmpty, env), (e: unknown) => isExpansionError(e) && (e as Error).message.includes('VAR: message herex'));
    }
  });

  it('? accepts empty, rejects only unset', () => {
    assert.equal(lex.processWord(noUnset, set), 'plain');
    assert.equal(lex.processWord(noUnset, empty), '');
    assert.throws(() => lex.processWord(noUnset, unset), (e: unknown) => isExpansionError(e) && (e as Error).message.includes('VAR: message herex'));
  });

  it('names the word, the variable and the fix', () => {
    assert.throws(() => lex.processWord('${VAR:?msg}', unset), (e: unknown) => {
      assert.ok(e instanceof StagecraftError);
      assert.equal(e.message, 'failed to process "${VAR:?msg}": VAR: msg');
      assert.match(e.hint ?? '', /--build-arg VAR=/);
      return true;
    });
  });
});

interface MatchCase {
  readonly input: string;
  readonly env: Record<string, string>;
  readonly expected?: string;
  readonly matched?: readonly string[];
  readonly unmatched?: readonly string[];
}

const FOO_BAR = { FOO: 'xxx', BAR: '' };

const MATCH_CASES: readonly MatchCase[] = [
  { input: 'x', env: { DUMMY: 'dummy' }, expected: 'x' },
  { input: 'x ${UNUSED}', env: { DUMMY: 'dummy' }, expected: 'x ', unmatched: ['UNUSED'] },
  { input: 'x ${FOO}', env: { FOO: 'y' }, expected: 'x y', matched: ['FOO'] },
  { input: '${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', env: FOO_BAR, expected: 'xxx  ccc', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', env: FOO_BAR, expected: 'xxx bbb ccc', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:-}', env: FOO_BAR, expected: 'xxx', matched: ['FOO'] },
  { input: '${FOO:-}', env: {}, expected: '', unmatched: ['FOO'] },
  { input: '${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', env: FOO_BAR, expected: 'aaa bbb ', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', env: FOO_BAR, expected: 'aaa  ', matched: ['FOO', 'BAR'], unmatched: ['BAZ'] },
  { input: '${FOO?aaa}', env: FOO_BAR, expected: 'xxx', matched: ['FOO'] },
  { input: '${BAR?bbb}', env: FOO_BAR, expected: '', matched: ['BAR'] },
  { input: '${BAZ?ccc}', env: FOO_BAR },
  { input: '${FOO:?aaa}', env: FOO_BAR, expected: 'xxx', matched: ['FOO'] },
  { input: '${BAR:?bbb}', env: FOO_BAR },
  { input: '${BAZ:?ccc}', env: FOO_BAR },
  { input: '${BAZ:?}', env: FOO_BAR },
  { input: '${FOO=aaa}', env: FOO_BAR },
  { input: '${FOO=:aaa}', env: FOO_BAR },
  { input: '${FOO=}', env: {} },
  // Regular-expression metacharacters are literal; `\}` keeps the brace from closing ${}.
  { input: '${FOO#()[]{\\}^$.\\*\\?|\\\\}', env: { FOO: '()[]{}^$.*?|\\x' }, expected: 'x', matched: ['FOO'] },
  { input: '${FOO%%\\**}', env: { FOO: 'xx**' }, expected: 'xx', matched: ['FOO'] },
  { input: '${FOO#*x*y}', env: { FOO: 'xxyy' }, expected: 'y', matched: ['FOO'] },
  { input: '${FOO#*}', env: { FOO: 'xxyy' }, expected: 'xxyy', matched: ['FOO'] },
  { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: 'x' }, expected: 'xyy', matched: ['FOO', 'BAR'] },
  { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', matched: ['FOO', 'BAR'] },
  { input: '${FOO#}', env: { FOO: 'xxyy' }, expected: 'xxyy', matched: ['FOO'] },
  { input: '${FOO##*x}', env: { FOO: 'xxyy' }, expected: 'yy', matched: ['FOO'] },
  { input: '${FOO##}', env: { FOO: 'xxyy' }, expected: 'xxyy', matched: ['FOO'] },
  { input: '${FOO#?\\?}', env: { FOO: '???y' }, expected: '?y', matched: ['FOO'] },
  { input: '${ABC:-.}${FOO%x}${ABC:-.}', env: { FOO: 'xxyy' }, expected: '.xxyy.', matched: ['FOO'], unmatched: ['ABC'] },
  { input: '${FOO%%\\**\\*}', env: { FOO: 'a***yy*' }, expected: 'a', matched: ['FOO'] },
  { input: '${FOO%}', env: { FOO: 'xxyy' }, expected: 'xxyy', matched: ['FOO'] },
  { input: '${FOO%%$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', matched: ['FOO', 'BAR'] },
  { input: '${FOO:#}', env: {} },
  { input: '${FOO:##}', env: {} },
  { input: '${FOO:%}', env: {} },
  { input: '${FOO:%%}', env: {} },
  { input: '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', env: { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, expected: '/foo.*/*.txt - /foo..*.txt', matched: ['FOO', 'NEEDLE'] },
  { input: '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', env: { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, expected: '/tmp/bar.txt - /bar.txt', matched: ['FOO', 'NEEDLE'] },
  {
    input: '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}',
    env: { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' },
    expected: '/foo/b/c.txt - /foo/c.txt',
    matched: ['FOO', 'NEEDLE', 'REPLACEMENT'],
  },
  {
    input: '${FOO/$NEEDLE/$REPLACEMENT}',
    env: { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' },
    expected: 'https://google.de',
    matched: ['FOO', 'NEEDLE', 'REPLACEMENT'],
  },
  { input: '${FOO//\\//\\/}', env: { FOO: '/tmp/foo.txt' }, expected: '\\/tmp\\/foo.txt', matched: ['FOO'] },
  // Partial input: BuildKit calls these "not guaranteed", but they must not crash.
  { input: '${FOO/$BAR/ww}', env: { FOO: 'xxyy', BAR: '' }, expected: 'wwxxyy', matched: ['FOO', 'BAR'] },
  { input: '${FOO//ww}', env: { FOO: 'xxyy' } },
  { input: '${FOO//}', env: { FOO: 'xxyy' } },
  { input: '${FOO///}', env: { FOO: 'xxyy' }, expected: 'xxyy', matched: ['FOO'] },
  { input: '${FOO///}', env: {}, expected: '', unmatched: ['FOO'] },
];

describe('processWordWithMatches (BuildKit TestProcessWithMatches)', () => {
  const lex = new ShellLex();
  for (const c of MATCH_CASES) {
    it(c.input, () => {
      const env = fromRecord(c.env);
      if (c.expected === undefined) {
        assert.throws(() => lex.processWordWithMatches(c.input, env), isExpansionError);
        return;
      }
      const result = lex.processWordWithMatches(c.input, env);
      assert.equal(result.result, c.expected);
      assert.deepEqual([...result.matched].sort(), [...(c.matched ?? [])].sort());
      assert.deepEqual([...result.unmatched].sort(), [...(c.unmatched ?? [])].sort());
    });
  }
});

describe('release file names (BuildKit TestProcessWithMatchesPlatform)', () => {
  const lex = new ShellLex();
  const release = 'something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz';

  it('adds the variant only when it is set and non-empty', () => {
    const base = { VERSION: 'v1.2.3', TARGETOS: 'linux' };
    assert.equal(lex.processWordWithMatches(release, fromRecord({ ...base, TARGETARCH: 'arm', TARGETVARIANT: 'v7' })).result, 'something-v1.2.3.linux-arm-v7.tar.gz');
    assert.equal(lex.processWordWithMatches(release, fromRecord({ ...base, TARGETARCH: 'arm64', TARGETVARIANT: '' })).result, 'something-v1.2.3.linux-arm64.tar.gz');
    assert.equal(lex.processWordWithMatches(release, fromRecord({ ...base, TARGETARCH: 'arm64' })).result, 'something-v1.2.3.linux-arm64.tar.gz');
  });
});

describe('envFromList (BuildKit TestGetEnv)', () => {
  it('parses KEY=VALUE, KEY alone and KEY=, the last entry winning', () => {
    assert.equal(envFromList([])('foo'), undefined);
    assert.equal(envFromList(['foo'])('foo'), '');
    assert.equal(envFromList(['foo='])('foo'), '');
    assert.equal(envFromList(['foo=bar'])('foo'), 'bar');
    const two = envFromList(['foo=bar', 'car=hat']);
    assert.equal(two('foo'), 'bar');
    assert.equal(two('car'), 'hat');
    assert.equal(envFromList(['foo=bar', 'car=hat', 'car=bike'])('car'), 'bike');
  });

  it('keeps "=" inside values and is case-sensitive', () => {
    const env = envFromList(['A=b=c', 'path=/x']);
    assert.equal(env('A'), 'b=c');
    assert.equal(env('PATH'), undefined);
    assert.equal(env('path'), '/x');
  });

  it('treats a variable set to "" as set', () => {
    const lex = new ShellLex();
    const result = lex.processWordWithMatches('${E-unset}', envFromList(['E=']));
    assert.equal(result.result, '');
    assert.deepEqual([...result.matched], ['E']);
  });
});
