import { Command, CommanderError } from 'commander';
import { registerBuild } from './commands/build.js';
import { registerCompletion } from './commands/completion.js';
import { registerDebugAst } from './commands/debug-ast.js';
import { registerPlan } from './commands/plan.js';
import { registerImageCommands } from './commands/image-commands.js';
import { registerUpkeep } from './commands/upkeep.js';
import { renderError } from './render-error.js';
import { packageVersion } from './version.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Builds the command tree. Each command parses its flags, calls the library and prints the result. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('stagecraft')
    .description('Daemonless multi-stage OCI image builder')
    .option('--debug', 'print stack traces and internal details on errors')
    .version(packageVersion(), '-v, --version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();

  program
    .command('version')
    .description('print the stagecraft version')
    .action(() => {
      io.stdout(`stagecraft ${packageVersion()}\nnode ${process.version}\n`);
    });

  registerBuild(program, io);
  registerPlan(program, io);
  registerImageCommands(program, io);
  registerDebugAst(program, io);
  registerUpkeep(program, io);
  registerCompletion(program, io);
  return program;
}

/** Runs the CLI on `argv` (without node and the script); returns the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const debug = argv.includes('--debug');
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its own message already; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    const rendered = renderError(error, debug);
    io.stderr(`${rendered.text}\n`);
    return rendered.exitCode;
  }
}
