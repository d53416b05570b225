/**
 * `stagecraft lock [CONTEXT]`: pins the Dockerfile's inputs into `stagecraft.lock` beside it; and the
 * lock's reading for `build --locked`.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError, hostPlatform, parsePlatform, type Platform } from '../../core/index.js';
import { LOCKFILE_NAME, parseLockfile, type Lockfile } from '../../ops/index.js';
import type { CliIo } from '../main.js';
import { collect, parseBuildArgs, readDockerfile } from '../options.js';
import { addRootOption, withEngine } from './store-context.js';

/** The lock of a Dockerfile: `stagecraft.lock` in the Dockerfile's directory (the context's for a Dockerfile on stdin). */
export function lockPathFor(dockerfilePath: string, context: string): string {
  if (dockerfilePath === '<stdin>' || dockerfilePath === '-') return resolve(context, LOCKFILE_NAME);
  return join(dirname(resolve(dockerfilePath)), LOCKFILE_NAME);
}

/** Reads the lock `build --locked` needs; a missing one says how to write it. */
export async function readLock(path: string): Promise<{ readonly lock: Lockfile; readonly path: string }> {
  const bytes = await readFile(path).catch((cause: unknown) => {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new StagecraftError('LOCK_MISMATCH', `--locked: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : String(code)}`, {
      hint: 'run `stagecraft lock` (with the same -f, --build-arg and --platform) to write it',
      cause,
    });
  });
  return { lock: parseLockfile(bytes, path), path };
}

/** `--platform a,b`: every platform to pin (default: this machine's). */
function platformsOption(value: string | undefined): Platform[] {
  if (value === undefined || value === '') return [hostPlatform(process.arch)];
  return value.split(',').map((text) => parsePlatform(text.trim(), '--platform'));
}

interface LockFlags {
  file?: string;
  buildArg?: string[];
  platform?: string;
  target?: string;
}

export function registerLock(program: Command, io: CliIo): void {
  addRootOption(program);
  program
    .command('lock')
    .description('pin the Dockerfile\'s inputs (base images and COPY --from images by digest per platform, ADD URLs by sha256) into stagecraft.lock beside it')
    .argument('[context]', 'the build context directory', '.')
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile)')
    .option('--build-arg <KEY[=VALUE]>', 'a build argument, as for build (repeatable)', collect)
    .option('--platform <os/arch[,os/arch…]>', 'the platforms to pin (default: this machine)')
    .option('--target <stage>', 'pin the inputs of this stage (default: the last)')
    .addHelpText('after', '\nExamples:\n  stagecraft lock .\n  stagecraft lock --platform linux/amd64,linux/arm64 -f docker/Dockerfile .\n  stagecraft build --locked -t app .\n  stagecraft build --locked --offline -t app .')
    .action(async (context: string, flags: LockFlags, command: Command) => {
      if (flags.file === '-') throw new StagecraftError('USAGE', 'lock needs the Dockerfile as a file (the lock is written beside it)', { hint: 'give -f PATH' });
      const platforms = platformsOption(flags.platform);
      const buildArgs = parseBuildArgs(flags.buildArg ?? [], process.env);
      const dockerfile = readDockerfile(flags.file, context, () => '');
      const output = lockPathFor(dockerfile.path, context);
      const result = await withEngine(command, (engine, signal) => engine.lock({
        dockerfile: { path: basename(dockerfile.path), text: dockerfile.text },
        buildArgs,
        target: flags.target,
        platforms,
        buildPlatform: hostPlatform(process.arch),
        output,
        signal,
      }));
      io.stderr(`wrote ${result.path}: ${result.lock.images.length} image${result.lock.images.length === 1 ? '' : 's'}, ${result.lock.urls.length} URL${result.lock.urls.length === 1 ? '' : 's'}\n`);
    });
}
