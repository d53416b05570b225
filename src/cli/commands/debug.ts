/**
 * `stagecraft debug [BUILD_ID]`: a shell (or `--exec CMD`) in the kept state of a failed RUN step,
 * and `stagecraft debug ls`. The `debug` group also holds `debug ast` (debug-ast.ts).
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { DebugRecord } from '../../debug/index.js';
import { parseEntitlements, type Engine } from '../../engine/index.js';
import type { CliIo } from '../main.js';
import { ExitStatus } from '../exit-status.js';
import { readSecrets, sshSockets } from '../secret-sources.js';
import { addRootOption, table, timeAgo, withEngine } from './store-context.js';

interface DebugFlags {
  exec?: string;
  shell?: string;
  secret?: string[];
  ssh?: string[];
  allow?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The `debug` group (created by whichever of debug-ast.ts and this file registers first). */
function debugGroup(program: Command): Command {
  return program.commands.find((command) => command.name() === 'debug') ?? program.command('debug');
}

export interface DebugRun {
  readonly buildId?: string | undefined;
  /** One command, non-interactive (`--exec`); otherwise an interactive shell. */
  readonly exec?: string | undefined;
  readonly shell?: string | undefined;
  readonly secrets: ReadonlyMap<string, Buffer>;
  readonly ssh: ReadonlyMap<string, string>;
  readonly allow: readonly ('network.host' | 'security.insecure')[];
}

/** Whether this process can give a shell a terminal. */
export function interactiveTerminal(): boolean {
  return process.stdin.isTTY && process.stdout.isTTY;
}

/** Runs the session; resolves with the command's exit status. */
export async function runDebug(engine: Engine, io: CliIo, run: DebugRun, signal: AbortSignal): Promise<number> {
  const terminal = run.exec === undefined;
  if (terminal && !interactiveTerminal()) {
    throw new StagecraftError('USAGE', 'an interactive debug shell needs a terminal (stdin and stdout are not one)', {
      hint: `run one command instead: stagecraft debug --exec 'CMD'${run.buildId !== undefined ? ` ${run.buildId}` : ''}`,
    });
  }
  const args = run.exec !== undefined ? ['/bin/sh', '-c', run.exec] : (run.shell ?? '/bin/sh').split(/\s+/u).filter((a) => a !== '');
  if (args.length === 0) throw new StagecraftError('USAGE', '--shell is empty', { hint: 'write --shell /bin/bash' });
  if (terminal) io.stderr('stagecraft: opening a shell in the failed step (its changes are discarded on exit)\n');
  const result = await engine.debug({
    buildId: run.buildId,
    args,
    terminal,
    secrets: run.secrets,
    ssh: run.ssh,
    allow: run.allow,
    stdout: (chunk) => io.stdout(chunk.toString('utf8')),
    stderr: (chunk) => io.stderr(chunk.toString('utf8')),
    note: (message) => io.stderr(`stagecraft: ${message}\n`),
    signal,
  });
  return result.exitCode;
}

function where(record: DebugRecord): string {
  return record.dockerfile === undefined ? '' : `${record.dockerfile.file}:${record.dockerfile.line}`;
}

export function registerDebug(program: Command, io: CliIo): void {
  addRootOption(program);
  const group = debugGroup(program)
    .description('open a shell in the kept state of a failed RUN step (and other debugging aids)')
    .argument('[build-id]', 'the failed build (default: the newest kept one; see stagecraft debug ls)')
    .option('--exec <command>', 'run one command (with /bin/sh -c) instead of a shell, print its output and exit with its status')
    .option('--shell <command>', 'the interactive shell (default /bin/sh)')
    .option('--secret <id=ID,src=FILE|env=VAR>', 'give a secret of the step again (secrets are never kept; repeatable)', collect)
    .option('--ssh <default|ID=SOCKET>', 'give an ssh agent of the step again (repeatable)', collect)
    .option('--allow <entitlement>', 'network.host or security.insecure, when the step needed it (repeatable)', collect)
    .addHelpText('after', `
A build that fails in a RUN step keeps that step's filesystem, environment, user, working directory
and mounts (never secret values) for the last "debugKeep" failed builds (config file; default 5,
0 disables; STAGECRAFT_DEBUG_KEEP overrides). stagecraft prune removes them.`)
    .action(async (buildId: string | undefined, flags: DebugFlags, command: Command) => {
      const secrets = await readSecrets(flags.secret ?? []);
      const ssh = await sshSockets(flags.ssh ?? []);
      const allow = parseEntitlements(flags.allow ?? []);
      const status = await withEngine(command, (engine, signal) => runDebug(engine, io, { buildId, exec: flags.exec, shell: flags.shell, secrets, ssh, allow }, signal));
      if (status !== 0) throw new ExitStatus(status);
    });

  group
    .command('log')
    .description("print the whole output of a kept failed step (default: the newest)")
    .argument('[build-id]', 'the failed build (see stagecraft debug ls)')
    .action(async (buildId: string | undefined, _flags: unknown, command: Command) => {
      await withEngine(command, async (engine) => {
        const records = await engine.debugStates({ warn: (message) => io.stderr(`warning: ${message}\n`) });
        const record = buildId === undefined ? records[0] : records.find((r) => r.buildId === buildId);
        if (record === undefined) {
          throw new StagecraftError('USAGE', buildId === undefined ? 'no failed step is kept' : `no failed step is kept for build ${buildId}`, {
            hint: 'stagecraft debug ls lists the kept failed steps; a build that fails in a RUN step keeps its state unless debugKeep is 0',
          });
        }
        for await (const chunk of createReadStream(join(engine.config.stateRoot, 'debug', record.buildId, 'log'))) io.stdout((chunk as Buffer).toString('utf8'));
      });
    });

  group
    .command('ls')
    .description('list the kept states of failed RUN steps, newest first')
    .option('--json', 'print the records as JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const records = await withEngine(command, (engine) => engine.debugStates({ warn: (message) => io.stderr(`warning: ${message}\n`) }));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(records, null, 2)}\n`);
        return;
      }
      if (records.length === 0) {
        io.stdout('no failed step is kept (a build that fails in a RUN step keeps it; see stagecraft debug --help)\n');
        return;
      }
      io.stdout(table([['BUILD ID', 'FAILED', 'EXIT', 'DOCKERFILE', 'STEP'], ...records.map((r) => [r.buildId, timeAgo(new Date(r.time).toISOString()), String(r.exitCode), where(r), r.step])]));
    });
}
