/**
 * The check configuration: `# check=skip=<rules|all>;error=true;experimental=<rules|all>` (a parser
 * directive, or a comment above one instruction) and the build arg `BUILDKIT_DOCKERFILE_CHECK`, with
 * BuildKit's syntax (linter.ParseLintOptions): at most three `;`-separated `key=value` options, lists
 * comma-separated, `error` a Go boolean. The build arg replaces the directive; a comment adds to it.
 */
import { StagecraftError } from '../../core/index.js';

export interface CheckConfig {
  readonly skipAll: boolean;
  readonly skip: ReadonlySet<string>;
  readonly experimentalAll: boolean;
  readonly experimental: ReadonlySet<string>;
  /** `error=true`: a violation fails the build (after every violation is reported). */
  readonly error: boolean;
}

export const DEFAULT_CHECK_CONFIG: CheckConfig = { skipAll: false, skip: new Set(), experimentalAll: false, experimental: new Set(), error: false };

export class CheckOptionError extends Error {}

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** Parses the value of a check directive; throws CheckOptionError with BuildKit's wording. */
export function parseCheckOptions(value: string): CheckConfig {
  const text = value.trim();
  if (text === '') return DEFAULT_CHECK_CONFIG;
  // strings.SplitN(s, ";", 3): a third part keeps any further ';'.
  const parts: string[] = [];
  let rest = text;
  while (parts.length < 2) {
    const semicolon = rest.indexOf(';');
    if (semicolon === -1) break;
    parts.push(rest.slice(0, semicolon));
    rest = rest.slice(semicolon + 1);
  }
  parts.push(rest);
  let skipAll = false;
  let experimentalAll = false;
  let error = false;
  let skip: string[] = [];
  let experimental: string[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq === -1) throw new CheckOptionError(`invalid check option "${part}"`);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    switch (key) {
      case 'skip':
        if (v === 'all') skipAll = true;
        else skip = v.split(',').map((s) => s.trim());
        break;
      case 'experimental':
        if (v === 'all') experimentalAll = true;
        else experimental = v.split(',').map((s) => s.trim());
        break;
      case 'error': {
        const parsed = parseGoBool(v);
        if (parsed === undefined) throw new CheckOptionError(`failed to parse check option "${part}": "${v}" is not true or false`);
        error = parsed;
        break;
      }
      default:
        throw new CheckOptionError(`invalid check option "${key}"`);
    }
  }
  return { skipAll, skip: new Set(skip), experimentalAll, experimental: new Set(experimental), error };
}

/** BuildKit's WithMergedConfig: skip and experimental sets grow; `error` stays as the base says. */
export function mergeCheckConfig(base: CheckConfig, other: CheckConfig): CheckConfig {
  return {
    skipAll: base.skipAll || other.skipAll,
    skip: new Set([...base.skip, ...other.skip]),
    experimentalAll: base.experimentalAll || other.experimentalAll,
    experimental: new Set([...base.experimental, ...other.experimental]),
    error: base.error,
  };
}

/** The `check` directive of a comment line (`check=…`, text after `#`), if it is one; an invalid one is ignored, as BuildKit. */
export function checkConfigOfComment(comment: string): CheckConfig | undefined {
  const match = /^check\s*=\s*(.*)$/i.exec(comment.trim());
  if (match === null) return undefined;
  const value = (match[1] ?? '').split(' ')[0] ?? '';
  try {
    return parseCheckOptions(value);
  } catch (error) {
    if (error instanceof CheckOptionError) return undefined;
    throw error;
  }
}

export interface CheckSource {
  /** The `# check=` directive's value and line, if the Dockerfile has one. */
  readonly directive?: { readonly value: string; readonly line: number } | undefined;
  /** The `BUILDKIT_DOCKERFILE_CHECK` build arg, if given. */
  readonly buildArg?: string | undefined;
  readonly file: string;
}

/** The configuration a Dockerfile asks for: the build arg wins over the directive (BuildKit's dockerui). */
export function resolveCheckConfig(source: CheckSource): CheckConfig {
  if (source.buildArg !== undefined) {
    try {
      return parseCheckOptions(source.buildArg);
    } catch (error) {
      if (!(error instanceof CheckOptionError)) throw error;
      throw new StagecraftError('USAGE', `--build-arg BUILDKIT_DOCKERFILE_CHECK: failed to parse check options: ${error.message}`, {
        hint: 'write skip=<Rule,…|all>;error=true|false;experimental=<Rule,…|all>',
      });
    }
  }
  if (source.directive === undefined) return DEFAULT_CHECK_CONFIG;
  try {
    return parseCheckOptions(source.directive.value);
  } catch (error) {
    if (!(error instanceof CheckOptionError)) throw error;
    const range = { start: { line: source.directive.line, column: 1 }, end: { line: source.directive.line, column: 1 } };
    throw new StagecraftError('DOCKERFILE_SYNTAX', `${source.file}:${source.directive.line}: failed to parse check options: ${error.message}`, {
      hint: 'write # check=skip=<Rule,…|all>;error=true|false;experimental=<Rule,…|all>',
      location: { file: source.file, range },
    });
  }
}
