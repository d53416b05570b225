/**
 * The build plan: an immutable DAG of content-addressed operations (the IR between the Dockerfile
 * frontend and the solver, like BuildKit's LLB). A vertex's id is the sha256 of its canonical JSON
 * (op + input ids + version), so equal work in different stages is one vertex.
 */
import type { Digest, Platform, SourceRange } from '../core/index.js';

export type VertexId = Digest;

/** An image from a registry or the local store, resolved at solve time to a manifest digest. */
export interface ImageSourceOp {
  readonly type: 'image';
  readonly ref: string;
  readonly platform: Platform;
}
export interface ScratchOp {
  readonly type: 'scratch';
}
/** Files of the build context (or a named context); only paths matching `include` are read. */
export interface ContextSourceOp {
  readonly type: 'context';
  readonly name: string;
  /** Patterns of the files the consumers select, for hashing only what is used. */
  readonly include?: readonly string[] | undefined;
  /** .dockerignore patterns. */
  readonly exclude?: readonly string[] | undefined;
}
/** A remote file for `ADD <url>`. */
export interface HttpSourceOp {
  readonly type: 'http';
  readonly url: string;
  readonly checksum?: string | undefined;
  readonly filename: string;
}

export type ExecMount =
  | { readonly type: 'bind'; readonly target: string; readonly input: number; readonly source: string; readonly readonly: boolean }
  | { readonly type: 'cache'; readonly target: string; readonly id: string; readonly sharing: 'shared' | 'private' | 'locked'; readonly input?: number | undefined; readonly source: string; readonly readonly: boolean; readonly uid: number; readonly gid: number; readonly mode: number }
  | { readonly type: 'tmpfs'; readonly target: string; readonly size?: number | undefined }
  | { readonly type: 'secret'; readonly id: string; readonly target?: string | undefined; readonly env?: string | undefined; readonly required: boolean; readonly uid: number; readonly gid: number; readonly mode: number }
  | { readonly type: 'ssh'; readonly id: string; readonly target: string; readonly required: boolean; readonly uid: number; readonly gid: number; readonly mode: number };

/** Runs a process on input 0 (the rootfs); the result is the rootfs after it. */
export interface ExecOp {
  readonly type: 'exec';
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: string;
  readonly network: 'default' | 'none' | 'host';
  readonly security: 'sandbox' | 'insecure';
  readonly mounts: readonly ExecMount[];
  /** Proxy env vars: given to the process, kept out of the cache key and history. */
  readonly proxyEnv?: readonly string[] | undefined;
  /** Heredoc scripts mounted read-only into the container (path → content). */
  readonly inlineFiles?: readonly { readonly path: string; readonly data: string; readonly mode: number }[] | undefined;
  /** The build's `--add-host`, `--shm-size`, `--ulimit` (BuildKit keeps them in the exec op, so in its cache key). */
  readonly extraHosts?: readonly ExecHost[] | undefined;
  /** Size of /dev/shm in bytes. */
  readonly shmSize?: number | undefined;
  readonly ulimits?: readonly ExecUlimit[] | undefined;
  /** `--cgroup-parent`: the cgroup the step's cgroup is made under. */
  readonly cgroupParent?: string | undefined;
  /** `--memory`, `--cpu-shares`, …: cgroup limits of the step. */
  readonly resources?: ExecResources | undefined;
}

/** Cgroup limits of a RUN step (docker build's `--memory`, `--memory-swap`, `--cpu-*`, `--cpuset-*`). */
export interface ExecResources {
  /** Bytes. */
  readonly memory?: number | undefined;
  /** Memory plus swap in bytes; -1 unlimited swap. */
  readonly memorySwap?: number | undefined;
  readonly cpuShares?: number | undefined;
  /** Microseconds. */
  readonly cpuPeriod?: number | undefined;
  readonly cpuQuota?: number | undefined;
  /** e.g. `0-3,5`. */
  readonly cpusetCpus?: string | undefined;
  readonly cpusetMems?: string | undefined;
}

/** An /etc/hosts entry (`--add-host name:ip`). */
export interface ExecHost {
  readonly host: string;
  readonly ip: string;
}

/** A resource limit (`--ulimit nofile=1024:2048`): `name` as in ulimit(1) (`nofile`, `nproc`, …). */
export interface ExecUlimit {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

/** The build-wide settings of every RUN step (buildx flags). */
export interface ExecSettings {
  readonly extraHosts?: readonly ExecHost[] | undefined;
  readonly shmSize?: number | undefined;
  readonly ulimits?: readonly ExecUlimit[] | undefined;
  readonly cgroupParent?: string | undefined;
  readonly resources?: ExecResources | undefined;
}

export interface ChownSpec {
  /** User and group as written (names resolved in the destination rootfs at solve time). */
  readonly user: string;
  readonly group?: string | undefined;
}

export type FileAction =
  | {
      readonly action: 'copy';
      /** Input index of the source tree. */
      readonly input: number;
      readonly sources: readonly string[];
      readonly dest: string;
      readonly chown?: ChownSpec | undefined;
      readonly chmod?: string | undefined;
      readonly excludes: readonly string[];
      readonly parents: boolean;
      /** ADD: extract local archives. */
      readonly unpack: boolean;
      /** Destination ends in `/` or has several sources: copy into it. */
      readonly destIsDir: boolean;
      readonly link: boolean;
      readonly mtime?: number | undefined;
    }
  | { readonly action: 'mkdir'; readonly path: string; readonly mode: number; readonly parents: boolean; readonly chown?: ChownSpec | undefined; readonly mtime?: number | undefined }
  | { readonly action: 'mkfile'; readonly path: string; readonly data: string; readonly mode: number; readonly chown?: ChownSpec | undefined; readonly mtime?: number | undefined };

/** File operations on input 0 (the destination rootfs). */
export interface FileOp {
  readonly type: 'file';
  readonly actions: readonly FileAction[];
}

/** Layers of the inputs stacked in order (COPY --link results are merged onto their base). */
export interface MergeOp {
  readonly type: 'merge';
}

export type Op = ImageSourceOp | ScratchOp | ContextSourceOp | HttpSourceOp | ExecOp | FileOp | MergeOp;

export interface VertexMeta {
  /** Progress name, e.g. `[build 2/4] RUN make`. */
  readonly name: string;
  /** The stage that created it and the Dockerfile lines. */
  readonly stage?: string | undefined;
  readonly location?: { readonly file: string; readonly range: SourceRange } | undefined;
  /** Re-run even if cached (`--no-cache`, `--no-cache-filter`). */
  readonly ignoreCache?: boolean | undefined;
}

export interface Vertex {
  readonly id: VertexId;
  readonly op: Op;
  readonly inputs: readonly VertexId[];
  readonly meta: VertexMeta;
}
