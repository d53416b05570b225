import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import { dumpAst, parseDockerfile } from '../../dockerfile/syntax/index.js';
import type { CliIo } from '../main.js';

interface DebugAstFlags {
  file?: string;
  json?: boolean;
}

function readSource(path: string): { file: string; text: string } {
  if (path === '-') return { file: '<stdin>', text: readFileSync(0, 'utf8') };
  try {
    return { file: path, text: readFileSync(path, 'utf8') };
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : 'unknown error';
    throw new StagecraftError('FILE_NOT_FOUND', `cannot read Dockerfile ${path}: ${code === 'ENOENT' ? 'no such file' : code}`, {
      hint: 'check the path (use - to read the Dockerfile from stdin)',
      cause: error,
    });
  }
}

/** The `debug` command group (shared with other debug subcommands). */
function debugGroup(program: Command): Command {
  return (
    program.commands.find((command) => command.name() === 'debug') ??
    program.command('debug').description('inspect internal representations (for troubleshooting and bug reports)')
  );
}

/** `stagecraft debug ast [-f] <Dockerfile>`: the parse tree in BuildKit's dump format (or JSON). */
export function registerDebugAst(program: Command, io: CliIo): void {
  debugGroup(program)
    .command('ast')
    .description("print the Dockerfile's parse tree in BuildKit's dump format, one line per instruction")
    .argument('[dockerfile]', 'the Dockerfile (- for stdin)')
    .option('-f, --file <path>', 'the Dockerfile (- for stdin)')
    .option('--json', 'print the whole AST (instructions, directives, warnings, ranges) as JSON')
    .addHelpText('after', `
Examples:
  stagecraft debug ast Dockerfile
  stagecraft debug ast -f - < Dockerfile
  stagecraft debug ast --json Dockerfile`)
    .action((positional: string | undefined, flags: DebugAstFlags) => {
      if (positional !== undefined && flags.file !== undefined && positional !== flags.file) {
        throw new StagecraftError('USAGE', `two Dockerfiles given: ${flags.file} (-f) and ${positional}`, { hint: 'name the Dockerfile once' });
      }
      const path = flags.file ?? positional;
      if (path === undefined) {
        throw new StagecraftError('USAGE', 'no Dockerfile given', { hint: 'write stagecraft debug ast <Dockerfile> (or - for stdin)' });
      }
      const source = readSource(path);
      const ast = parseDockerfile(source.text, { file: source.file });
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(ast, null, 2)}\n`);
        return;
      }
      io.stdout(dumpAst(ast));
      for (const warning of ast.warnings) {
        io.stderr(`warning: ${source.file}:${warning.range.start.line}: ${warning.message} [${warning.rule}]\n`);
      }
    });
}
