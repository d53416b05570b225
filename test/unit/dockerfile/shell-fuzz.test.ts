/**
 * Property tests: arbitrary input never makes the lexer throw anything but a SHELL_EXPANSION
 * StagecraftError and never hangs (the `timeout` option is the hang guard); plus a few algebraic
 * properties that hold for every input.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, envFromList, type ShellLexOptions } from '../../../src/dockerfile/shell/index.js';

const SYNTAX = ['$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', '"', "'", '*', '<', ' ', '\n', '\t', '0', '1', '@', '!'];
const TEXT = ['a', 'V', 'E', 'P', '_', '.', '[', ']', '(', '|', '^', '한', '😀', '\u00a0', '\ufeff', '\u0000'];
const NAMES = ['V', 'E', 'P', 'a', 'VE', '1', '@'];

const shellChar = fc.constantFrom(...SYNTAX, ...TEXT);
const shellText = fc.array(fc.oneof(shellChar, fc.constantFrom('${', '${V', '${V:-', '${V#', '${V//', '$V', '}', '\\*')), { maxLength: 60 }).map((parts) => parts.join(''));
const options: fc.Arbitrary<ShellLexOptions> = fc.record({
  escapeToken: fc.constantFrom<'\\' | '`'>('\\', '`'),
  rawQuotes: fc.boolean(),
  rawEscapes: fc.boolean(),
  skipUnsetEnv: fc.boolean(),
  skipProcessQuotes: fc.boolean(),
});
const envList = fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.array(shellChar, { maxLength: 12 }).map((c) => c.join(''))), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`));

/** Runs all three entry points; asserts they agree, or that they fail with SHELL_EXPANSION. */
function runAll(lex: ShellLex, input: string, list: readonly string[]): void {
  const env = envFromList(list);
  let withMatches;
  try {
    withMatches = lex.processWordWithMatches(input, env);
  } catch (error) {
    if (!(error instanceof StagecraftError) || error.code !== 'SHELL_EXPANSION') throw error;
    assert.throws(() => lex.processWord(input, env), StagecraftError);
    assert.throws(() => lex.processWords(input, env), StagecraftError);
    return;
  }
  assert.equal(lex.processWord(input, env), withMatches.result);
  assert.deepEqual(lex.processWords(input, env), withMatches.words);
  for (const name of withMatches.matched) assert.notEqual(env(name), undefined);
  for (const name of withMatches.unmatched) assert.equal(env(name), undefined);
}

