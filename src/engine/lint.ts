/**
 * Build checks around the pure rules (dockerfile/lint): reads what they need from the context
 * (.dockerignore, which credentials files exist), runs them, turns findings into `build.warning` events
 * and `error=true` into a failed build.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError, type Platform } from '../core/index.js';
import { lintDockerfile, type BaseImageInfo, type LintFinding, type LintResult } from '../dockerfile/index.js';
import type { EventSink } from '../events/index.js';
import { parseDockerignore } from '../util/dockerignore.js';
import { matchesPatterns } from '../util/patterns.js';

/** Credentials files looked for at the top of the context (and in the usual home-directory places). */
const CREDENTIAL_CANDIDATES = [
  '.npmrc', '.pypirc', '.netrc', '_netrc', '.git-credentials', '.pgpass', 'id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519',
  '.ssh/id_rsa', '.ssh/id_ecdsa', '.ssh/id_ed25519', '.aws/credentials', '.docker/config.json',
];

export async function readDockerignore(contextDir: string, dockerfilePath: string): Promise<string[]> {
  // BuildKit: <Dockerfile>.dockerignore next to the Dockerfile wins over <context>/.dockerignore.
  for (const candidate of [`${dockerfilePath}.dockerignore`, join(contextDir, '.dockerignore')]) {
    try {
      return parseDockerignore(await readFile(candidate));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return [];
}

/** The credentials files present in the context (regular files, not followed through symlinks) that .dockerignore keeps. */
export async function contextCredentials(contextDir: string, ignore: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const candidate of CREDENTIAL_CANDIDATES) {
    try {
      const info = await lstat(join(contextDir, candidate));
      if (info.isFile() && !matchesPatterns(candidate, ignore)) found.push(candidate);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
  }
  return found;
}

export interface CheckOptions {
  readonly contextDir: string;
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly buildPlatform: Platform;
  readonly platform?: Platform | undefined;
  /** In a build: the resolved base images of the needed stages (then only those stages are checked). */
  readonly baseImages?: ReadonlyMap<number, BaseImageInfo> | undefined;
}

/** Runs the build checks of a Dockerfile without building: no store, no registry. */
export async function checkDockerfile(options: CheckOptions): Promise<LintResult> {
  const dockerignore = await readDockerignore(options.contextDir, options.dockerfile.path);
  return lintDockerfile(options.dockerfile.text, {
    file: options.dockerfile.path,
    buildArgs: options.buildArgs,
    checkArg: options.buildArgs.get('BUILDKIT_DOCKERFILE_CHECK'),
    target: options.target,
    buildPlatform: options.buildPlatform,
    targetPlatform: options.platform,
    dockerignore,
    contextCredentials: await contextCredentials(options.contextDir, dockerignore),
    baseImages: options.baseImages,
  });
}

export function warningEvent(finding: LintFinding, time: number): { type: 'build.warning'; time: number; message: string; rule: string; location: LintFinding['location']; url: string; detail: string } {
  return { type: 'build.warning', time, message: finding.message, rule: finding.rule, location: finding.location, url: finding.url, detail: finding.fix };
}

/** Emits every finding; with `error=true` and a finding, fails as BuildKit ("lint violation found for rules: …"). */
export function reportChecks(result: LintResult, events: EventSink): void {
  for (const finding of result.findings) events.emit(warningEvent(finding, Date.now()));
  if (result.config.error && result.violated.length > 0) throw checkFailure(result);
}

export function checkFailure(result: LintResult): StagecraftError {
  const first = result.findings[0];
  return new StagecraftError('CHECK_FAILED', `lint violation found for rules: ${result.violated.join(', ')}`, {
    hint: 'fix the warnings above, or skip a rule with "# check=skip=<Rule>" (error=true in the check directive makes every violation fail the build)',
    location: first === undefined ? undefined : { file: first.location.file, range: { start: { line: first.location.line, column: first.location.column ?? 1 }, end: { line: first.location.line, column: first.location.column ?? 1 } } },
  });
}
