/**
 * A Kubernetes Job (or Indexed Job) that runs one `stagecraft build` in a pod (issue 21): stagecraft's
 * own image, the build context from a PersistentVolumeClaim or a git clone (init container), the state
 * root on an emptyDir (builders are stateless; the cache lives in a registry), the result written with
 * `--metadata-file` and printed to the pod's log. Pure: the request in, a typed manifest out; validated
 * against the Kubernetes OpenAPI schemas by `validateJob`.
 */
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { StagecraftError } from '../core/index.js';

/** Where the pod finds the build context. */
export type JobContext =
  | { readonly kind: 'pvc'; readonly claim: string; readonly subPath?: string | undefined }
  | { readonly kind: 'git'; readonly url: string; readonly ref?: string | undefined; readonly subPath?: string | undefined };

export interface JobRequest {
  /** metadata.name (a DNS-1123 label). */
  readonly name: string;
  readonly namespace?: string | undefined;
  /** stagecraft's image (built from this repository's Dockerfile: stagecraft, Node, runc, git). */
  readonly image: string;
  readonly context: JobContext;
  /** Flags for `stagecraft build` (the context path, `--root` and `--metadata-file` are added here). */
  readonly buildFlags: readonly string[];
  /** A registry ref shared by every builder as the cache (`--cache-from` + `--cache-to …,mode=max`). */
  readonly cache?: string | undefined;
  /** A `kubernetes.io/dockerconfigjson` Secret with the registry credentials. */
  readonly registrySecret?: string | undefined;
  /** An Indexed Job: pod N builds `targets[N]`. */
  readonly targets?: readonly string[] | undefined;
  /** Pods of an Indexed Job that run at once (default: all). */
  readonly parallelism?: number | undefined;
  /** A PersistentVolumeClaim for the metadata files (default: an emptyDir; the file is also printed to the log). */
  readonly resultClaim?: string | undefined;
  readonly resources?: { readonly cpu?: string | undefined; readonly memory?: string | undefined } | undefined;
  readonly backoffLimit?: number | undefined;
  readonly activeDeadlineSeconds?: number | undefined;
  readonly ttlSecondsAfterFinished?: number | undefined;
}

/** Where the pod mounts its volumes (the layout `stagecraft build` runs in). */
export const POD_PATHS = {
  workspace: '/workspace',
  state: '/var/lib/stagecraft',
  out: '/out',
  dockerConfig: '/root/.docker',
} as const;

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/u;
/** BuildKit's stage names; a target name is also a word in the pod's shell script, so nothing else. */
const STAGE = /^[a-zA-Z][a-zA-Z0-9_.-]*$/u;
/** Flags the Job sets itself. */
const RESERVED_FLAGS = ['--root', '--metadata-file'];

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

function checkRequest(request: JobRequest): void {
  if (request.name.length > 52 || !LABEL.test(request.name)) {
    // 63 minus the suffix Kubernetes adds to the pods' names.
    throw usage(`invalid Job name "${request.name}"`, 'use lower-case letters, digits and "-", at most 52 characters, starting and ending with a letter or digit');
  }
  if (request.namespace !== undefined && !LABEL.test(request.namespace)) throw usage(`invalid namespace "${request.namespace}"`, 'a namespace is a DNS-1123 label');
  if (request.image.trim() === '') throw usage('no image for the builder pod', 'pass --image with stagecraft\'s image (see docs/kubernetes.md to build it)');
  for (const flag of request.buildFlags) {
    const name = flag.split('=', 1)[0] ?? flag;
    if (RESERVED_FLAGS.includes(name)) throw usage(`${name} is set by the Job`, `leave ${name} out: the state root is an emptyDir at ${POD_PATHS.state} and the metadata goes to ${POD_PATHS.out}`);
    if (request.targets !== undefined && (name === '--target')) throw usage('--target with --targets', 'an Indexed Job builds one of --targets per pod: leave --target out');
  }
  for (const target of request.targets ?? []) {
    if (!STAGE.test(target)) throw usage(`invalid target "${target}"`, 'a target is a stage name: a letter, then letters, digits, "_", "." or "-"');
  }
  if (request.targets?.length === 0) throw usage('--targets is empty', 'name at least one stage');
  if (request.parallelism !== undefined && (!Number.isInteger(request.parallelism) || request.parallelism < 1)) throw usage(`invalid parallelism ${request.parallelism}`, 'a whole number ≥ 1');
  for (const sub of [request.context.subPath]) {
    if (sub !== undefined && (sub.startsWith('/') || sub.split('/').includes('..'))) throw usage(`invalid context sub-path "${sub}"`, 'a relative path inside the volume or repository, without ".."');
  }
}

/**
 * The pod's script. Arguments arrive as "$@" (never spliced into the text), so no flag value is ever
 * parsed by the shell; the Indexed Job's target is picked from $STAGECRAFT_TARGETS by
 * $JOB_COMPLETION_INDEX (stage names only, checked above).
 */
function buildScript(indexed: boolean): string {
  const lines = ['set -eu'];
  if (indexed) {
    lines.push(
      'i=0; target=',
      'for t in $STAGECRAFT_TARGETS; do if [ "$i" = "$JOB_COMPLETION_INDEX" ]; then target=$t; fi; i=$((i + 1)); done',
      '[ -n "$target" ] || { echo "no target for completion index $JOB_COMPLETION_INDEX" >&2; exit 2; }',
      `meta=${POD_PATHS.out}/metadata-$JOB_COMPLETION_INDEX.json`,
      `stagecraft --root ${POD_PATHS.state} build --target "$target" --metadata-file "$meta" "$@"`,
    );
  } else {
    lines.push(`meta=${POD_PATHS.out}/metadata.json`, `stagecraft --root ${POD_PATHS.state} build --metadata-file "$meta" "$@"`);
  }
  lines.push('echo "stagecraft metadata:"', 'cat "$meta"');
  return lines.join('\n');
}

