/** Each operator, quoting and escaping rule, the options, word splitting and error reporting. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, envFromList } from '../../../src/dockerfile/shell/index.js';

const lex = new ShellLex();
const env = envFromList(['VAR=plain', 'EMPTY=', 'PATHV=/usr/local/bin/app.tar.gz', 'ARG=x']);
const word = (w: string, l: ShellLex = lex): string => l.processWord(w, env);
const fails = (w: string, pattern: RegExp, l: ShellLex = lex): void => {
  assert.throws(() => l.processWord(w, env), (e: unknown) => e instanceof StagecraftError && e.code === 'SHELL_EXPANSION' && pattern.test(e.message));
};

describe('shell lexer operators', () => {
  it('expands $VAR and ${VAR}', () => {
    assert.equal(word('a$VAR-b'), 'aplain-b');
    assert.equal(word('a${VAR}b'), 'aplainb');
    assert.equal(word('$UNSET.'), '.');
  });

  it(':- and - differ on empty values', () => {
    assert.equal(word('${EMPTY:-def}'), 'def');
    assert.equal(word('${EMPTY-def}'), '');
    assert.equal(word('${UNSET-def}'), 'def');
    assert.equal(word('${VAR:-def}'), 'plain');
  });

  it(':+ and + differ on empty values', () => {
    assert.equal(word('${EMPTY:+alt}'), '');
    assert.equal(word('${EMPTY+alt}'), 'alt');
    assert.equal(word('${UNSET+alt}'), '');
    assert.equal(word('${VAR:+alt$ARG}'), 'altx');
  });

  it(':? and ? fail with the message (expanded), BuildKit wording otherwise', () => {
    assert.equal(word('${VAR:?message here$ARG}'), 'plain');
    fails('${EMPTY:?message here$ARG}', /EMPTY: message herex/);
    fails('${UNSET:?message here$ARG}', /UNSET: message herex/);
    assert.equal(word('${EMPTY?msg}'), '');
    fails('${UNSET?}', /UNSET: is not allowed to be unset/);
    fails('${EMPTY:?}', /EMPTY: is not allowed to be empty/);
  });

  it('# ## % %% trim with globs, shortest and longest', () => {
    assert.equal(word('${PATHV#*/}'), 'usr/local/bin/app.tar.gz');
    assert.equal(word('${PATHV##*/}'), 'app.tar.gz');
    assert.equal(word('${PATHV%.*}'), '/usr/local/bin/app.tar');
    assert.equal(word('${PATHV%%.*}'), '/usr/local/bin/app');
    assert.equal(word('${PATHV%%?ar*}'), '/usr/local/bin/app.');
    assert.equal(word('${VAR#nomatch}'), 'plain');
    fails('${VAR:#x}', /unsupported modifier \(:#\)/);
  });

  it('/ and // replace first or all matches', () => {
    assert.equal(word('${PATHV/\\//:}'), ':usr/local/bin/app.tar.gz');
    assert.equal(word('${PATHV//\\//:}'), ':usr:local:bin:app.tar.gz');
    assert.equal(word('${VAR/l*/L}'), 'pL');
    assert.equal(word('${VAR//[a]/A}'), 'plain', 'brackets are literal characters in BuildKit patterns');
    fails('${VAR/a', /missing '\/' in \$\{\}/);
  });

  it('reports syntax errors', () => {
    fails('${VAR', /missing '}'/);
    fails('${}', /bad substitution/);
    fails('${:x}', /bad substitution/);
    fails('${VAR!x}', /unsupported modifier \(!\)/);
    fails("'open", /matching single-quote/);
    fails('"open', /matching double-quote/);
  });

  it('handles quotes and escapes', () => {
    assert.equal(word(`'$VAR'`), '$VAR');
    assert.equal(word(`"$VAR"`), 'plain');
    assert.equal(word('\\$VAR'), '$VAR');
    assert.equal(word('"a\\"b"'), 'a"b');
    assert.equal(word('"a\\tb"'), 'a\\tb');
  });

  it('uses the backtick escape token when the Dockerfile says so', () => {
    const tick = new ShellLex({ escapeToken: '`' });
    assert.equal(word('`$VAR', tick), '$VAR');
    assert.equal(word('C:\\dir\\$VAR', tick), 'C:\\dir\\plain');
  });

  it('splits words like a shell', () => {
    const spaced = envFromList(['S=a  b']);
    assert.deepEqual(lex.processWords('x${S}y "q r"', spaced), ['xa', 'by', 'q r']);
  });

  it('tracks matched and unmatched names', () => {
    const result = lex.processWordWithMatches('$VAR ${UNSET:-x} ${EMPTY}', env);
    assert.deepEqual([...result.matched].sort(), ['EMPTY', 'VAR']);
    assert.deepEqual([...result.unmatched], ['UNSET']);
  });

  it('keeps unset references with skipUnsetEnv and quotes with rawQuotes', () => {
    const keep = new ShellLex({ skipUnsetEnv: true, rawQuotes: true });
    assert.equal(word('$UNSET ${UNSET} ${UNSET:-d} $VAR', keep), '$UNSET ${UNSET} ${UNSET:-d} plain');
    assert.equal(word(`'a' "b"`, keep), `'a' "b"`);
  });

  it('treats quotes as text with skipProcessQuotes', () => {
    assert.equal(word(`'$VAR'`, new ShellLex({ skipProcessQuotes: true })), `'plain'`);
  });
});

