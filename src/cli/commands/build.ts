/**
 * `stagecraft build`: docker buildx build's flags and meanings. Every option is checked before the
 * build starts; the build's events go to the chosen progress renderer.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { BuildEvent, EventSink } from '../../events/index.js';
import { toRawJson } from '../../events/index.js';
import { parseOutputSpec, parseSecretSpec, parseSshSpec, resolveExporters, type OutputSpec } from '../../exporter/index.js';
import { checkBuildEntitlements, parseEntitlements, type BuildResult, type Engine } from '../../engine/index.js';
import { applyLayer } from '../../snapshot/index.js';
import { parseCacheSpec } from '../../cache/index.js';
import type { CliIo } from '../main.js';
import { collect, hostPlatform, parseBuildArgs, parsePlatformFlag, readBoundedDockerfile, readDockerfile } from '../options.js';
import { initialPlainState, initialTtyState, reduceTty, renderPlain, ttyFrame, TtyPainter } from '../progress/index.js';
import { addRootOption, formatBytes, withEngine } from './store-context.js';

interface BuildFlags {
  file?: string;
  tag?: string[];
  target?: string;
  buildArg?: string[];
  secret?: string[];
  ssh?: string[];
  platform?: string;
  output?: string[];
  push?: boolean;
  load?: boolean;
  cacheFrom?: string[];
  cacheTo?: string[];
  cache: boolean;
  /** commander reads `--no-cache-filter` as the negation of `--cache-filter`: values land here. */
  cacheFilter?: string[] | boolean;
  pull?: boolean;
  network?: string;
  allow?: string[];
  label?: string[];
  iidfile?: string;
  metadataFile?: string;
  progress: string;
  quiet?: boolean;
  explainCache?: boolean;
}

const PROGRESS_MODES = ['auto', 'tty', 'plain', 'rawjson', 'quiet'];

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
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

async function readSecrets(specs: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const raw of specs) {
    const spec = parseSecretSpec(raw, (name) => process.env[name] !== undefined);
    if (spec.source.kind === 'env') {
      const value = process.env[spec.source.name];
      if (value === undefined) throw usage(`--secret ${raw}: the environment variable ${spec.source.name} is not set`, `export ${spec.source.name}=… or use src=FILE`);
      out.set(spec.id, Buffer.from(value));
    } else {
      try {
        out.set(spec.id, await readFile(spec.source.path));
      } catch {
        throw new StagecraftError('FILE_NOT_FOUND', `--secret ${raw}: cannot read ${spec.source.path}`, { hint: 'check the path given with src=' });
      }
    }
  }
  return out;
}

/** `--ssh` flags → id → agent socket; each socket must exist and be a unix socket before the build starts. */
async function sshSockets(specs: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const raw of specs) {
    const spec = parseSshSpec(raw);
    const socket = spec.paths[0] ?? process.env.SSH_AUTH_SOCK;
    if (socket === undefined || socket === '') throw usage(`--ssh ${raw}: no agent socket`, 'start an ssh-agent (SSH_AUTH_SOCK) or write --ssh ID=/path/to/agent.sock');
    if (spec.paths.some((p) => !p.endsWith('.sock') && p !== socket)) throw usage(`--ssh ${raw}: key files are not supported, only agent sockets`, 'load the key into an ssh-agent and pass its socket');
    const named = spec.paths[0] === undefined ? `${socket} (SSH_AUTH_SOCK)` : socket;
    let isSocket: boolean;
    try {
      isSocket = (await stat(socket)).isSocket();
    } catch (cause) {
      throw new StagecraftError('FILE_NOT_FOUND', `--ssh ${raw}: agent socket ${named} does not exist`, { hint: 'start an ssh-agent and pass its socket (eval $(ssh-agent); ssh-add), or fix the path', cause });
    }
    if (!isSocket) throw usage(`--ssh ${raw}: ${named} is not a unix socket`, 'pass the socket of an ssh-agent (as in SSH_AUTH_SOCK); key files are not supported, load them into the agent with ssh-add');
    out.set(spec.id, socket);
  }
  return out;
}

function sourceDateEpoch(buildArgs: Map<string, string>): number | undefined {
  const text = buildArgs.get('SOURCE_DATE_EPOCH') ?? process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw usage(`invalid SOURCE_DATE_EPOCH "${text}"`, 'SOURCE_DATE_EPOCH is a Unix time in seconds');
  return Number.parseInt(text, 10);
}

