import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { COMMAND_MODULES, buildProgram, type CliIo } from '../../src/cli/main.js';
import { commandName } from '../../src/cli/argv.js';

const io: CliIo = { stdout: () => undefined, stderr: () => undefined };
const names = (program: Command): string[] => program.commands.map((c) => c.name());

describe('commands load their module only when argv names them', () => {
  it('each module registers exactly the top-level commands COMMAND_MODULES lists for it', async () => {
    for (const module of COMMAND_MODULES) {
      const program = new Command('stagecraft');
      (await module.load())(program, io);
      assert.deepEqual(names(program), module.names, `the module of ${module.names.join(', ')}`);
    }
  });

  it('with no command (help), every command is registered, in the order of COMMAND_MODULES', async () => {
    const all = await buildProgram(io);
    assert.deepEqual(names(all), ['version', ...COMMAND_MODULES.flatMap((m) => m.names)]);
    assert.deepEqual(names(await buildProgram(io, ['--help'])), names(all));
    // A mistyped command gets every name for "did you mean".
    assert.deepEqual(names(await buildProgram(io, ['biuld'])), names(all));
  });

  it('a command registers only its own module; version none', async () => {
    assert.deepEqual(names(await buildProgram(io, ['version'])), ['version']);
    assert.deepEqual(names(await buildProgram(io, ['--root', '/r', 'build', '.'])), ['version', 'build']);
    assert.deepEqual(names(await buildProgram(io, ['du'])), ['version', 'du', 'prune']);
    assert.deepEqual(names(await buildProgram(io, ['image', 'history', 'x'])), ['version', 'pull', 'push', 'images', 'inspect', 'tag', 'rmi', 'save', 'load', 'image']);
    // The program's own options are the same whichever commands are registered.
    const options = (program: Command): string[] => program.options.map((o) => o.flags);
    assert.deepEqual(options(await buildProgram(io, ['version'])), options(await buildProgram(io)));
  });

  it('finds the command after the global options', () => {
    assert.equal(commandName(['--root', '/r', '--debug', 'build', '-t', 'x', '.']), 'build');
    assert.equal(commandName(['--root=/r', 'images']), 'images');
    assert.equal(commandName(['--debug']), undefined);
    assert.equal(commandName(['--', 'build']), undefined);
  });
});
