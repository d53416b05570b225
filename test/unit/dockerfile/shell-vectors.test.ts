/**
 * Every A (all platforms) and U (Unix) line of BuildKit's envVarTest, and every line of wordsTest,
 * with the environments of lex_test.go (TestShellParser4EnvVars, TestShellParser4Words). The files are
 * copied unchanged into test/fixtures/buildkit (see its README).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../../src/core/index.js';
import { ShellLex, envFromList } from '../../../src/dockerfile/shell/index.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/buildkit/${name}`, import.meta.url), 'utf8');

describe('BuildKit shell-lexer vectors', () => {
  it('envVarTest: every A and U line', () => {
    const lex = new ShellLex({ escapeToken: '\\' });
    const env = envFromList(['PWD=/home', 'SHELL=bash', 'KOREAN=한국어', 'NULL=']);
    let checked = 0;
    for (const [index, raw] of fixture('envVarTest').split('\n').entries()) {
      if (raw.startsWith('#')) continue;
      const line = raw.trim();
      if (line === '') continue;
      const parts = line.split('|');
      assert.equal(parts.length, 3, `line ${index + 1}`);
      const platform = (parts[0] ?? '').trim();
      const source = (parts[1] ?? '').trim();
      const expected = (parts[2] ?? '').trim();
      if (platform !== 'A' && platform !== 'U') continue;
      checked++;
      if (expected === 'error') {
        assert.throws(
          () => lex.processWord(source, env),
          (e: unknown) => e instanceof StagecraftError && e.code === 'SHELL_EXPANSION' && e.message.startsWith(`failed to process ${JSON.stringify(source)}: `) && e.hint !== undefined,
          `line ${index + 1}: ${source} must fail`,
        );
      } else {
        assert.equal(lex.processWord(source, env), expected, `line ${index + 1}: ${source}`);
      }
    }
    assert.equal(checked, 228, 'all A and U lines ran');
  });

  it('wordsTest: every line, with ENV lines accumulating', () => {
    const lex = new ShellLex({ escapeToken: '\\' });
    const envs: string[] = [];
    let checked = 0;
    for (const [index, line] of fixture('wordsTest').split('\n').entries()) {
      if (line.startsWith('#') || line === '') continue;
      if (line.startsWith('ENV ')) {
        envs.push(line.slice(3).replace(/^ +/, ''));
        continue;
      }
      const parts = line.split('|');
      assert.equal(parts.length, 2, `line ${index + 1}`);
      const test = (parts[0] ?? '').trim();
      const expected = (parts[1] ?? '').replace(/^ +/, '').split(',');
      let result: string[];
      try {
        result = lex.processWords(test, envFromList(envs));
      } catch {
        result = ['error'];
      }
      assert.deepEqual(result, expected, `line ${index + 1}: ${test}`);
      checked++;
    }
    assert.equal(checked, 24, 'all test lines ran');
  });
});
