/**
 * `stagecraft build`: docker buildx build's flags and meanings. Every option is checked before the
 * build starts; the build's events go to the chosen progress renderer.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { StagecraftError, hostPlatform, parsePlatformList } from '../../core/index.js';
import type { BuildEvent, EventSink } from '../../events/index.js';
import { warningSummary } from '../progress/text.js';
import { dockerDaemonSocket, parseAttestFlags, parseScanFlags, parseOutputSpec, resolveExporters, type OutputSpec } from '../../exporter/index.js';
import { packageVersion } from '../version.js';
import { loadSignFlag } from '../sign-flag.js';
import { loadPolicy } from '../../policy/index.js';
import { readSecrets, sshSockets } from '../secret-sources.js';
import { parseAddHosts, parseAnnotations, parseCgroupParent, parseResourceFlags, parseShmSize, parseUlimits } from '../run-flags.js';
import { formatOutline, formatTargets, outlineJson, parseCallFlag, targetsJson, type CallFunction } from '../call.js';
import { ShellLex, listTargets, loadDockerfile, outlineDockerfile, type OutlineOptions } from '../../dockerfile/index.js';
import { checkBuildEntitlements, checkDockerfile, checkFailure, parseEntitlements, type BuildResult, type CheckOptions, type Engine, type EpochSource } from '../../engine/index.js';
import { ExitStatus } from '../exit-status.js';
import { checkText, lintJson } from '../lint-output.js';
import { applyLayer, detectCompression } from '../../snapshot/index.js';
import { parseCacheSpec } from '../../cache/index.js';
import { parseBuildContextFlag, type NamedContextSpec } from '../../dockerfile/index.js';
import type { CliIo } from '../main.js';
import { renderError } from '../render-error.js';
import { interactiveTerminal, runDebug } from './debug.js';
import { collect, parseBuildArgs, readBoundedDockerfile, readDockerfile } from '../options.js';
import { PROGRESS_MODES, progressSink } from '../progress/index.js';
import { addRootOption, formatBytes, withEngine } from './store-context.js';
import { lockPathFor, readLock } from './lock.js';
import { reportAfterBuild, reportTarget } from '../report.js';

interface BuildFlags {
  file?: string;
  reproducible?: string | boolean;
  tag?: string[];
  target?: string;
  buildArg?: string[];
  secret?: string[];
  ssh?: string[];
  platform?: string[];
  output?: string[];
  push?: boolean;
  load?: boolean;
  cacheFrom?: string[];
  cacheTo?: string[];
  cache: boolean;
  /** commander reads `--no-cache-filter` as the negation of `--cache-filter`: values land here. */
  cacheFilter?: string[] | boolean;
  pull?: boolean;
  locked?: boolean;
  offline?: boolean;
  network?: string;
  allow?: string[];
  label?: string[];
  iidfile?: string;
  metadataFile?: string;
  progress: string;
  quiet?: boolean;
  explainCache?: boolean;
  addHost?: string[];
  shmSize?: string;
  ulimit?: string[];
  annotation?: string[];
  call?: string;
  check?: boolean;
  /** Legacy `docker build` flags (see LEGACY_FLAGS). */
  compress?: boolean;
  rm?: boolean;
  forceRm?: boolean;
  squash?: boolean;
  isolation?: string;
  securityOpt?: string[];
  cgroupParent?: string;
  memory?: string;
  memorySwap?: string;
  cpuShares?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  buildContext?: string[];
  onError?: string;
  reportTo?: string;
  attest?: string[];
  sbom?: string;
  provenance?: string;
  sign?: string;
  scan?: string[];
  vulnDb?: string;
  policy?: string;
}

/**
 * `docker build` flags buildx keeps for compatibility (commands/build.go), hidden from help: accepted
 * and ignored silently (`--compress`, `--rm`, `--force-rm`) or with buildx's warning (`--isolation`,
 * `--security-opt`, `--squash`). The resource flags buildx passes on (`--memory`, `--cgroup-parent`, …)
 * are real options, in `registerBuild`.
 */
