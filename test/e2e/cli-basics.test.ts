import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('stagecraft binary', () => {
  it('prints its version with `version` and `--version`', () => {
    const run = runCli(['version']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, new RegExp(`^stagecraft ${pkg.version.replace(/\./g, '\\.')}\\n`));
    const flag = runCli(['--version']);
    assert.equal(flag.status, 0);
    assert.equal(flag.stdout.trim(), pkg.version);
  });

  it('prints help listing its commands', () => {
    const run = runCli(['--help']);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /Usage: stagecraft/);
    assert.match(run.stdout, /version/);
  });

  it('rejects an unknown command with one message, a suggestion and exit status 2', () => {
    const run = runCli(['verison']);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /unknown command 'verison'/);
    assert.match(run.stderr, /Did you mean version\?/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
});

describe('help', () => {
  it('every command\'s --help has examples', () => {
    const top = runCli(['--help']).stdout;
    const commands = [...top.matchAll(/^  ([a-z]+)[ |[<]/gm)].map((m) => m[1] ?? '').filter((c) => c !== 'help');
    assert.ok(commands.length >= 15, commands.join(' '));
    for (const command of commands) {
      const help = runCli([command, '--help']);
      assert.equal(help.status, 0, command);
      assert.match(help.stdout, /Examples:\n {2}[^\n]*stagecraft/, `${command} --help`);
    }
  });
});
