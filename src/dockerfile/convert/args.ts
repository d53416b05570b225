/**
 * Build arguments: the predefined platform ARGs, global (meta) ARGs before the first FROM, and the
 * per-stage scope rules of BuildKit.
 */
import { StagecraftError, formatPlatform, type Platform } from '../../core/index.js';
import type { ArgInstruction } from '../instructions/index.js';
import { DOCKERFILE_LIMITS, formatSize } from '../limits.js';
import type { ShellLex } from '../shell/index.js';

/**
 * Args every Dockerfile can use without a default (they still need an `ARG X` in a stage to be
 * visible there, as in BuildKit): BUILDPLATFORM … TARGETSTAGE.
 */
export function predefinedPlatformArgs(build: Platform, target: Platform, targetStage: string, overrides: ReadonlyMap<string, string>): Map<string, string> {
  const pairs: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build.osVersion ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target.osVersion ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  return new Map(pairs.map(([k, v]) => [k, overrides.get(k) ?? v]));
}

/** Proxy args: usable without an ARG declaration and never written to history or config. */
export const PROXY_ARGS: ReadonlySet<string> = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** Build args that configure the builder itself, so they never count as unused. */
export function isBuilderArg(key: string): boolean {
  return PROXY_ARGS.has(key) || key.startsWith('BUILDKIT_') || key === 'SOURCE_DATE_EPOCH';
}

export interface GlobalArgs {
  /** Values visible to FROM lines and inherited by `ARG X` in stages. */
  readonly values: ReadonlyMap<string, string>;
  /** Every global ARG key declared before the first FROM. */
  readonly declared: ReadonlySet<string>;
}

/**
 * Evaluates the ARGs before the first FROM in order: a `--build-arg` wins over the default; a
 * default may use earlier global ARGs and the predefined platform args.
 */
export function resolveGlobalArgs(metaArgs: readonly ArgInstruction[], buildArgs: ReadonlyMap<string, string>, predefined: ReadonlyMap<string, string>, lex: ShellLex, file: string): GlobalArgs {
  const values = new Map(predefined);
  const declared = new Set<string>();
  let size = 0;
  for (const [key, value] of values) size += key.length + value.length + 2;
  const set = (key: string, value: string, instruction: ArgInstruction): void => {
    const old = values.get(key);
    size += value.length - (old === undefined ? -key.length - 2 : old.length);
    values.set(key, value);
    if (size > DOCKERFILE_LIMITS.envChars) {
      throw new StagecraftError('DOCKERFILE_INSTRUCTION', `${file}:${instruction.range.start.line}: the global ARG values grow to ${size} characters, more than the limit of ${formatSize(DOCKERFILE_LIMITS.envChars, 'characters')}`, {
        hint: 'A chain such as ARG B=$A$A, ARG C=$B$B… doubles a value at every step: keep large data in files of the build context, not in ARG values.',
        location: { file, range: instruction.range },
      });
    }
  };
  for (const instruction of metaArgs) {
    for (const arg of instruction.args) {
      declared.add(arg.key);
      const override = buildArgs.get(arg.key);
      if (override !== undefined) {
        set(arg.key, override, instruction);
      } else if (arg.value !== undefined) {
        let value: string;
        try {
          value = lex.processWord(arg.value, (name) => values.get(name));
        } catch (error) {
          throw locate(error, file, instruction);
        }
        set(arg.key, value, instruction);
      }
    }
  }
  return { values, declared };
}

export function locate(error: unknown, file: string, at: { readonly range: ArgInstruction['range'] }): unknown {
  if (error instanceof StagecraftError) return error.withLocation({ file, range: at.range });
  return error;
}