function contextPath(context: JobContext): string {
  const base = context.kind === 'git' ? `${POD_PATHS.workspace}/src` : POD_PATHS.workspace;
  return context.subPath === undefined || context.subPath === '' ? base : `${base}/${context.subPath}`;
}

export function buildJob(request: JobRequest): IJob {
  checkRequest(request);
  const indexed = request.targets !== undefined;
  const flags = [...request.buildFlags];
  if (request.cache !== undefined) {
    flags.push('--cache-from', `type=registry,ref=${request.cache}`, '--cache-to', `type=registry,ref=${request.cache},mode=max,ignore-error=true`);
  }
  flags.push(contextPath(request.context));

  const volumes: IVolume[] = [
    { name: 'state', emptyDir: {} },
    request.resultClaim !== undefined ? { name: 'out', persistentVolumeClaim: { claimName: request.resultClaim } } : { name: 'out', emptyDir: {} },
    request.context.kind === 'pvc'
      ? { name: 'workspace', persistentVolumeClaim: { claimName: request.context.claim, readOnly: true } }
      : { name: 'workspace', emptyDir: {} },
  ];
  const mounts: IVolumeMount[] = [
    { name: 'state', mountPath: POD_PATHS.state },
    { name: 'out', mountPath: POD_PATHS.out },
    { name: 'workspace', mountPath: POD_PATHS.workspace, readOnly: true },
  ];
  const env: { name: string; value: string }[] = [{ name: 'STAGECRAFT_ROOT', value: POD_PATHS.state }];
  if (request.registrySecret !== undefined) {
    volumes.push({ name: 'docker-config', secret: { secretName: request.registrySecret, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } });
    mounts.push({ name: 'docker-config', mountPath: POD_PATHS.dockerConfig, readOnly: true });
    env.push({ name: 'DOCKER_CONFIG', value: POD_PATHS.dockerConfig });
  }
  if (indexed) env.push({ name: 'STAGECRAFT_TARGETS', value: (request.targets ?? []).join(' ') });

  const resources = request.resources === undefined ? undefined : {
    requests: Object.fromEntries(Object.entries({ cpu: request.resources.cpu, memory: request.resources.memory }).filter(([, v]) => v !== undefined)) as Record<string, string>,
  };
  const builder: IContainer = {
    name: 'build',
    image: request.image,
    command: ['sh', '-c', buildScript(indexed), 'stagecraft-build', ...flags],
    env,
    volumeMounts: mounts,
    // runc, overlay mounts and network namespaces for RUN steps: the pod must be privileged (rootless
    // builds are not available yet).
    securityContext: { privileged: true },
    ...(resources === undefined ? {} : { resources }),
  };
  const initContainers: IContainer[] = request.context.kind === 'git' ? [{
    name: 'context',
    image: request.image,
    command: ['sh', '-c', 'set -eu\nif [ -n "$2" ]; then git clone --depth 1 --branch "$2" -- "$1" "$3"; else git clone --depth 1 -- "$1" "$3"; fi', 'clone', request.context.url, request.context.ref ?? '', `${POD_PATHS.workspace}/src`],
    volumeMounts: [{ name: 'workspace', mountPath: POD_PATHS.workspace }],
  }] : [];

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: request.name,
      ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
      labels: { 'app.kubernetes.io/name': 'stagecraft', 'app.kubernetes.io/component': 'builder' },
    },
    spec: {
      backoffLimit: request.backoffLimit ?? 0,
      ...(request.activeDeadlineSeconds === undefined ? {} : { activeDeadlineSeconds: request.activeDeadlineSeconds }),
      ttlSecondsAfterFinished: request.ttlSecondsAfterFinished ?? 86_400,
      ...(indexed ? {
        completionMode: 'Indexed',
        completions: request.targets?.length ?? 1,
        parallelism: Math.min(request.parallelism ?? Number.MAX_SAFE_INTEGER, request.targets?.length ?? 1),
      } : {}),
      template: {
        metadata: { labels: { 'app.kubernetes.io/name': 'stagecraft', 'app.kubernetes.io/component': 'builder' } },
        spec: {
          restartPolicy: 'Never',
          ...(initContainers.length === 0 ? {} : { initContainers }),
          containers: [builder],
          volumes,
        },
      },
    },
  };
}

/**
 * Checks a manifest against the Kubernetes OpenAPI schemas (kubernetes-models, loaded only here).
 * Throws a USAGE error naming the field (a value given for the Job that Kubernetes would refuse).
 */
export async function validateJob(job: IJob): Promise<void> {
  const { Job } = await import('kubernetes-models/batch/v1/Job');
  try {
    new Job(job).validate();
  } catch (error) {
    throw new StagecraftError('USAGE', `the Job manifest does not match the Kubernetes schema: ${error instanceof Error ? error.message : String(error)}`, {
      hint: 'check the values given for the Job (--cpu, --memory, names); if they are right, this is a bug in stagecraft k8s job',
      cause: error,
    });
  }
}
