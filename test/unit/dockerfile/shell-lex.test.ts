import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
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

describe('shell lexer robustness', () => {
  it('never throws anything but StagecraftError on arbitrary input', { timeout: 20_000 }, () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '"', "'", '`', '*', 'a', 'V', ' ', '[', ']', '<', '(') , maxLength: 40 }), (input) => {
        try {
          lex.processWordWithMatches(input, env);
        } catch (error) {
          if (!(error instanceof StagecraftError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