describe('names and special parameters', () => {
  it('reads letters, digits and _ (any script) after $', () => {
    const env2 = envFromList(['A_1=one', '변수=value']);
    assert.equal(lex.processWord('$A_1.x', env2), 'one.x');
    assert.equal(lex.processWord('<$변수>', env2), '<value>');
  });

  it('a lone $ or $ before a non-name character stays literal', () => {
    assert.equal(word('$'), '$');
    assert.equal(word('a$ b'), 'a$ b');
    assert.equal(word('$.x'), '$.x');
    assert.equal(word('${VAR}}'), 'plain}');
  });

  it('positional parameters take all digits and are unset', () => {
    assert.equal(word('$1x'), 'x');
    assert.equal(word('$123x'), 'x');
    assert.equal(word('${1:-one}'), 'one');
    assert.equal(lex.processWord('$1', envFromList(['1=set'])), 'set');
  });

  it('special parameters are one character and unset', () => {
    assert.equal(word('$@@@'), '@@');
    assert.equal(word('a$$b'), 'ab');
    assert.equal(word('${#}${?:-q}${-}${!}${*}${0:-zero}'), 'qzero');
    fails('${#VAR}', /unsupported modifier \(V\)/);
  });
});

describe('quoting and escaping', () => {
  it('single quotes keep everything literally', () => {
    assert.equal(word(`'a\\b $VAR "x"'`), 'a\\b $VAR "x"');
    assert.equal(word(`'it'"'"'s'`), "it's");
  });

  it('in double quotes the escape token escapes only ", $ and itself', () => {
    assert.equal(word('"a\\b"'), 'a\\b');
    assert.equal(word('"a\\$VAR"'), 'a$VAR');
    assert.equal(word('"a\\\\b"'), 'a\\b');
    assert.equal(word('"a\\nb"'), 'a\\nb');
    assert.equal(word(`"it's $VAR"`), "it's plain");
  });

  it('outside quotes the escape token escapes any character; a trailing one is dropped', () => {
    assert.equal(word('a\\ b'), 'a b');
    assert.equal(word('\\"x\\\''), `"x'`);
    assert.equal(word('\\n'), 'n');
    assert.equal(word('abc\\'), 'abc');
  });

  it('keeps a BOM-free word and skips a leading byte order mark', () => {
    assert.equal(word('\ufeff$VAR'), 'plain');
    assert.equal(word('a\ufeff'), 'a\ufeff');
  });

  it('leaves heredoc markers (<<, <<-, with spaces) intact', () => {
    assert.equal(word('cat <<EOF'), 'cat <<EOF');
    assert.equal(word('a<b'), 'a<b');
    assert.deepEqual(lex.processWords('cat <<  EOF x', env), ['cat', '<<  EOF', 'x']);
  });
});

