/**
 * Build checks (Dockerfile lint): the rule, finding and option types. Rules are data (rules.ts); the
 * runner (lint.ts) applies the `# check=` configuration to what they report.
 */
import type { Platform, SourceRange } from '../../core/index.js';
import type { DockerfileAst } from '../syntax/index.js';
import type { Command, ParsedDockerfile, Stage } from '../instructions/index.js';
import type { ShellLex } from '../shell/index.js';

export type LintLevel = 'warning' | 'error';

export interface LintLocation {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, when known. */
  readonly column?: number | undefined;
}

/** One violation of a rule. */
export interface LintFinding {
  readonly rule: string;
  readonly message: string;
  readonly location: LintLocation;
  /** What to change so the rule is satisfied. */
  readonly fix: string;
  /** The rule's documentation. */
  readonly url: string;
  /** `error` when the check configuration says `error=true`. */
  readonly level: LintLevel;
}

/** What a rule hands to its reporter: where (an instruction's range and comments) and what. */
export interface RuleReport {
  readonly message: string;
  readonly range: SourceRange;
  readonly fix: string;
  /** Comment lines above the instruction: a `# check=…` among them adjusts the configuration there, as BuildKit. */
  readonly comments?: readonly string[] | undefined;
}

export type Reporter = (report: RuleReport) => void;

export interface LintRule {
  /** CamelCase, as BuildKit names its rules. */
  readonly name: string;
  readonly description: string;
  readonly url: string;
  /** Experimental rules run only when `experimental=` names them (or `all`). */
  readonly experimental: boolean;
  readonly origin: 'buildkit' | 'stagecraft';
  /**
   * What the rule needs besides the Dockerfile: `image` rules report only when the base images' configs
   * are known (a build; `--check` and `lint` contact no registry).
   */
  readonly needs?: 'image' | undefined;
  readonly check: (model: LintModel, report: Reporter) => void;
}

/** What a build knows of a base image after resolving it (nothing of this in `--check`/`lint`). */
export interface BaseImageInfo {
  readonly env: readonly string[];
  readonly user?: string | undefined;
  readonly shell?: readonly string[] | undefined;
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

export interface ModelStage {
  readonly index: number;
  readonly stage: Stage;
  /** Lower-cased `AS` name. */
  readonly name?: string | undefined;
  /** The FROM argument expanded with the global ARGs (build args included); undefined if it failed. */
  readonly baseName?: string | undefined;
  /** The earlier stage FROM names, if any. */
  readonly parent?: number | undefined;
  readonly scratch: boolean;
  /** Stages this one reads from: FROM, COPY --from, RUN --mount from. */
  readonly dependencies: readonly number[];
  /** The base image's config, when the stage starts from an image and a build resolved it. */
  readonly baseImage?: BaseImageInfo | undefined;
  /** The platform the stage builds for. */
  readonly platform: Platform;
}

/** Everything a rule may look at. Pure data: no I/O. */
export interface LintModel {
  readonly file: string;
  readonly ast: DockerfileAst;
  readonly parsed: ParsedDockerfile;
  readonly stages: readonly ModelStage[];
  /** The stage built: `--target`, else the last. */
  readonly target: number;
  /** Stages the target needs (itself included). */
  readonly needed: ReadonlySet<number>;
  /** Whether rules about a stage's instructions look at this stage (all in `--check`, the needed ones in a build). */
  readonly checks: (index: number) => boolean;
  readonly lex: ShellLex;
  readonly buildArgs: ReadonlyMap<string, string>;
  /** Global ARG values with the build args applied (what FROM lines see). */
  readonly globalValues: ReadonlyMap<string, string>;
  /** Global ARG values from their defaults only (no build args). */
  readonly defaultGlobalValues: ReadonlyMap<string, string> | undefined;
  /** Keys of the global ARGs declared before the first FROM. */
  readonly globalDeclared: ReadonlySet<string>;
  readonly targetPlatform: Platform;
  /** `.dockerignore` patterns of the context, if it has one. */
  readonly dockerignore: readonly string[];
  /** Paths (relative to the context) of credentials files that exist in the context and are not ignored. */
  readonly contextCredentials: readonly string[];
  /** True when base image configs were resolved (a build): `image` rules run. */
  readonly imagesKnown: boolean;
}

export interface LintOptions {
  readonly file: string;
  readonly buildArgs?: ReadonlyMap<string, string> | undefined;
  readonly target?: string | undefined;
  readonly buildPlatform: Platform;
  readonly targetPlatform?: Platform | undefined;
  readonly dockerignore?: readonly string[] | undefined;
  readonly contextCredentials?: readonly string[] | undefined;
  /**
   * In a build: the resolved base image of each needed stage that starts from an image (by stage index).
   * Given, only the needed stages are checked (as BuildKit lints what it dispatches); absent, every stage
   * is (as `--check`).
   */
  readonly baseImages?: ReadonlyMap<number, BaseImageInfo> | undefined;
}

export type { Command };
