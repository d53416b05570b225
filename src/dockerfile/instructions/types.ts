/**
 * Typed Dockerfile instructions. Values are as written (variables not yet expanded); `convert/`
 * expands them with the stage's ARG/ENV scope. Flag values without variables are already validated.
 */
import type { SourceRange } from '../../core/index.js';
import type { RunMount } from './mount.js';

interface Base {
  /** 1-based lines of the instruction in its Dockerfile. */
  readonly range: SourceRange;
  /** The instruction as written (continuations joined), for history and progress. */
  readonly original: string;
  /** Comment lines directly above it. */
  readonly comments: readonly string[];
}

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** `ENV key value` (legacy form, no `=`). */
  readonly noDelim: boolean;
}

export interface ArgDefinition {
  readonly key: string;
  /** The default, if the ARG has one. */
  readonly value?: string | undefined;
}

/** A heredoc used as a RUN script or a COPY/ADD source file. */
export interface InlineFile {
  readonly name: string;
  readonly data: string;
  /** `<<-`: leading tabs removed. */
  readonly chomp: boolean;
  /** Unquoted delimiter: variables in the body are expanded (COPY/ADD only). */
  readonly expand: boolean;
}

export interface CommandLine {
  /** Exec form: the JSON array; shell form: one string, the rest of the line. */
  readonly cmdLine: readonly string[];
  /** Shell form: run through the stage's SHELL. */
  readonly prependShell: boolean;
  readonly files: readonly InlineFile[];
}

export interface FromInstruction extends Base {
  readonly kind: 'from';
  readonly baseName: string;
  /** Lower-cased `AS` name, if any. */
  readonly stageName?: string | undefined;
  readonly platform?: string | undefined;
}
export interface ArgInstruction extends Base { readonly kind: 'arg'; readonly args: readonly ArgDefinition[] }
export interface EnvInstruction extends Base { readonly kind: 'env'; readonly pairs: readonly KeyValue[] }
export interface LabelInstruction extends Base { readonly kind: 'label'; readonly pairs: readonly KeyValue[] }
export interface MaintainerInstruction extends Base { readonly kind: 'maintainer'; readonly maintainer: string }

export type NetworkMode = 'default' | 'none' | 'host';
export type SecurityMode = 'sandbox' | 'insecure';

export interface RunInstruction extends Base, CommandLine {
  readonly kind: 'run';
  /** The raw `--mount` values, expanded and parsed again at conversion. */
  readonly mountSpecs: readonly string[];
  /** Parse-time view of the mounts (fields with variables not yet applied). */
  readonly mounts: readonly RunMount[];
  readonly network: NetworkMode;
  readonly security: SecurityMode;
}
export interface CmdInstruction extends Base, CommandLine { readonly kind: 'cmd' }
export interface EntrypointInstruction extends Base, CommandLine {
  readonly kind: 'entrypoint';
}
export interface ShellInstruction extends Base { readonly kind: 'shell'; readonly shell: readonly string[] }
export interface WorkdirInstruction extends Base { readonly kind: 'workdir'; readonly path: string }
export interface UserInstruction extends Base { readonly kind: 'user'; readonly user: string }
export interface VolumeInstruction extends Base { readonly kind: 'volume'; readonly volumes: readonly string[] }
export interface ExposeInstruction extends Base { readonly kind: 'expose'; readonly ports: readonly string[] }
export interface StopSignalInstruction extends Base { readonly kind: 'stopsignal'; readonly signal: string }
export interface OnbuildInstruction extends Base {
  readonly kind: 'onbuild';
  /** The trigger instruction's text, as stored in the image config's OnBuild list. */
  readonly expression: string;
}

/** Durations in nanoseconds, as in the image config. */
export interface HealthConfig {
  readonly test: readonly string[];
  readonly interval?: number | undefined;
  readonly timeout?: number | undefined;
  readonly startPeriod?: number | undefined;
  readonly startInterval?: number | undefined;
  readonly retries?: number | undefined;
}
export interface HealthcheckInstruction extends Base { readonly kind: 'healthcheck'; readonly health: HealthConfig }

export interface SourcesAndDest {
  readonly sources: readonly string[];
  /** Heredoc sources (`COPY <<EOF /dest`). */
  readonly contents: readonly InlineFile[];
  readonly dest: string;
  readonly chown?: string | undefined;
  readonly chmod?: string | undefined;
  readonly link: boolean;
  readonly excludes: readonly string[];
}
export interface CopyInstruction extends Base, SourcesAndDest {
  readonly kind: 'copy';
  readonly from?: string | undefined;
  readonly parents: boolean;
}
export interface AddInstruction extends Base, SourcesAndDest {
  readonly kind: 'add';
  readonly keepGitDir?: boolean | undefined;
  readonly checksum?: string | undefined;
  readonly unpack?: boolean | undefined;
}

/** Every instruction that can appear inside a stage. */
export type Command =
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | MaintainerInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | WorkdirInstruction
  | UserInstruction
  | VolumeInstruction
  | ExposeInstruction
  | StopSignalInstruction
  | OnbuildInstruction
  | HealthcheckInstruction
  | CopyInstruction
  | AddInstruction;

export type Instruction = FromInstruction | Command;

/** A stage: its FROM and the commands up to the next FROM. */
export interface Stage {
  /** Position among the stages (0-based); also usable as `--from=<index>`. */
  readonly index: number;
  readonly from: FromInstruction;
  readonly commands: readonly Command[];
}

export interface ParsedDockerfile {
  readonly file: string;
  /** ARGs before the first FROM. */
  readonly metaArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
  readonly escapeToken: '\\' | '`';
}