describe('the backtick escape token', () => {
  const tick = new ShellLex({ escapeToken: '`' });

  it('escapes with ` and leaves backslashes alone', () => {
    assert.equal(word('a` b', tick), 'a b');
    assert.equal(word('"a``b"', tick), 'a`b');
    assert.equal(word('"a`"b"', tick), 'a"b');
    assert.equal(word('"a`$VAR"', tick), 'a$VAR');
    assert.equal(word('"C:\\$VAR\\"', tick), 'C:\\plain\\');
    assert.deepEqual(tick.processWords('a` b c', env), ['a b', 'c']);
  });

  it('still uses backslash for pattern escapes, as BuildKit does', () => {
    const stars = envFromList(['S=*x*']);
    assert.equal(tick.processWord('${S#\\*}', stars), 'x*');
    assert.equal(tick.processWord('${S%\\*}', stars), '*x');
  });
});

describe('modifier words', () => {
  it('expand variables and quotes inside the word', () => {
    assert.equal(word('${UNSET:-"a  b"}'), 'a  b');
    assert.equal(word("${UNSET:-'$VAR'}"), '$VAR');
    assert.equal(word('${UNSET:-${ARG:-n}y}'), 'xy');
    assert.equal(word('${UNSET:-\\}}'), '}');
  });

  it('patterns come from variables and keep their escapes', () => {
    const env2 = envFromList(['F=a*b*c', 'P=\\*']);
    assert.equal(lex.processWord('${F#*$P}', env2), 'b*c');
    assert.equal(lex.processWord('${F%%$P*}', env2), 'a');
    assert.equal(lex.processWord('${F//$P/-}', env2), 'a-b-c');
  });

  it('wildcards stop at newlines', () => {
    const env2 = envFromList(['M=a\nb.c']);
    assert.equal(lex.processWord('${M##*}', env2), '\nb.c');
    assert.equal(lex.processWord('${M%.*}', env2), 'a\nb');
  });

  it('looks up names in the word even when the word is not used', () => {
    const result = lex.processWordWithMatches('${VAR:-$UNSET}', env);
    assert.equal(result.result, 'plain');
    assert.deepEqual([...result.matched], ['VAR']);
    assert.deepEqual([...result.unmatched], ['UNSET']);
  });
});

describe('options', () => {
  it('skipUnsetEnv writes unset references back as BuildKit does (// loses a slash)', () => {
    const keep = new ShellLex({ skipUnsetEnv: true });
    assert.equal(word('${UNSET#x} ${UNSET##*x} ${UNSET%x}', keep), '${UNSET#x} ${UNSET##*x} ${UNSET%x}');
    assert.equal(word('${UNSET/a/b} ${UNSET//a/b}', keep), '${UNSET/a/b} ${UNSET/a/b}');
    assert.equal(word('${UNSET:-$VAR} ${VAR:-$UNSET}', keep), '${UNSET:-plain} plain');
    assert.equal(word('${UNSET:x}', keep), '${UNSET:x}');
    assert.equal(word('${UNSET?gone}', keep), '${UNSET?gone}');
    fails('${VAR:x}', /unsupported modifier \(:x\)/, keep);
  });

  it('rawQuotes keeps quote characters, still grouping words', () => {
    const raw = new ShellLex({ rawQuotes: true });
    assert.equal(word(`'a' "b $VAR"`, raw), `'a' "b plain"`);
    assert.deepEqual(raw.processWords(`"a b" c`, env), ['"a b"', 'c']);
  });

  it('rawEscapes keeps escape characters', () => {
    const raw = new ShellLex({ rawEscapes: true });
    assert.equal(word('a\\ b\\$VAR', raw), 'a\\ b\\$VAR');
    assert.equal(word('"a\\"b"', raw), 'a\\"b');
    // BuildKit writes a non-escaping backslash twice in double quotes in this mode.
    assert.equal(word('"a\\tb"', raw), 'a\\\\tb');
  });

  it('skipProcessQuotes makes quotes ordinary characters', () => {
    const plain = new ShellLex({ skipProcessQuotes: true });
    assert.deepEqual(plain.processWords('"a b" \'$VAR\'', env), ['"a', 'b"', "'plain'"]);
    assert.equal(word('"unclosed', plain), '"unclosed');
  });
});