const LEGACY_FLAGS: readonly { readonly flags: string; readonly key: keyof BuildFlags; readonly warning?: string; readonly repeatable?: boolean }[] = [
  { flags: '--compress', key: 'compress' },
  { flags: '--rm', key: 'rm' },
  { flags: '--force-rm', key: 'forceRm' },
  { flags: '--isolation <type>', key: 'isolation', warning: 'isolation flag is deprecated with BuildKit.' },
  { flags: '--security-opt <opt>', key: 'securityOpt', repeatable: true, warning: 'security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.' },
  { flags: '--squash', key: 'squash', warning: 'experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.' },
];

export { normalizeLegacyBoolFlags } from '../argv.js';

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** `--vuln-db DIR`: an existing directory (of OSV JSON files), as an absolute path. */
export async function vulnDbDir(value: string): Promise<string> {
  const dir = resolve(value);
  const info = await stat(dir).catch((cause: unknown) => {
    throw new StagecraftError('FILE_NOT_FOUND', `--vuln-db ${value}: ${dir} does not exist`, { hint: 'give a directory of OSV JSON files (see docs/vulnerabilities.md)', cause });
  });
  if (!info.isDirectory()) throw usage(`--vuln-db ${value}: ${dir} is not a directory`, 'give a directory of OSV JSON files');
  return dir;
}

function parseLabels(values: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw usage(`invalid --label "${value}"`, 'write --label KEY=VALUE');
    out.set(value.slice(0, eq), value.slice(eq + 1));
  }
  return out;
}

/** `--build-context NAME=VALUE` flags → key → spec; a directory (or OCI layout) must exist. */
async function namedContexts(values: readonly string[]): Promise<Map<string, NamedContextSpec>> {
  const out = new Map<string, NamedContextSpec>();
  for (const raw of values) {
    const { name, spec } = parseBuildContextFlag(raw);
    if (spec.kind !== 'local' && spec.kind !== 'oci-layout') {
      out.set(name, spec);
      continue;
    }
    const dir = resolve(spec.dir);
    const info = await stat(dir).catch((cause: unknown) => {
      throw new StagecraftError('FILE_NOT_FOUND', `--build-context ${raw}: ${dir} does not exist`, { hint: 'give the path of a directory (relative to the current directory), docker-image://IMAGE or oci-layout://DIR', cause });
    });
    if (!info.isDirectory()) throw usage(`--build-context ${raw}: ${dir} is not a directory`, 'a build context is a directory; to use an image archive, load it or give oci-layout://DIR of an unpacked OCI layout');
    out.set(name, { ...spec, dir });
  }
  return out;
}

/** SOURCE_DATE_EPOCH from `--build-arg` (wins) or the environment; undefined when unset. */
export function sourceDateEpoch(buildArgs: ReadonlyMap<string, string>): number | undefined {
  const text = buildArgs.get('SOURCE_DATE_EPOCH') ?? process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw usage(`invalid SOURCE_DATE_EPOCH "${text}"`, 'SOURCE_DATE_EPOCH is a Unix time in seconds');
  return Number.parseInt(text, 10);
}

function explainText(misses: readonly { vertex: string; reasons: readonly string[] }[], names: ReadonlyMap<string, string>, hits: readonly { vertex: string; reason: string }[] = []): string {
  const lines: string[] = [];
  if (misses.length === 0) lines.push('cache: every step that ran had no earlier build to compare with, or nothing missed');
  else lines.push('cache misses:');
  for (const miss of misses) lines.push(`  ${names.get(miss.vertex) ?? miss.vertex}`, ...miss.reasons.map((r) => `    - ${r}`));
  // Steps whose inputs changed but not the files they read of them (content-selected keys).
  if (hits.length > 0) lines.push('cached by content:');
  for (const hit of hits) lines.push(`  ${names.get(hit.vertex) ?? hit.vertex}`, `    - cached: ${hit.reason}`);
  return `${lines.join('\n')}\n`;
}