describe('shell lexer robustness', () => {
  it('shell-like input with any options: only SHELL_EXPANSION errors', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(options, shellText, envList, (opts, input, list) => {
        runAll(new ShellLex(opts), input, list);
      }),
      { numRuns: 5000 },
    );
  });

  it('arbitrary UTF-16 (lone surrogates included): only SHELL_EXPANSION errors', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(options, fc.string({ unit: 'binary', maxLength: 80 }), envList, (opts, input, list) => {
        runAll(new ShellLex(opts), input, list);
      }),
      { numRuns: 3000 },
    );
  });

  it('patterns and values from variables: only SHELL_EXPANSION errors', { timeout: 60_000 }, () => {
    const patternText = fc.array(fc.constantFrom('*', '?', '\\', 'a', 'b', '\n', '}', '/', '$', '0', '$$', '${0}'), { maxLength: 12 }).map((c) => c.join(''));
    const op = fc.constantFrom('#', '##', '%', '%%', '/', '//');
    fc.assert(
      fc.property(op, patternText, patternText, patternText, (operator, pattern, value, replacement) => {
        const input = operator.startsWith('/') ? `\${V${operator}$P/$R}` : `\${V${operator}$P}`;
        runAll(new ShellLex(), input, [`V=${value}`, `P=${pattern}`, `R=${replacement}`]);
      }),
      { numRuns: 5000 },
    );
  });

  it('with an output limit: the result never exceeds it, and passing it is a SHELL_EXPANSION error (issue 13)', { timeout: 60_000 }, () => {
    const bigEnv = fc.array(fc.tuple(fc.constantFrom(...NAMES), fc.string({ maxLength: 6 }), fc.constantFrom(1, 10, 500)), { maxLength: 5 })
      .map((entries) => entries.map(([k, v, times]) => `${k}=${v.repeat(times)}`));
    const refs = fc.array(fc.oneof(shellChar, fc.constantFrom('$V', '${E}', '${P:-$V$V}', '${V//?/$E}', '${V/a/$P$P}', '"$V$E"', '${VE:+$V}')), { maxLength: 30 }).map((p) => p.join(''));
    fc.assert(
      fc.property(options, refs, bigEnv, fc.integer({ min: 0, max: 3000 }), (opts, input, list, limit) => {
        const lex = new ShellLex(opts);
        const env = envFromList(list);
        for (const run of [() => lex.processWord(input, env, limit), () => lex.processWords(input, env, limit).join(' '), () => lex.processWordWithMatches(input, env, limit).result]) {
          try {
            assert.ok(run().length <= limit);
          } catch (error) {
            if (!(error instanceof StagecraftError) || error.code !== 'SHELL_EXPANSION') throw error;
          }
        }
      }),
      { numRuns: 5000, seed: 13_009 },
    );
  });

  it('large input finishes', { timeout: 60_000 }, () => {
    const lex = new ShellLex();
    const big = '${V:-a b "c d" \'e\' \\$x}'.repeat(20_000);
    // Six words per repeat, but each next `${` drops the pending "$x" (BuildKit's shared buffer).
    assert.equal(lex.processWords(big, envFromList([])).length, 5 * 20_000 + 1);
    const value = `${'a*'.repeat(2000)}b`;
    assert.equal(lex.processWord('${V//*a*a*a*a*a*a*c/x}', envFromList([`V=${value}`])), value);
  });
});

describe('shell lexer properties', () => {
  const plainChar = fc.constantFrom('a', 'Z', '9', '.', '-', '_', '/', ':', '=', ',', '@', '한', '😀', '[', '*', '?');

  it('text without $, quotes, escapes or << is unchanged', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(plainChar, fc.constant(' ')), { maxLength: 40 }), (chars) => {
        const input = chars.join('');
        assert.equal(new ShellLex().processWord(input, envFromList([])), input);
        assert.deepEqual(new ShellLex().processWords(input, envFromList([])), input.split(' ').filter((w) => w !== ''));
      }),
    );
  });

  it('escaping every character gives the text back, with either escape token', () => {
    fc.assert(
      fc.property(fc.constantFrom<'\\' | '`'>('\\', '`'), fc.array(fc.oneof(plainChar, fc.constantFrom(...SYNTAX)), { maxLength: 40 }), (token, chars) => {
        const input = chars.join('');
        const escaped = chars.map((c) => token + c).join('');
        const lex = new ShellLex({ escapeToken: token });
        assert.equal(lex.processWord(escaped, envFromList([])), input);
        assert.deepEqual(lex.processWords(escaped, envFromList([])), input === '' ? [] : [input]);
      }),
    );
  });

  it('single-quoting text without a single quote gives it back as one word', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }).filter((s) => !s.includes("'") && s.length > 0 && !s.startsWith('\ufeff')), (text) => {
        assert.deepEqual(new ShellLex().processWords(`'${text}'`, envFromList(['V=x'])), [text]);
      }),
    );
  });

  it('${V:-word} gives the word when V is unset and the value when it is set', () => {
    fc.assert(
      fc.property(fc.array(plainChar, { maxLength: 20 }), fc.array(plainChar, { minLength: 1, maxLength: 20 }), (wordChars, valueChars) => {
        const word = wordChars.join('');
        const value = valueChars.join('');
        const lex = new ShellLex();
        assert.equal(lex.processWord(`\${V:-${word}}`, envFromList([])), word);
        assert.equal(lex.processWord(`\${V:-${word}}`, envFromList([`V=${value}`])), value);
      }),
    );
  });
});