/** The progress sink for `mode`, and a function that finishes its output. */
function progressSink(mode: string, io: CliIo): { sink: EventSink; finish: () => void } {
  if (mode === 'quiet') return { sink: { emit: () => undefined }, finish: () => undefined };
  if (mode === 'rawjson') return { sink: { emit: (event) => io.stderr(`${toRawJson(event)}\n`) }, finish: () => undefined };
  const tty = mode === 'tty' || (mode === 'auto' && process.stderr.isTTY);
  if (!tty) {
    let state = initialPlainState;
    return {
      sink: { emit: (event) => { const [next, text] = renderPlain(state, event); state = next; if (text !== '') io.stderr(text); } },
      finish: () => undefined,
    };
  }
  let state = initialTtyState;
  const painter = new TtyPainter(io.stderr);
  // A pty may report 0 columns (e.g. under script(1)): fall back to $COLUMNS, then 100.
  const width = (): number => Math.max(40, process.stderr.columns || Number(process.env.COLUMNS) || 100);
  const timer = setInterval(() => painter.paint(ttyFrame(state, Date.now(), width())), 100);
  timer.unref();
  return {
    sink: { emit: (event: BuildEvent) => { state = reduceTty(state, event); } },
    finish: () => {
      clearInterval(timer);
      painter.paint(ttyFrame(state, Date.now(), width()));
    },
  };
}

