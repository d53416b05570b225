import { Command, CommanderError } from 'commander';
import { phaseDone } from '../core/index.js';
import { ExitStatus } from './exit-status.js';
import { addRootOption, commandName, normalizeLegacyBoolFlags, routeImageHistory } from './argv.js';
import { profileAtExit } from './profile.js';
import { renderError } from './render-error.js';
import { packageVersion } from './version.js';

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processIo: CliIo = {
  stdout: (text) => {
    if (!process.stdout.destroyed) process.stdout.write(text);
  },
  stderr: (text) => process.stderr.write(text),
};

/**
 * A reader that closes stdout early (`stagecraft build -o - . | head -c 100`) is no error: what is
 * left to write is dropped, as by any Unix tool. Node ignores SIGPIPE, so the closed pipe shows as an
 * EPIPE `error` event, which would otherwise crash the process.
 */
function quietOnClosedStdout(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/** Help examples of the commands that do not define their own. */
const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  version: ['stagecraft version'],
  pull: ['stagecraft pull busybox', 'stagecraft pull --platform linux/arm64 registry.example.com/app:1.0'],
  push: ['stagecraft push registry.example.com/app:1.0', 'stagecraft push app:1.0 localhost:5000/app:1.0'],
  images: ['stagecraft images', 'stagecraft images --json'],
  inspect: ['stagecraft inspect app:1.0', 'stagecraft inspect --json app:1.0'],
  tag: ['stagecraft tag app:1.0 registry.example.com/app:1.0'],
  rmi: ['stagecraft rmi app:1.0 app:0.9'],
  save: ['stagecraft save -o app.tar app:1.0', 'stagecraft save --format oci -o app-oci.tar app:1.0'],
  load: ['stagecraft load -i app.tar', 'docker save app:1.0 | stagecraft load'],
  du: ['stagecraft du', 'stagecraft du --json'],
  scan: ['stagecraft scan secrets app:1.0', 'stagecraft scan vulns --vuln-db ./osv --format json registry.example.com/app:1.0'],
  policy: ['stagecraft policy check app:1.0 --policy policy.yaml', 'stagecraft policy check registry.example.com/app:1.0 --policy policy.yaml --key cosign.pub'],
  k8s: ['stagecraft k8s job --image registry.example.com/stagecraft:0.1.0 --context-pvc sources/app -- --push -t registry.example.com/app:1.0'],
  debug: ['stagecraft debug', 'stagecraft debug --exec \'cat /etc/os-release\' 0123456789abcdef', 'stagecraft debug ls', 'stagecraft debug ast Dockerfile', 'stagecraft debug ast --json - < Dockerfile'],
};

type Register = (program: Command, io: CliIo) => void;

/**
 * The command modules, in the order `stagecraft --help` lists their commands, each with the top-level
 * commands it registers (test/unit/cli-lazy-commands.test.ts checks the names). A module, and what it
 * imports (the engine, SQLite, the native addons), is loaded only when argv names one of its commands:
 * `stagecraft version` (main's own) loads none, `stagecraft build` only build's. Help, completion, a mistyped
 * command (for "did you mean") and no command at all load every module.
 */