/**
 * `stagecraft build -`: stdin is a tar of the context (plain or compressed), or, as with docker, a
 * Dockerfile alone (then the context is empty).
 */
async function contextFromStdin(): Promise<{ dir: string; dockerfileText?: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const data = Buffer.concat(chunks);
  const dir = await mkdtemp(join(tmpdir(), 'stagecraft-stdin-context-'));
  const isTar = data.length >= 512 && data.subarray(257, 262).toString('latin1') === 'ustar';
  const compressed = detectCompression(data) !== 'none';
  if (!isTar && !compressed) return { dir, dockerfileText: data.toString('utf8') };
  try {
    await applyLayer(dir, Readable.from([data]), { whiteouts: 'delete' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new StagecraftError('USAGE', 'stdin is not a readable tar archive of a build context', { hint: 'pipe a tar (e.g. tar -C dir -c .), or a Dockerfile', cause: error });
  }
  return { dir };
}

/** `--call outline|targets`: the Dockerfile read, nothing built. */
/**
 * `--check` / `--call check`: the findings as buildx prints them (or JSON), no build and no registry.
 * Exit status 1 with any finding or an `error=true` violation, unless `ignorestatus=true`.
 */
async function runChecks(io: CliIo, call: CallFunction, options: CheckOptions): Promise<void> {
  const result = await checkDockerfile(options);
  io.stdout(call.format === 'json' ? lintJson(result) : checkText(result, options.dockerfile.text));
  if (result.config.error && result.violated.length > 0 && call.format !== 'json') io.stdout(`\nERROR: ${checkFailure(result).message}\n`);
  if (result.findings.length > 0 && !call.ignoreStatus) throw new ExitStatus(1);
}

function callResult(call: CallFunction, dockerfile: { path: string; text: string }, options: Omit<OutlineOptions, 'lex'>): string {
  const parsed = loadDockerfile(dockerfile.text, dockerfile.path);
  if (call.name === 'targets') {
    const targets = listTargets(parsed);
    return call.format === 'json' ? targetsJson(targets, dockerfile.text) : formatTargets(targets);
  }
  const outline = outlineDockerfile(parsed, { ...options, lex: new ShellLex({ escapeToken: parsed.escapeToken }) });
  return call.format === 'json' ? outlineJson(outline, dockerfile.text) : formatOutline(outline);
}

/** How the summary names where the epoch came from. */
const EPOCH_SOURCE_TEXT: Readonly<Record<EpochSource, string>> = {
  SOURCE_DATE_EPOCH: 'from SOURCE_DATE_EPOCH',
  git: 'the commit time of the context\'s git work tree',
  'base-image': 'the newest base image\'s created time',
  default: 'no git commit or base image time: 1970',
};

/** `--reproducible[=true|false]` (absent: true). */
function reproducibleFlag(value: string | boolean | undefined): boolean {
  if (value === undefined || value === true) return true;
  const text = String(value).toLowerCase();
  if (['true', '1', 'yes'].includes(text)) return true;
  if (['false', '0', 'no'].includes(text)) return false;
  throw usage(`invalid --reproducible "${String(value)}"`, '--reproducible=false builds with wall-clock times; true (the default) uses SOURCE_DATE_EPOCH, else the git commit time, else the base images\' time');
}

function summary(result: BuildResult): string {
  const lines = [
    `built image ${result.configDigest} in ${(result.durationMs / 1000).toFixed(1)}s: ${result.executed} steps run, ${result.cached} cached, ${formatBytes(result.size)} in the store`,
    ...(result.platforms === undefined
      ? [`  manifest digest ${result.manifestDigest}`]
      : [`  index digest ${result.index?.digest ?? ''}`, ...result.platforms.map((p) => `  ${p.platform} manifest ${p.manifestDigest}`)]),
    ...result.names.map((n) => `  named ${n}`),
    ...result.exported.map((e) => `  exported ${e}`),
    result.epoch === undefined
      ? '  times: wall clock (--reproducible=false)'
      : `  SOURCE_DATE_EPOCH ${result.epoch.seconds} (${new Date(result.epoch.seconds * 1000).toISOString().replace('.000Z', 'Z')}, ${EPOCH_SOURCE_TEXT[result.epoch.source]})`,
    ...(result.supplyChain?.signed === true ? ['  signed'] : []),
    ...(result.supplyChain?.summary ?? []),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerBuild(program: Command, io: CliIo): void {
  addRootOption(program);
  const build = program
    .command('build')
    .description('build an image from a Dockerfile (docker buildx build compatible flags)')
    .argument('<context>', 'build context directory')
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect)
    .option('--target <stage>', 'build this stage (default: the last)')
    .option('--build-arg <KEY[=VALUE]>', 'a build argument; KEY alone takes the value from the environment (repeatable)', collect)
    .option('--secret <id=ID,src=FILE|env=VAR>', 'a secret for RUN --mount=type=secret (repeatable)', collect)
    .option('--ssh <default|ID=SOCKET>', 'an ssh agent for RUN --mount=type=ssh (repeatable)', collect)
    .option('--build-context <NAME=DIR|docker-image://REF|oci-layout://DIR[:TAG]>', 'an extra named context for FROM, COPY --from and RUN --mount=from (repeatable)', collect)
    .option('--platform <os/arch[/variant],…>', 'target platforms (default: this machine); several (a comma list, or the flag repeated) build one image index, RUN steps of another architecture through QEMU (binfmt_misc)', collect)
    .option('-o, --output <spec>', 'output: type=local|tar|oci|docker|image|registry,dest=…,name=… (repeatable)', collect)
    .option('--push', 'push the image (shorthand for --output=type=registry)')
    .option('--load', 'load the image into the local Docker daemon (shorthand for -o type=docker; DOCKER_HOST=unix://… or /var/run/docker.sock)')
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=REF | type=local,src=DIR | REF (a cache, or an image built with --cache-to type=inline); one that cannot be used is a warning (repeatable)', collect)
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=REF | type=local,dest=DIR, with mode=min|max | type=inline (in the image config); ignore-error=true makes a failed export a warning (repeatable)', collect)
    .option('--no-cache', 'run every step, ignoring the cache')
    .option('--reproducible [true|false]', 'reproducible times (default true): the epoch is SOURCE_DATE_EPOCH, else the context\'s git commit time, else the newest base image\'s created time, else 0; false: wall-clock times')
    .option('--no-cache-filter <stage>', 'run the steps of these stages without the cache (repeatable)', (value: string, previous: unknown) => [...(Array.isArray(previous) ? (previous as string[]) : []), value])
    .option('--pull', 'always resolve base images from their registry')
    .option('--locked', 'use exactly the digests of stagecraft.lock beside the Dockerfile (written by `stagecraft lock`); fail on an input it lacks or a changed Dockerfile')
    .option('--offline', 'contact no registry or URL: every image and download must be in the local store or build cache')
    .option('--network <mode>', 'network for RUN steps: default, host or none', 'default')
    .option('--allow <entitlement>', 'grant an entitlement: network.host, security.insecure (repeatable)', collect)
    .option('--label <KEY=VALUE>', 'add a label to the image (repeatable)', collect)
    .option('--iidfile <file>', 'write the image ID (the config digest) to the file')
    .option('--metadata-file <file>', 'write the build result metadata (JSON) to the file')
    .option('--progress <mode>', 'auto, tty, plain, rawjson or quiet', 'auto')
    .option('-q, --quiet', 'print only the image ID')
    .option('--explain-cache', 'after the build, list every step that missed the cache and why')
    .option('--add-host <host:ip>', 'add a host-to-IP mapping to /etc/hosts of RUN steps (repeatable)', collect)
    .option('--shm-size <bytes>', 'size of /dev/shm in RUN steps, e.g. 128m (default 64m)')
    .option('--ulimit <name=soft[:hard]>', 'a resource limit for RUN steps, e.g. nofile=1024:2048 (repeatable)', collect)
    .option('--annotation <[type:]key=value>', 'add an annotation to the image manifest; type manifest or manifest-descriptor (repeatable)', collect)
    .option('--cgroup-parent <path>', 'the cgroup RUN steps run under')
    .option('-m, --memory <bytes>', 'memory limit of RUN steps, e.g. 512m')
    .option('--memory-swap <bytes>', 'memory plus swap limit of RUN steps; -1 for unlimited swap')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight) of RUN steps')
    .option('--cpu-period <us>', 'CPU CFS period of RUN steps')
    .option('--cpu-quota <us>', 'CPU CFS quota of RUN steps')
    .option('--cpuset-cpus <list>', 'CPUs RUN steps may use (0-3, 0,1)')
    .option('--cpuset-mems <list>', 'memory nodes RUN steps may use (0-3, 0,1)')
    .option('--attest <type=sbom|provenance,…>', 'attestation parameters: type=sbom[,scan-stage=true][,scan-context=true][,disabled=true] or type=provenance[,mode=min|max][,builder-id=URI][,version=v1|v0.2][,reproducible=true][,filename=F][,disabled=true] (repeatable)', collect)
    .option('--sbom <true|false|params>', 'shorthand for --attest=type=sbom (e.g. --sbom=true)')
    .option('--provenance <true|false|params>', 'shorthand for --attest=type=provenance (e.g. --provenance=mode=max; default mode=min on image outputs)')
    .option('--sign <key=FILE[,legacy=true]>', 'sign the image and its attestations with a cosign key (password from STAGECRAFT_PASSWORD or a prompt); stored with the image and pushed with it')
    .option('--scan <secrets,vulns>', 'scan the image before it is exported: secrets (every layer, deleted files too, the config, build args and logs) and/or vulns (its packages against --vuln-db and the Debian mirror); comma-separated or repeatable', collect)
    .option('--vuln-db <dir>', 'a directory of OSV JSON files for the vulnerability scan')
    .option('--policy <file>', 'a policy file (YAML or JSON, docs/policy.md): a failing rule stops the build before anything is exported or pushed (exit 11)')
    .option('--call <outline|targets|check|build>', 'instead of building: print the build args, secrets and ssh the target uses (outline), the stages (targets) or the build-check findings (check); add ,format=json for JSON')
    .option('--check', 'run the build checks only, no build (shorthand for --call=check); exit 1 with any warning')
    .option('--on-error <error|debug>', 'debug: when a RUN step fails, open a shell in its kept state at once (in a terminal; otherwise print how to)')
    .option('--report-to <url>', 'send the build record to a stagecraft server ($STAGECRAFT_REPORT_URL; token from $STAGECRAFT_REPORT_TOKEN); queued locally while it is down')
    .addHelpText('after', `
Examples:
  stagecraft build -t app:latest .
  stagecraft build --target test --progress=plain .
  stagecraft build --secret id=npmrc,src=$HOME/.npmrc -o type=oci,dest=app.tar .
  stagecraft build --push -t registry.example.com/app:1.0 .
  stagecraft build -o type=local,dest=out --target artifacts .
  stagecraft build --call outline .
  stagecraft build --check .`)
    .action(async (context: string, flags: BuildFlags, command: Command) => {
      // Everything the user typed is checked before any work starts.
      if (flags.check === true && flags.call !== undefined && flags.call !== '') throw usage('--check and --call cannot be used together', '--check is --call=check');
      const call = parseCallFlag(flags.check === true ? 'check' : flags.call);
      for (const legacy of LEGACY_FLAGS) if (legacy.warning !== undefined && flags[legacy.key] !== undefined) io.stderr(`WARNING: ${legacy.warning}\n`);
      const extraHosts = parseAddHosts(flags.addHost ?? []);
      const shmSize = parseShmSize(flags.shmSize);
      const ulimits = parseUlimits(flags.ulimit ?? []);
      const cgroupParent = parseCgroupParent(flags.cgroupParent);
      const resources = parseResourceFlags(flags);
      if (!(PROGRESS_MODES as readonly string[]).includes(flags.progress)) throw usage(`unknown --progress "${flags.progress}"`, `use one of ${PROGRESS_MODES.join(', ')}`);
      if (flags.network !== undefined && !['default', 'host', 'none'].includes(flags.network)) throw usage(`unsupported --network "${flags.network}"`, 'use default, host or none');
      if (flags.onError !== undefined && flags.onError !== 'error' && flags.onError !== 'debug') throw usage(`unknown --on-error "${flags.onError}"`, 'use --on-error=debug (a shell in the failed step) or --on-error=error (the default)');
      const report = reportTarget(flags.reportTo, process.env);
      const allow = parseEntitlements(flags.allow ?? []);
      checkBuildEntitlements((flags.network ?? 'default') as 'default' | 'host' | 'none', allow);
      const cacheFrom = (flags.cacheFrom ?? []).map((raw) => parseCacheSpec(raw, 'from').location);
      const cacheTo = (flags.cacheTo ?? []).map((raw) => parseCacheSpec(raw, 'to'));
      const outputs: OutputSpec[] = (flags.output ?? []).map(parseOutputSpec);
      const attest = parseAttestFlags({ attest: flags.attest, sbom: flags.sbom, provenance: flags.provenance }, ['1', 't', 'true'].includes((process.env.BUILDX_NO_DEFAULT_ATTESTATIONS ?? '').toLowerCase()));
      // The signing key is unlocked now: a wrong password fails before the build starts.
      const sign = await loadSignFlag(flags.sign);
      // The policy is read and its CEL rules compiled now: a malformed policy fails before the build starts.
      const scan = parseScanFlags(flags.scan ?? []);
      const vulnDb = flags.vulnDb === undefined ? undefined : await vulnDbDir(flags.vulnDb);
      const policy = flags.policy === undefined ? undefined : await loadPolicy(flags.policy);
      // `--load` is `-o type=docker` (into the local Docker daemon), as in buildx.
      if (flags.load === true && !outputs.some((o) => o.type === 'docker' && o.dest === undefined)) outputs.push(parseOutputSpec('type=docker'));
      const dockerSocket = outputs.some((o) => o.type === 'docker' && o.dest === undefined) ? dockerDaemonSocket(process.env) : undefined;
      // The engine resolves them again; here it fails before stdin or the context is read.
      const buildPlatform = hostPlatform(process.arch);
      const platforms = parsePlatformList(flags.platform ?? [], '--platform');
      const platform = platforms[0] ?? buildPlatform;
      resolveExporters({ outputs, tags: flags.tag ?? [], push: flags.push === true, cacheTo, platforms: platforms.length });
      if (platforms.length > 1 && flags.sign !== undefined) throw usage('--sign with several platforms is not supported yet', 'sign the pushed index afterwards with `stagecraft sign`, or build one platform per run');
      let stdinContext: { dir: string; dockerfileText?: string } | undefined;
      if (context === '-') {
        if (flags.file === '-') throw usage('the context and the Dockerfile cannot both come from stdin', 'give the Dockerfile with -f PATH');
        stdinContext = await contextFromStdin();
        context = stdinContext.dir;
      }
      const buildArgs = parseBuildArgs(flags.buildArg ?? [], process.env);
      const epoch = sourceDateEpoch(buildArgs);
      const reproducible = reproducibleFlag(flags.reproducible);
      const labels = parseLabels(flags.label ?? []);
      const dockerfile = stdinContext?.dockerfileText !== undefined ? { path: 'Dockerfile', text: stdinContext.dockerfileText } : readDockerfile(flags.file, context, () => readBoundedDockerfile(0, '<stdin>'));
      if (flags.offline === true && (flags.pull === true || flags.push === true)) throw usage(`--offline cannot be used with --${flags.pull === true ? 'pull' : 'push'}`, 'both contact a registry; drop one of them');
      const locked = flags.locked === true ? await readLock(lockPathFor(dockerfile.path, context)) : undefined;
      const annotations = parseAnnotations(flags.annotation ?? [], platform);
      if (Object.keys(annotations.manifestDescriptor).length > 0 && outputs.some((o) => (o.type === 'image' || o.type === 'oci' || o.type === 'docker') && !o.ociMediaTypes)) {
        throw usage('manifest-descriptor annotations cannot be exported with oci-mediatypes=false', 'drop the manifest-descriptor: annotation or export with oci-mediatypes=true (as BuildKit)');
      }
      if (call.name === 'check') {
        try {
          await runChecks(io, call, { contextDir: resolve(context), dockerfile, buildArgs, target: flags.target, buildPlatform, platform });
        } finally {
          if (stdinContext !== undefined) await rm(stdinContext.dir, { recursive: true, force: true });
        }
        return;
      }
      if (call.name !== 'build') {
        if (stdinContext !== undefined) await rm(stdinContext.dir, { recursive: true, force: true });
        io.stdout(callResult(call, dockerfile, { buildArgs, target: flags.target, buildPlatform, targetPlatform: platform }));
        return;
      }
      const secrets = await readSecrets(flags.secret ?? []);
      const ssh = await sshSockets(flags.ssh ?? []);
      const contexts = await namedContexts(flags.buildContext ?? []);
      const progressMode = flags.quiet === true ? 'quiet' : flags.progress;
      const progress = progressSink(progressMode, io.stderr);
      const names = new Map<string, string>();
      let buildId: string | undefined;
      const misses: { vertex: string; reasons: readonly string[] }[] = [];
      const hits: { vertex: string; reason: string }[] = [];
      const warnings: Extract<BuildEvent, { type: 'build.warning' }>[] = [];
      const sink: EventSink = {
        emit: (event) => {
          if (event.type === 'build.warning') warnings.push(event);
          if (event.type === 'vertex.started') names.set(event.vertex, event.name);
          if (event.type === 'build.started') buildId = event.buildId;
          if (event.type === 'cache.miss') misses.push({ vertex: event.vertex, reasons: event.reasons });
          if (event.type === 'vertex.cached' && event.reason !== undefined) {
            names.set(event.vertex, event.name);
            hits.push({ vertex: event.vertex, reason: event.reason });
          }
          progress.sink.emit(event);
        },
      };
      const finish = (): void => {
        progress.finish();
        // buildx's " N warnings found:" list after the build, in every human-readable mode.
        if (progressMode !== 'quiet' && progressMode !== 'rawjson') io.stderr(warningSummary(warnings));
        if (flags.explainCache === true) io.stderr(explainText(misses, names, hits));
      };
      const result = await withEngine(command, async (engine, signal) => {
        try {
          return await runBuild(engine, signal);
        } catch (error) {
          if (flags.onError === 'debug') await debugOnError(engine, signal, error);
          throw error;
        } finally {
          if (stdinContext !== undefined) await rm(stdinContext.dir, { recursive: true, force: true });
          if (report !== undefined && buildId !== undefined) {
            // The record is written; queue and post it (never failing the build, bounded by a short timeout).
            const id = buildId;
            const line = await engine.historyAccess().then((access) => reportAfterBuild(access, id, report), (error: unknown) => `stagecraft: the build history cannot be used, build ${id} is not reported: ${error instanceof Error ? error.message : String(error)}\n`);
            if (line !== undefined) io.stderr(line);
          }
        }
      });
      /** `--on-error=debug`: the failed step's shell, or how to open it. */
      async function debugOnError(engine: Engine, signal: AbortSignal, error: unknown): Promise<void> {
        if (!(error instanceof StagecraftError) || error.code !== 'BUILD_STEP_FAILED' || buildId === undefined) return;
        const id = buildId;
        if (!(await engine.debugStates()).some((r) => r.buildId === id)) {
          io.stderr(`stagecraft: the failed step was not kept, so there is nothing to debug (is "debugKeep" 0 in the config, or STAGECRAFT_DEBUG_KEEP=0?)\n`);
          return;
        }
        if (!interactiveTerminal()) {
          io.stderr(`stagecraft: not a terminal, so no shell now; to debug the failed step run: stagecraft debug ${id} (or stagecraft debug --exec CMD ${id})\n`);
          return;
        }
        io.stderr(`${renderError(error, false).text}\n`);
        await runDebug(engine, io, { buildId: id, secrets, ssh, allow }, signal);
      }
      async function runBuild(engine: Engine, signal: AbortSignal): Promise<BuildResult> {
        try {
          return await engine.build({
            contextDir: resolve(context),
            dockerfile,
            buildArgs,
            target: flags.target,
            platform,
            platforms,
            buildPlatform,
            secrets,
            ssh,
            namedContexts: contexts,
            tags: flags.tag ?? [],
            outputs,
            push: flags.push === true,
            noCache: flags.cache === false,
            cacheFrom,
            cacheTo,
            noCacheFilter: Array.isArray(flags.cacheFilter) ? flags.cacheFilter : [],
            pull: flags.pull === true,
            network: (flags.network ?? 'default') as 'default' | 'host' | 'none',
            allow,
            labels,
            sourceDateEpoch: epoch,
            ...(locked === undefined ? {} : { pins: { lock: locked } }),
            ...(flags.offline === true ? { offline: true } : {}),
            reproducible,
            exec: { extraHosts, shmSize, ulimits, cgroupParent, resources },
            annotations,
            attest,
            sign,
            scan,
            vulnData: { osvDir: vulnDb },
            policy,
            toolVersion: packageVersion(),
            events: sink,
            signal,
            stdout: process.stdout,
            dockerSocket,
          });
        } finally {
          finish();
        }
      }
      // A multi-platform image's id is its index digest (as buildx's --iidfile).
      const imageId = result.platforms !== undefined && result.index !== undefined ? result.index.digest : result.configDigest;
      if (flags.iidfile !== undefined) await writeFile(flags.iidfile, imageId);
      if (flags.metadataFile !== undefined) {
        // As buildx: with attestations the image's descriptor is the index that holds them.
        const top = result.index ?? { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: result.manifestDigest };
        const metadata = {
          'containerimage.digest': top.digest,
          'containerimage.config.digest': result.configDigest,
          'containerimage.descriptor': { mediaType: top.mediaType, digest: top.digest, ...('size' in top ? { size: top.size } : {}) },
          ...(result.names.length > 0 ? { 'image.name': result.names.join(',') } : {}),
        };
        await writeFile(flags.metadataFile, `${JSON.stringify(metadata, null, 2)}\n`);
      }
      if (flags.quiet === true) io.stdout(`${imageId}\n`);
      else if (progressMode !== 'rawjson') io.stderr(summary(result));
    });
  for (const legacy of LEGACY_FLAGS) {
    const option = new Option(legacy.flags, 'accepted for docker build compatibility').hideHelp();
    build.addOption(legacy.repeatable === true ? option.argParser(collect) : option);
  }
}
