/**
 * Reproducible by default (issue 19): with no flags, two builds of the same inputs on two empty state
 * roots, from two checkouts at different paths (with different file times) and under two umasks of
 * the builder, give the same image manifest digest; a rebuild from the cache gives the same image ID
 * with or without `--reproducible=false`; `--reproducible=false` gives wall-clock times.
 *
 * Coverage (real runc, overlay snapshots, docker-registry with the busybox fixture):
 * - small, faithful variants of the six shared/bench workload shapes on busybox (the real ones need
 *   the debian-gcc base and minutes of gcc: too slow for CI): w1 build → test stage → runtime with
 *   COPY --from both; w2 four independent stages merged; w3 WORKDIR + COPY . . of a 300-file context,
 *   a RUN over it, then a subset; w4 a RUN writing a 4 MiB file, copied into the final stage; w5 the
 *   real Dockerfile (it is busybox-only), with its real gen.sh context; w6 a secret mount and a cache
 *   mount.
 * - the conformance cases whose RUN steps are deterministic and which need no ssh agent, secret or
 *   URL server (CONFORMANCE below), copied out of the repository (so the epoch is the base image's).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, utimesSync, lutimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RawJsonLine } from '../../src/events/index.js';
import { CLI_PATH } from '../helpers/cli.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CONFORMANCE, W1, W2, W3, W4, W5, W6, type Files } from '../helpers/workload-shapes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const casesDir = join(repo, 'test', 'conformance', 'cases');

/** Runs `jobs` `width` at a time. */
async function inBatches(jobs: readonly (() => Promise<unknown>)[], width: number): Promise<void> {
  for (let i = 0; i < jobs.length; i += width) await Promise.all(jobs.slice(i, i + width).map((job) => job()));
}

/** For the changed-step test: steps before and after a COPY of the context. */
const STEPS: Files = {
  Dockerfile: `ARG BASE
FROM \${BASE}
RUN echo one > /one
ENV A=1
COPY src/ /src/
RUN cat /src/* > /all
RUN wc -c /all > /count
`,
  'src/a.txt': 'a\n',
};

let env: BuildEnv;
let checkouts = 0;

/** Writes `files` as a checkout would: files 0644 (scripts 0755), directories 0755, whatever the umask. */
function writeContext(files: Files): string {
  const dir = join(env.work, `checkout-${++checkouts}`, 'deeper'.repeat(checkouts % 2), 'ctx');
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    chmodSync(path, name.endsWith('.sh') ? 0o755 : 0o644);
  }
  return dir;
}

/** A second checkout of `dir` somewhere else, with every time an hour later (a later clone). */
function copyCheckout(dir: string): string {
  const copy = join(env.work, `checkout-${++checkouts}`, 'elsewhere', 'ctx');
  cpSync(dir, copy, { recursive: true, verbatimSymlinks: true });
  const later = Date.now() / 1000 + 3600;
  const touch = (path: string): void => {
    const info = lstatSync(path);
    if (info.isDirectory()) for (const name of readdirSync(path)) touch(join(path, name));
    if (info.isSymbolicLink()) lutimesSync(path, later, later);
    else utimesSync(path, later, later);
  };
  touch(copy);
  return copy;
}

/** Makes `dir` a git work tree with one commit at `seconds`. */
function commitAt(dir: string, seconds: number): void {
  const at = `@${seconds} +0000`;
  for (const args of [['init', '-q'], ['add', '.'], ['commit', '-q', '-m', 'c']]) {
    const r = spawnSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@e', ...args], { encoding: 'utf8', env: { ...process.env, GIT_COMMITTER_DATE: at, GIT_AUTHOR_DATE: at } });
    assert.equal(r.status, 0, r.stderr);
  }
}

interface Built {
  readonly status: number | null;
  readonly stderr: string;
  readonly manifest: string;
  readonly config: string;
  readonly epoch: { readonly seconds: number; readonly source: string } | undefined;
}

/** `stagecraft build` under `umask` (a shell wrapper, as a CI runner's login shell would set it). */
async function build(root: string, umask: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Built> {
  const child = spawn('sh', ['-c', `umask ${umask} && exec "$@"`, 'sh', process.execPath, CLI_PATH, '--root', root, 'build', '--progress=rawjson', ...args], {
    env: { ...process.env, SOURCE_DATE_EPOCH: '', ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  const status = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done(code));
  });
  const run = { status, stderr: Buffer.concat(chunks).toString('utf8') };
  const events = run.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l)));
  const done = events.find((e) => e.type === 'build.completed');
  const image = done?.type === 'build.completed' ? done.image : undefined;
  return {
    status: run.status,
    stderr: run.stderr.slice(-3000),
    manifest: image?.digest ?? '',
    config: image?.configDigest ?? '',
    epoch: done?.type === 'build.completed' ? done.epoch : undefined,
  };
}

