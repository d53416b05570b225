import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

describe('stagecraft completion', () => {
  it('bash: completes commands and the flags of a command', () => {
    const script = runCli(['completion', 'bash']);
    assert.equal(script.status, 0);
    const complete = (words: string[]): string => {
      const run = spawnSync('bash', ['-c', `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _stagecraft; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
      return run.stdout.trim();
    };
    assert.equal(complete(['stagecraft', 'bui']), 'build');
    assert.equal(complete(['stagecraft', 'build', '--no-c']), '--no-cache --no-cache-filter');
    assert.match(complete(['stagecraft', 'prune', '--']), /--keep-storage/);
  });

  it('zsh: defines the completion function with every command', () => {
    const script = runCli(['completion', 'zsh']);
    assert.equal(script.status, 0);
    assert.match(script.stdout, /^#compdef stagecraft/);
    for (const command of ['build', 'plan', 'pull', 'push', 'prune', 'du']) assert.match(script.stdout, new RegExp(`'${command}:`));
  });

  it('rejects other shells', () => {
    const run = runCli(['completion', 'fish']);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /unsupported shell "fish"/);
  });
});
