/**
 * `stagecraft k8s job [OPTIONS] -- BUILD_FLAGS…`: writes a Kubernetes Job (or Indexed Job) manifest that
 * runs `stagecraft build BUILD_FLAGS` in a pod (src/k8s). The build flags are checked here with the
 * build command's own parser, so a typo fails now rather than in the cluster.
 */
import { Command } from 'commander';
import { StagecraftError, closest } from '../../core/index.js';
import { buildJob, validateJob, type JobContext } from '../../k8s/index.js';
import type { CliIo } from '../main.js';
import { registerBuild } from './build.js';

interface JobFlags {
  image?: string;
  name: string;
  namespace?: string;
  contextPvc?: string;
  contextGit?: string;
  cache?: string;
  registrySecret?: string;
  targets?: string;
  parallelism?: string;
  resultPvc?: string;
  cpu?: string;
  memory?: string;
  format: string;
}

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** `CLAIM[/SUB/PATH]`. */
function pvcContext(value: string): JobContext {
  const [claim = '', ...rest] = value.split('/');
  return { kind: 'pvc', claim, ...(rest.length === 0 ? {} : { subPath: rest.join('/') }) };
}

/** buildx's git context syntax: `URL[#REF[:SUBDIR]]`. */
function gitContext(value: string): JobContext {
  const hash = value.indexOf('#');
  if (hash < 0) return { kind: 'git', url: value };
  const fragment = value.slice(hash + 1);
  const colon = fragment.indexOf(':');
  const ref = colon < 0 ? fragment : fragment.slice(0, colon);
  const subPath = colon < 0 ? undefined : fragment.slice(colon + 1);
  return { kind: 'git', url: value.slice(0, hash), ...(ref === '' ? {} : { ref }), ...(subPath === undefined || subPath === '' ? {} : { subPath }) };
}

/** Parses `flags` with `stagecraft build`'s definition: unknown flags and a context argument are errors. */
function checkBuildFlags(flags: readonly string[], io: CliIo): void {
  const scratch = new Command();
  registerBuild(scratch, io);
  const build = scratch.commands.find((c) => c.name() === 'build');
  if (build === undefined) throw new Error('the build command is not registered');
  const parsed = build.parseOptions([...flags]);
  const unknown = parsed.unknown[0];
  if (unknown !== undefined) {
    const known = build.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined);
    const close = closest(unknown.split('=', 1)[0] ?? unknown, known);
    throw usage(`unknown build flag "${unknown}"`, close === undefined ? 'see `stagecraft build --help`' : `did you mean ${close}?`);
  }
  if (parsed.operands.length > 0) {
    throw usage(`unexpected argument "${parsed.operands[0] ?? ''}" after --`, 'the context comes from --context-pvc or --context-git; give only build flags after --');
  }
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/u.test(value)) throw usage(`invalid ${flag} "${value}"`, 'a whole number ≥ 1');
  return Number(value);
}

export function registerK8s(program: Command, io: CliIo): void {
  const k8s = program.command('k8s').description('Kubernetes manifests for builders in a cluster');
  k8s
    .command('job')
    .description('write a Job (or, with --targets, an Indexed Job) that runs `stagecraft build` in a pod')
    .argument('[build-flags...]', 'flags for `stagecraft build`, after --')
    .option('--image <ref>', 'stagecraft\'s image for the pod (docs/kubernetes.md shows how to build it)')
    .option('--name <name>', 'the Job\'s name', 'stagecraft-build')
    .option('--namespace <ns>', 'the Job\'s namespace')
    .option('--context-pvc <claim[/path]>', 'the build context from a PersistentVolumeClaim (optionally a directory in it)')
    .option('--context-git <url[#ref[:dir]]>', 'the build context from a git repository, cloned by an init container')
    .option('--cache <ref>', 'a registry ref every builder shares as the cache (--cache-from and --cache-to mode=max)')
    .option('--registry-secret <name>', 'a kubernetes.io/dockerconfigjson Secret with registry credentials')
    .option('--targets <a,b,…>', 'an Indexed Job: pod N builds the N-th stage of the list')
    .option('--parallelism <n>', 'pods of an Indexed Job that run at once')
    .option('--result-pvc <claim>', 'keep the metadata files in a PersistentVolumeClaim (they are always printed to the log)')
    .option('--cpu <quantity>', 'CPU request of the builder pod (e.g. 2)')
    .option('--memory <quantity>', 'memory request of the builder pod (e.g. 4Gi)')
    .option('--format <format>', 'yaml or json', 'yaml')
    .addHelpText('after', [
      '',
      'Examples:',
      '  stagecraft k8s job --image registry.example.com/stagecraft:0.1.0 --context-git https://git.example.com/app.git#main \\',
      '    --cache registry.example.com/app:buildcache -- --push -t registry.example.com/app:1.0',
      '  stagecraft k8s job --image … --context-pvc sources/app --targets api,worker -- --push -t registry.example.com/app',
    ].join('\n'))
    .action(async (buildFlags: string[], flags: JobFlags) => {
      if (flags.image === undefined) throw usage('--image is required', 'name stagecraft\'s image, built from this repository (docs/kubernetes.md)');
      if ((flags.contextPvc === undefined) === (flags.contextGit === undefined)) {
        throw usage('give exactly one of --context-pvc and --context-git', 'the pod needs the build context from a volume or a git repository');
      }
      if (flags.format !== 'yaml' && flags.format !== 'json') throw usage(`unknown --format "${flags.format}"`, 'use yaml or json');
      checkBuildFlags(buildFlags, io);
      const job = buildJob({
        name: flags.name,
        namespace: flags.namespace,
        image: flags.image,
        context: flags.contextPvc !== undefined ? pvcContext(flags.contextPvc) : gitContext(flags.contextGit ?? ''),
        buildFlags,
        cache: flags.cache,
        registrySecret: flags.registrySecret,
        targets: flags.targets?.split(',').map((t) => t.trim()),
        parallelism: positiveInt(flags.parallelism, '--parallelism'),
        resultClaim: flags.resultPvc,
        resources: flags.cpu === undefined && flags.memory === undefined ? undefined : { cpu: flags.cpu, memory: flags.memory },
      });
      await validateJob(job);
      if (flags.format === 'json') {
        io.stdout(`${JSON.stringify(job, null, 2)}\n`);
      } else {
        const { stringify } = await import('yaml');
        io.stdout(stringify(job, { lineWidth: 0 }));
      }
    });
}