function configOf(root: string, digest: string): { created: string; history: { created?: string; created_by?: string; empty_layer?: boolean }[] } {
  return JSON.parse(readFileSync(join(root, 'content', 'blobs', 'sha256', digest.slice('sha256:'.length)), 'utf8')) as { created: string; history: { created?: string; created_by?: string }[] };
}

/** Two builds: empty roots, two checkouts, umask 022 and 077: the same manifest digest. */
async function assertReproduced(what: string, context: string, flags: readonly string[] = []): Promise<Built> {
  const other = copyCheckout(context);
  const args = ['--build-arg', `BASE=${env.busybox}`, '--provenance=false', ...flags];
  const [first, second] = await Promise.all([build(await env.newRoot(), '022', [...args, context]), build(await env.newRoot(), '077', [...args, other])]);
  assert.equal(first.status, 0, `${what}: ${first.stderr}`);
  assert.equal(second.status, 0, `${what}: ${second.stderr}`);
  assert.ok(first.epoch !== undefined, `${what}: the build had an epoch`);
  assert.deepEqual(second.epoch, first.epoch, `${what}: the same epoch`);
  assert.equal(second.manifest, first.manifest, `${what}: two builds, same inputs, different manifests`);
  return first;
}

describe('reproducible by default', () => {
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  it('the workload shapes w1..w6 give the same manifest digest on two roots, checkouts and umasks', { timeout: 300_000 }, async () => {
    const secret = join(env.work, 'api_token');
    writeFileSync(secret, 'x'.repeat(40));
    const workloads = [['w1', W1, []], ['w2', W2, []], ['w3', W3, []], ['w4', W4, []], ['w5', W5, []], ['w6', W6, ['--secret', `id=api_token,src=${secret}`]]] as const;
    await inBatches(workloads.map(([name, files, flags]) => async () => {
      const built = await assertReproduced(name, writeContext(files), flags);
      assert.equal(built.epoch?.source, 'base-image', `${name}: no git, no SOURCE_DATE_EPOCH: the base image's time`);
    }), 2);
  });

  it('the deterministic conformance cases give the same manifest digest', { timeout: 300_000 }, async () => {
    await inBatches(CONFORMANCE.map((name) => async () => {
      const context = join(env.work, 'conformance', name);
      cpSync(join(casesDir, name), context, { recursive: true, verbatimSymlinks: true });
      await assertReproduced(name, context);
    }), 2);
  });

  it('SOURCE_DATE_EPOCH wins, the git commit time comes next, and both set the config time', { timeout: 60_000 }, async () => {
    const context = writeContext(W2);
    const root = await env.newRoot();
    const explicit = await build(root, '022', ['--build-arg', `BASE=${env.busybox}`, context], { SOURCE_DATE_EPOCH: '1700000000' });
    assert.equal(explicit.status, 0, explicit.stderr);
    assert.deepEqual(explicit.epoch, { seconds: 1700000000, source: 'SOURCE_DATE_EPOCH' });
    assert.equal(configOf(root, explicit.config).created, '2023-11-14T22:13:20Z');
    commitAt(context, 1600000000);
    const fromGit = await build(root, '022', ['--build-arg', `BASE=${env.busybox}`, context]);
    assert.equal(fromGit.status, 0, fromGit.stderr);
    assert.deepEqual(fromGit.epoch, { seconds: 1600000000, source: 'git' });
    const config = configOf(root, fromGit.config);
    assert.equal(config.created, '2020-09-13T12:26:40Z');
    assert.ok(config.history.every((h) => h.created === '2020-09-13T12:26:40Z' || h.created === '1970-01-01T00:00:00Z'), JSON.stringify(config.history));
  });

  it('layers the build made are clamped (earlier times kept), base layers untouched; local and tar outputs set every time', { timeout: 90_000 }, async () => {
    const context = writeContext({ Dockerfile: 'ARG BASE\nFROM ${BASE}\nRUN echo new > /new && echo old > /old && touch -d @100 /old\nCOPY a.txt /a.txt\n', 'a.txt': 'a\n' });
    const root = await env.newRoot();
    const epoch = { SOURCE_DATE_EPOCH: '' };
    commitAt(context, 1600000000);
    const out = join(env.work, 'local-out');
    const tarFile = join(env.work, 'out.tar');
    const built = await build(root, '022', ['--build-arg', `BASE=${env.busybox}`, '-o', `type=local,dest=${out}`, '-o', 'type=image,name=clamp:1', context], epoch);
    assert.equal(built.status, 0, built.stderr);
    const tarBuild = await build(root, '022', ['--build-arg', `BASE=${env.busybox}`, '-o', `type=tar,dest=${tarFile}`, context], epoch);
    assert.equal(tarBuild.status, 0, tarBuild.stderr);
    assert.equal(built.epoch?.seconds, 1600000000);
    const blob = (digest: string): string => join(root, 'content', 'blobs', 'sha256', digest.slice('sha256:'.length));
    const manifest = JSON.parse(readFileSync(blob(built.manifest), 'utf8')) as { layers: { digest: string }[] };
    const times = (file: string): Map<string, number> => new Map(spawnSync('tar', ['-tvf', file, '--full-time', '--numeric-owner'], { encoding: 'utf8' }).stdout.trim().split('\n').map((line) => {
      const parts = line.split(/\s+/u);
      return [parts.slice(5).join(' ').replace(/ -> .*$/u, ''), Date.parse(`${parts[3]}T${parts[4]}Z`) / 1000];
    }));
    const [base, run, copy] = manifest.layers.map((l) => blob(l.digest));
    assert.ok(base !== undefined && run !== undefined && copy !== undefined);
    // The busybox fixture's layer, byte for byte (its own digest, as pushed).
    const pushed = JSON.parse(spawnSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${env.busybox}`], { encoding: 'utf8' }).stdout) as { layers?: { digest: string }[] };
    if (pushed.layers !== undefined) assert.equal(manifest.layers[0]?.digest, pushed.layers[0]?.digest, 'the base layer is untouched');
    const runTimes = times(run);
    assert.equal(runTimes.get('new'), 1600000000, 'a time after the epoch is clamped');
    assert.equal(runTimes.get('old'), 100, 'an earlier time is kept');
    assert.ok([...times(copy).values()].every((t) => t <= 1600000000));
    // local and tar: every time IS the epoch.
    const tarTimes = times(tarFile);
    assert.ok(tarTimes.size > 5 && [...tarTimes.values()].every((t) => t === 1600000000), JSON.stringify([...tarTimes].slice(0, 5)));
    for (const name of ['new', 'old', 'a.txt', 'bin', 'bin/busybox']) assert.equal(Math.floor(lstatSync(join(out, name)).mtimeMs / 1000), 1600000000, name);
  });

  it('a rebuild from the cache has the same image ID, with or without --reproducible=false; a changed step gets new times from there on', { timeout: 120_000 }, async () => {
    for (const flags of [[], ['--reproducible=false']]) {
      const context = writeContext(STEPS);
      const root = await env.newRoot();
      const args = ['--build-arg', `BASE=${env.busybox}`, ...flags, context];
      const first = await build(root, '022', args);
      assert.equal(first.status, 0, first.stderr);
      await new Promise((r) => setTimeout(r, 1100));
      const again = await build(root, '022', args);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(again.config, first.config, `${flags.join(' ')}: a cached rebuild has the same image ID`);
      assert.equal(again.manifest, first.manifest);
      if (flags.length === 0) continue;
      assert.equal(first.epoch, undefined);
      // Change src/: the COPY step and every later one run again, at a later time; the RUN before keeps its time.
      writeFileSync(join(context, 'src', 'a.txt'), 'changed\n');
      const changed = await build(root, '022', args);
      assert.equal(changed.status, 0, changed.stderr);
      const before = configOf(root, first.config).history;
      const now = configOf(root, changed.config).history;
      assert.equal(now.length, before.length);
      const copy = now.findIndex((h) => (h.created_by ?? '').startsWith('COPY src/'));
      assert.ok(copy > 0 && (now[copy - 2]?.created_by ?? '').includes('echo one'), JSON.stringify(now));
      for (let i = 0; i < copy; i++) assert.equal(now[i]?.created, before[i]?.created, `history ${i} (${now[i]?.created_by}) kept its time`);
      for (let i = copy; i < now.length; i++) assert.ok((now[i]?.created ?? '') > (before[i]?.created ?? ''), `history ${i} (${now[i]?.created_by}) has a new time: ${now[i]?.created} vs ${before[i]?.created}`);
      assert.equal(configOf(root, changed.config).created, now.at(-1)?.created, 'the config: the latest history time');
    }
  });

  it('--reproducible=false gives wall-clock times: two builds, two config created times', { timeout: 60_000 }, async () => {
    const context = writeContext(W2);
    const args = ['--build-arg', `BASE=${env.busybox}`, '--reproducible=false', context];
    const rootA = await env.newRoot();
    const a = await build(rootA, '022', args);
    assert.equal(a.status, 0, a.stderr);
    await new Promise((r) => setTimeout(r, 1100));
    const rootB = await env.newRoot();
    const b = await build(rootB, '022', args);
    assert.equal(b.status, 0, b.stderr);
    const createdA = configOf(rootA, a.config).created;
    const createdB = configOf(rootB, b.config).created;
    assert.notEqual(createdA, createdB);
    assert.ok(Date.parse(createdA) > Date.now() - 10 * 60_000, `wall clock: ${createdA}`);
    assert.notEqual(a.manifest, b.manifest);
  });
});