export const COMMAND_MODULES: readonly { readonly names: readonly string[]; readonly load: () => Promise<Register> }[] = [
  { names: ['build'], load: async () => (await import('./commands/build.js')).registerBuild },
  { names: ['plan'], load: async () => (await import('./commands/plan.js')).registerPlan },
  { names: ['lint'], load: async () => (await import('./commands/lint.js')).registerLint },
  { names: ['pull', 'push', 'images', 'inspect', 'tag', 'rmi', 'save', 'load', 'image'], load: async () => (await import('./commands/image-commands.js')).registerImageCommands },
  { names: ['history'], load: async () => (await import('./commands/build-history.js')).registerBuildHistory },
  { names: ['sbom'], load: async () => (await import('./commands/sbom.js')).registerSbom },
  {
    names: ['scan'],
    load: async () => {
      const [{ registerScan }, { registerScanVulns }] = await Promise.all([import('./commands/scan.js'), import('./commands/scan-vulns.js')]);
      return (program, io) => registerScanVulns(registerScan(program, io), io);
    },
  },
  {
    names: ['debug'],
    load: async () => {
      const [{ registerDebugAst }, { registerDebug }] = await Promise.all([import('./commands/debug-ast.js'), import('./commands/debug.js')]);
      return (program, io) => {
        registerDebugAst(program, io);
        registerDebug(program, io);
      };
    },
  },
  { names: ['du', 'prune'], load: async () => (await import('./commands/upkeep.js')).registerUpkeep },
  { names: ['k8s'], load: async () => (await import('./commands/k8s.js')).registerK8s },
  { names: ['lock'], load: async () => (await import('./commands/lock.js')).registerLock },
  { names: ['serve'], load: async () => (await import('./commands/serve.js')).registerServe },
  { names: ['keygen'], load: async () => (await import('./commands/keygen.js')).registerKeygen },
  { names: ['sign'], load: async () => (await import('./commands/sign.js')).registerSign },
  { names: ['verify'], load: async () => (await import('./commands/verify.js')).registerVerify },
  { names: ['policy'], load: async () => (await import('./commands/policy.js')).registerPolicy },
  { names: ['completion'], load: async () => (await import('./commands/completion.js')).registerCompletion },
];

/** The modules `argv` needs: the one of its command, or all of them (see COMMAND_MODULES). */
function modulesFor(argv: readonly string[] | undefined): typeof COMMAND_MODULES {
  const name = argv === undefined ? undefined : commandName(argv);
  if (name === 'version') return [];
  const own = name === undefined || name === 'completion' ? undefined : COMMAND_MODULES.find((module) => module.names.includes(name));
  return own === undefined ? COMMAND_MODULES : [own];
}

/**
 * zod compiles a parser (`new Function`) for each object schema the first time it parses one: worth it
 * in the long-running server, not in a command that parses each schema a few times and exits (~20 ms
 * of CPU in a fully cached build, code V8's code cache cannot keep). Set before the command's modules
 * construct their schemas: zod reads it when a schema is made. Parsing gives the same results.
 */
async function configureSchemas(name: string | undefined): Promise<void> {
  if (name === 'serve') return;
  (await import('zod')).config({ jitless: true });
}

/**
 * Builds the command tree. Each command parses its flags, calls the library and prints the result.
 * With `argv`, only the commands it can run are registered (every command without).
 */
export async function buildProgram(io: CliIo, argv?: readonly string[]): Promise<Command> {
  const program = new Command('stagecraft')
    .description('Daemonless multi-stage OCI image builder')
    .option('--debug', 'print stack traces and internal details on errors')
    .version(packageVersion(), '-v, --version', 'print the version')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  addRootOption(program);

  program
    .command('version')
    .description('print the stagecraft version')
    .action(() => {
      io.stdout(`stagecraft ${packageVersion()}\nnode ${process.version}\n`);
    });

  const modules = modulesFor(argv);
  if (modules.length > 0) await configureSchemas(argv === undefined ? undefined : commandName(argv));
  const registers = await Promise.all(modules.map((module) => module.load()));
  for (const register of registers) register(program, io);
  for (const command of program.commands) {
    const examples = EXAMPLES[command.name()];
    if (examples !== undefined) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
  }
  return program;
}

/** Runs the CLI on `argv` (without node and the script); returns the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  if (io === processIo) {
    quietOnClosedStdout();
    profileAtExit(process.env['STAGECRAFT_PROFILE'], io.stderr);
  }
  const debug = argv.includes('--debug');
  try {
    const args = normalizeLegacyBoolFlags(routeImageHistory(argv, io.stderr));
    const program = await buildProgram(io, args);
    phaseDone('cli: command modules loaded and registered');
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof ExitStatus) return error.status;
    if (error instanceof CommanderError) {
      // commander has printed its own message already; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    const rendered = renderError(error, debug);
    io.stderr(`${rendered.text}\n`);
    return rendered.exitCode;
  }
}
