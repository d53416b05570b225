import { Command, CommanderError } from 'commander';
import { ExitStatus } from './exit-status.js';
import { registerLint } from './commands/lint.js';
import { normalizeLegacyBoolFlags, registerBuild } from './commands/build.js';
import { registerBuildHistory, routeImageHistory } from './commands/build-history.js';
import { registerCompletion } from './commands/completion.js';
import { registerDebugAst } from './commands/debug-ast.js';
import { registerPlan } from './commands/plan.js';
import { registerImageCommands } from './commands/image-commands.js';
import { registerSbom } from './commands/sbom.js';
import { registerScan } from './commands/scan.js';
import { registerScanVulns } from './commands/scan-vulns.js';
import { registerUpkeep } from './commands/upkeep.js';
import { registerDebug } from './commands/debug.js';
import { registerK8s } from './commands/k8s.js';
import { registerLock } from './commands/lock.js';
import { registerServe } from './commands/serve.js';
import { registerKeygen } from './commands/keygen.js';
import { registerSign } from './commands/sign.js';
import { registerVerify } from './commands/verify.js';
import { registerPolicy } from './commands/policy.js';
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
  registerLint(program, io);
  registerImageCommands(program, io);
  registerBuildHistory(program, io);
  registerSbom(program, io);
  registerScanVulns(registerScan(program, io), io);
  registerDebugAst(program, io);
  registerDebug(program, io);
  registerUpkeep(program, io);
  registerK8s(program, io);
  registerLock(program, io);
  registerServe(program, io);
  registerKeygen(program, io);
  registerSign(program, io);
  registerVerify(program, io);
  registerPolicy(program, io);
  registerCompletion(program, io);
  for (const command of program.commands) {
    const examples = EXAMPLES[command.name()];
    if (examples !== undefined) command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
  }
  return program;
}

/** Runs the CLI on `argv` (without node and the script); returns the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  if (io === processIo) quietOnClosedStdout();
  const debug = argv.includes('--debug');
  const program = buildProgram(io);
  try {
    await program.parseAsync(normalizeLegacyBoolFlags(routeImageHistory(argv, io.stderr)), { from: 'user' });
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
