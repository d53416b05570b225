/**
 * `stagecraft lint [CONTEXT]`: the build checks without building (no store, no registry), printed as
 * text, JSON or SARIF 2.1.0. Exit status 1 when there is any finding, as `docker build --check`.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError, hostPlatform } from '../../core/index.js';
import { RULE_INFO } from '../../dockerfile/index.js';
import { checkDockerfile } from '../../engine/index.js';
import { ExitStatus } from '../exit-status.js';
import { lintJson, lintSarif, lintText } from '../lint-output.js';
import type { CliIo } from '../main.js';
import { collect, parseBuildArgs, readBoundedDockerfile, readDockerfile } from '../options.js';
import { packageVersion } from '../version.js';
import { platformOption } from './store-context.js';

interface LintFlags {
  file?: string;
  format: string;
  buildArg?: string[];
  target?: string;
  platform?: string;
  listRules?: boolean;
}

const FORMATS = ['text', 'json', 'sarif'] as const;

/** A path as the user would write it: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

export function registerLint(program: Command, io: CliIo): void {
  program
    .command('lint')
    .description('run the build checks on a Dockerfile without building (BuildKit\'s rules and stagecraft\'s; see docs/checks.md)')
    .argument('[context]', 'build context directory (for .dockerignore and credentials files)', '.')
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)')
    .option('--format <format>', 'text, json or sarif (SARIF 2.1.0)', 'text')
    .option('--build-arg <KEY[=VALUE]>', 'a build argument, as for build (repeatable); BUILDKIT_DOCKERFILE_CHECK configures the checks', collect)
    .option('--target <stage>', 'check as when building this stage (default: the last)')
    .option('--platform <os/arch[/variant]>', 'target platform (default: this machine)')
    .option('--list-rules', 'print every rule with its default and exit')
    .addHelpText('after', `
Exit status: 0 without findings, 1 with any (as docker build --check).

Examples:
  stagecraft lint .
  stagecraft lint -f build/Dockerfile --format sarif . > checks.sarif
  stagecraft lint --build-arg BUILDKIT_DOCKERFILE_CHECK=skip=BaseImageNotPinned .`)
    .action(async (context: string, flags: LintFlags) => {
      if (!(FORMATS as readonly string[]).includes(flags.format)) {
        throw new StagecraftError('USAGE', `unknown --format "${flags.format}"`, { hint: `use one of ${FORMATS.join(', ')}` });
      }
      if (flags.listRules === true) {
        io.stdout(RULE_INFO.map((r) => `${r.name}\t${r.experimental ? 'experimental (off)' : 'warning'}\t${r.origin}\t${r.description}\n`).join(''));
        return;
      }
      const buildPlatform = hostPlatform(process.arch);
      const dockerfile = readDockerfile(flags.file, context, () => readBoundedDockerfile(0, '<stdin>'));
      const result = await checkDockerfile({
        contextDir: resolve(context),
        dockerfile: { path: displayPath(dockerfile.path), text: dockerfile.text },
        buildArgs: parseBuildArgs(flags.buildArg ?? [], process.env),
        target: flags.target,
        buildPlatform,
        platform: platformOption(flags.platform) ?? buildPlatform,
      });
      io.stdout(flags.format === 'json' ? lintJson(result) : flags.format === 'sarif' ? lintSarif(result, packageVersion()) : lintText(result));
      if (result.findings.length > 0) throw new ExitStatus(1);
    });
}