function explainText(misses: readonly { vertex: string; reasons: readonly string[] }[], names: ReadonlyMap<string, string>): string {
  if (misses.length === 0) return 'cache: every step that ran had no earlier build to compare with, or nothing missed\n';
  const lines = ['cache misses:'];
  for (const miss of misses) lines.push(`  ${names.get(miss.vertex) ?? miss.vertex}`, ...miss.reasons.map((r) => `    - ${r}`));
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
  const compressed = (data[0] === 0x1f && data[1] === 0x8b) || (data.length >= 4 && data.readUInt32LE(0) === 0xfd2fb528);
  if (!isTar && !compressed) return { dir, dockerfileText: data.toString('utf8') };
  try {
    await applyLayer(dir, Readable.from([data]), { whiteouts: 'delete' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new StagecraftError('USAGE', 'stdin is not a readable tar archive of a build context', { hint: 'pipe a tar (e.g. tar -C dir -c .), or a Dockerfile', cause: error });
  }
  return { dir };
}

function summary(result: BuildResult): string {
  const lines = [
    `built ${result.manifestDigest} in ${(result.durationMs / 1000).toFixed(1)}s: ${result.executed} steps run, ${result.cached} cached, ${formatBytes(result.size)}`,
    ...result.names.map((n) => `  named ${n}`),
    ...result.exported.map((e) => `  exported ${e}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function registerBuild(program: Command, io: CliIo): void {
  addRootOption(program);
  program
    .command('build')
    .description('build an image from a Dockerfile (docker buildx build compatible flags)')
    .argument('<context>', 'build context directory')
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect)
    .option('--target <stage>', 'build this stage (default: the last)')
    .option('--build-arg <KEY[=VALUE]>', 'a build argument; KEY alone takes the value from the environment (repeatable)', collect)
    .option('--secret <id=ID,src=FILE|env=VAR>', 'a secret for RUN --mount=type=secret (repeatable)', collect)
    .option('--ssh <default|ID=SOCKET>', 'an ssh agent for RUN --mount=type=ssh (repeatable)', collect)
    .option('--platform <os/arch[/variant]>', 'target platform (default: this machine)')
    .option('-o, --output <spec>', 'output: type=local|tar|oci|docker|image|registry,dest=…,name=… (repeatable)', collect)
    .option('--push', 'push the image (shorthand for --output=type=registry)')
    .option('--load', 'keep the image in stagecraft\'s store (always done; accepted for compatibility)')
    .option('--cache-from <spec>', 'import build cache: type=registry,ref=REF | type=local,src=DIR | REF (repeatable)', collect)
    .option('--cache-to <spec>', 'export build cache: type=registry,ref=REF | type=local,dest=DIR, with mode=min|max (repeatable)', collect)
    .option('--no-cache', 'run every step, ignoring the cache')
    .option('--no-cache-filter <stage>', 'run the steps of these stages without the cache (repeatable)', (value: string, previous: unknown) => [...(Array.isArray(previous) ? (previous as string[]) : []), value])
    .option('--pull', 'always resolve base images from their registry')
    .option('--network <mode>', 'network for RUN steps: default, host or none', 'default')
    .option('--allow <entitlement>', 'grant an entitlement: network.host, security.insecure (repeatable)', collect)
    .option('--label <KEY=VALUE>', 'add a label to the image (repeatable)', collect)
    .option('--iidfile <file>', 'write the image ID (the config digest) to the file')
    .option('--metadata-file <file>', 'write the build result metadata (JSON) to the file')
    .option('--progress <mode>', 'auto, tty, plain, rawjson or quiet', 'auto')
    .option('-q, --quiet', 'print only the image ID')
    .option('--explain-cache', 'after the build, list every step that missed the cache and why')
    .addHelpText('after', `
Examples:
  stagecraft build -t app:latest .
  stagecraft build --target test --progress=plain .
  stagecraft build --secret id=npmrc,src=$HOME/.npmrc -o type=oci,dest=app.tar .
  stagecraft build --push -t registry.example.com/app:1.0 .
  stagecraft build -o type=local,dest=out --target artifacts .`)
    .action(async (context: string, flags: BuildFlags, command: Command) => {
      // Everything the user typed is checked before any work starts.
      if (!PROGRESS_MODES.includes(flags.progress)) throw usage(`unknown --progress "${flags.progress}"`, `use one of ${PROGRESS_MODES.join(', ')}`);
      if (flags.network !== undefined && !['default', 'host', 'none'].includes(flags.network)) throw usage(`unsupported --network "${flags.network}"`, 'use default, host or none');
      const allow = parseEntitlements(flags.allow ?? []);
      checkBuildEntitlements((flags.network ?? 'default') as 'default' | 'host' | 'none', allow);
      const cacheFrom = (flags.cacheFrom ?? []).map((raw) => parseCacheSpec(raw, 'from').location);
      const cacheTo = (flags.cacheTo ?? []).map((raw) => parseCacheSpec(raw, 'to'));
      const outputs: OutputSpec[] = (flags.output ?? []).map(parseOutputSpec);
      // The engine resolves them again; here it fails before stdin or the context is read.
      resolveExporters({ outputs, tags: flags.tag ?? [], push: flags.push === true, cacheTo });
      let stdinContext: { dir: string; dockerfileText?: string } | undefined;
      if (context === '-') {
        if (flags.file === '-') throw usage('the context and the Dockerfile cannot both come from stdin', 'give the Dockerfile with -f PATH');
        stdinContext = await contextFromStdin();
        context = stdinContext.dir;
      }
      const buildArgs = parseBuildArgs(flags.buildArg ?? [], process.env);
      const epoch = sourceDateEpoch(buildArgs);
      const labels = parseLabels(flags.label ?? []);
      const buildPlatform = hostPlatform();
      const platform = parsePlatformFlag(flags.platform) ?? buildPlatform;
      if (platform.architecture !== buildPlatform.architecture) {
        throw usage(`--platform ${flags.platform ?? ''}: building for another architecture needs emulation, which stagecraft does not support yet`, `build for ${buildPlatform.os}/${buildPlatform.architecture}`);
      }
      const dockerfile = stdinContext?.dockerfileText !== undefined ? { path: 'Dockerfile', text: stdinContext.dockerfileText } : readDockerfile(flags.file, context, () => readBoundedDockerfile(0, '<stdin>'));
      const secrets = await readSecrets(flags.secret ?? []);
      const ssh = await sshSockets(flags.ssh ?? []);
      const progressMode = flags.quiet === true ? 'quiet' : flags.progress;
      const progress = progressSink(progressMode, io);
      const names = new Map<string, string>();
      const misses: { vertex: string; reasons: readonly string[] }[] = [];
      const sink: EventSink = {
        emit: (event) => {
          if (event.type === 'vertex.started') names.set(event.vertex, event.name);
          if (event.type === 'cache.miss') misses.push({ vertex: event.vertex, reasons: event.reasons });
          progress.sink.emit(event);
        },
      };
      const finish = (): void => {
        progress.finish();
        if (flags.explainCache === true) io.stderr(explainText(misses, names));
      };
      const result = await withEngine(command, async (engine, signal) => {
        try {
          return await runBuild(engine, signal);
        } finally {
          if (stdinContext !== undefined) await rm(stdinContext.dir, { recursive: true, force: true });
        }
      });
      async function runBuild(engine: Engine, signal: AbortSignal): Promise<BuildResult> {
        try {
          return await engine.build({
            contextDir: resolve(context),
            dockerfile,
            buildArgs,
            target: flags.target,
            platform,
            buildPlatform,
            secrets,
            ssh,
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
            events: sink,
            signal,
            stdout: process.stdout,
          });
        } finally {
          finish();
        }
      }
      if (flags.iidfile !== undefined) await writeFile(flags.iidfile, result.configDigest);
      if (flags.metadataFile !== undefined) {
        const metadata = {
          'containerimage.digest': result.manifestDigest,
          'containerimage.config.digest': result.configDigest,
          'containerimage.descriptor': { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: result.manifestDigest },
          ...(result.names.length > 0 ? { 'image.name': result.names.join(',') } : {}),
        };
        await writeFile(flags.metadataFile, `${JSON.stringify(metadata, null, 2)}\n`);
      }
      if (flags.quiet === true) io.stdout(`${result.configDigest}\n`);
      else if (progressMode !== 'rawjson') io.stderr(summary(result));
    });
}