describe('word splitting (processWords)', () => {
  it('splits expanded values but not quoted ones, and drops empty words', () => {
    const env2 = envFromList(['S= a  b ', 'E=']);
    assert.deepEqual(lex.processWords('x${S}y', env2), ['x', 'a', 'b', 'y']);
    assert.deepEqual(lex.processWords('"${S}"', env2), [' a  b ']);
    assert.deepEqual(lex.processWords(`'' $E "" z`, env2), ['z']);
    assert.deepEqual(lex.processWords('   ', env2), []);
  });

  it('splits on Unicode white space like Go (NBSP yes, BOM no)', () => {
    const env2 = envFromList(['N=a\u00a0b', 'B=a\ufeffb']);
    assert.deepEqual(lex.processWords('$N', env2), ['a', 'b']);
    assert.deepEqual(lex.processWords('$B', env2), ['a\ufeffb']);
  });

  it('drops text before a ${VAR<op>word} in the same word, exactly as BuildKit', () => {
    // BuildKit shares one partial-word buffer across nested words; EXPOSE 80${P:-/tcp} yields "/tcp".
    assert.deepEqual(lex.processWords('80${P:-/tcp}', env), ['/tcp']);
    assert.deepEqual(lex.processWords('a ${P:-b}c', env), ['a', 'bc']);
    assert.deepEqual(lex.processWords('x${VAR}y', env), ['xplainy']);
    assert.equal(lex.processWord('80${P:-/tcp}', env), '80/tcp');
  });

  it('processWordWithMatches returns the words too', () => {
    assert.deepEqual(lex.processWordWithMatches('a $VAR', env).words, ['a', 'plain']);
  });
});

describe('errors', () => {
  const hintOf = (w: string, l: ShellLex = lex): string => {
    try {
      l.processWord(w, env);
    } catch (error) {
      assert.ok(error instanceof StagecraftError);
      assert.equal(error.code, 'SHELL_EXPANSION');
      assert.ok(error.message.startsWith(`failed to process ${JSON.stringify(w)}: `), error.message);
      return error.hint ?? '';
    }
    assert.fail(`${w} should fail`);
  };

  it('every error names the word and carries a hint', () => {
    assert.match(hintOf('${VAR'), /Close the substitution/);
    assert.match(hintOf('${}'), /variable name/);
    assert.match(hintOf('${VAR!x}'), /Supported forms/);
    assert.match(hintOf("'open"), /Close the ' quote/);
    assert.match(hintOf('"open'), /Close the " quote/);
    assert.match(hintOf('${UNSET?}'), /--build-arg UNSET=/);
    assert.match(hintOf('${VAR#\\x}'), /may be escaped/);
    assert.match(hintOf('${VAR/a'), /\$\{NAME\/pattern\/replacement\}/);
  });

  it('reports an error inside a nested word, or a missing brace when input ends', () => {
    fails('${A:-${UNSET?inner}}', /UNSET: inner/);
    fails('${A:-${UNSET?inner}', /missing '}'/);
    fails('${VAR:}', /missing '}'/);
    fails('${VAR:}x}', /unsupported modifier \(:}\)/);
    fails('${VAR#*\\.}', /invalid pattern \(\*\\\.\) in substitution: invalid escape/);
  });

  it('bounds nesting depth with a clear error', () => {
    const deep = (n: number): string => `${'${A:-'.repeat(n)}z${'}'.repeat(n)}`;
    assert.equal(word(deep(60)), 'z');
    fails(deep(70), /nested more than 64 levels/);
    fails(deep(100_000), /nested more than/);
  });
});
