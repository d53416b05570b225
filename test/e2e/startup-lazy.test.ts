/**
 * Start-up (issue 18): `stagecraft version` and a build whose steps are all cached load none of the
 * heavy or optional packages. A hook records every CommonJS require and every ES module resolution of
 * the built CLI (dist/cli.js); the k8s command, which imports two of them, shows the hook sees both kinds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';
import { MODULE_LOG_HOOK, packagesOf } from '../helpers/module-log.js';

/** Loaded only by the commands that need them (never by version or a plain build). */
const HEAVY = ['@opentelemetry/', 'prom-client', '@secretlint/', '@marcbachmann/cel-js', '@cyclonedx/', 'kubernetes-models', 'playwright', 'yaml'];
/** Native addons and decoders a cached build does not need. */
const UNNEEDED_BY_CACHED_BUILD = ['zstd-napi', '@napi-rs/xattr', 'xz-decompress', 'unbzip2-stream'];


function heavyIn(loaded: ReadonlySet<string>, list: readonly string[]): string[] {
  return [...loaded].filter((name) => list.some((heavy) => (heavy.endsWith('/') ? name.startsWith(heavy) : name === heavy)));
}

describe('start-up loads only what the command needs', () => {
  let work: string;
  let hook: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'stagecraft-startup-'));
    hook = join(work, 'hook.mjs');
    writeFileSync(hook, MODULE_LOG_HOOK);
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  let runs = 0;
  const run = (args: readonly string[], options: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string; loaded: Set<string> } => {
    const log = join(work, `modules-${++runs}.log`);
    writeFileSync(log, '');
    const result = spawnSync(process.execPath, ['--import', hook, CLI_PATH, ...args], {
      encoding: 'utf8',
      cwd: options.cwd,
      env: { ...process.env, STAGECRAFT_TEST_MODULE_LOG: log },
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, loaded: packagesOf(readFileSync(log, 'utf8')) };
  };

  it('the hook sees requires and import()s: k8s job loads kubernetes-models and yaml', () => {
    const k8s = run(['k8s', 'job', '--image', 'registry.example.com/stagecraft:0.1.0', '--context-pvc', 'sources/app', '--', '-t', 'registry.example.com/app:1.0']);
    assert.equal(k8s.status, 0, k8s.stderr);
    assert.deepEqual(heavyIn(k8s.loaded, ['kubernetes-models', 'yaml']).sort(), ['kubernetes-models', 'yaml']);
  });

  it('stagecraft version loads no package at all (everything it runs is in the bundle)', () => {
    const version = run(['version']);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^stagecraft \d/u);
    assert.deepEqual([...version.loaded], []);
  });

  it('stagecraft version is answered by the loader: it prints the same without the bundle', () => {
    const full = spawnSync(process.execPath, [CLI_PATH, 'version'], { encoding: 'utf8', env: { ...process.env, STAGECRAFT_PROFILE: '1' } });
    assert.equal(full.status, 0, full.stderr);
    assert.match(full.stderr, /load: evaluate bundle/u, 'with STAGECRAFT_PROFILE the bundle runs');
    // A copy of the loader with the package's package.json and no bundle beside it.
    const copy = join(work, 'no-bundle');
    mkdirSync(join(copy, 'dist'), { recursive: true });
    writeFileSync(join(copy, 'dist', 'cli.js'), readFileSync(CLI_PATH));
    writeFileSync(join(copy, 'package.json'), readFileSync(join(CLI_PATH, '..', '..', 'package.json')));
    const loaderOnly = spawnSync(process.execPath, [join(copy, 'dist', 'cli.js'), 'version'], { encoding: 'utf8' });
    assert.equal(loaderOnly.status, 0, loaderOnly.stderr);
    assert.equal(loaderOnly.stdout, full.stdout);
    assert.equal(loaderOnly.stdout, `stagecraft ${(JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8')) as { version: string }).version}\nnode ${process.version}\n`);
    // Anything else on the line goes to the bundle (here: missing).
    const other = spawnSync(process.execPath, [join(copy, 'dist', 'cli.js'), '--debug', 'version'], { encoding: 'utf8' });
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /cli-bundle\.cjs/u);
  });

  it('a fully cached build loads better-sqlite3 and none of the heavy packages, native addons or decoders it does not need', () => {
    const dir = join(work, 'context');
    mkdirSync(dir);
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n');
    writeFileSync(join(dir, 'hello.txt'), 'hello\n');
    const root = join(work, 'root');
    const first = run(['--root', root, 'build', '-q', '-t', 'startup:cached', dir]);
    assert.equal(first.status, 0, first.stderr);
    const cached = run(['--root', root, 'build', '--progress=rawjson', '-t', 'startup:cached', dir]);
    assert.equal(cached.status, 0, cached.stderr);
    const completed = cached.stderr.split('\n').filter((line) => line.includes('"build.completed"')).map((line) => JSON.parse(line) as { executed: number; image: { digest: string } });
    assert.equal(completed[0]?.executed, 0, 'every step cached');
    assert.ok(cached.loaded.has('better-sqlite3'), `the build cache is SQLite: ${[...cached.loaded].join(', ')}`);
    assert.deepEqual(heavyIn(cached.loaded, [...HEAVY, ...UNNEEDED_BY_CACHED_BUILD]), []);
  });

  it('the heavy packages are outside the bundle (loaded with import() or require() when used)', () => {
    const meta = JSON.parse(readFileSync(new URL('../../dist/cli-bundle.meta.json', import.meta.url), 'utf8')) as { inputs: Record<string, unknown> };
    const bundled = Object.keys(meta.inputs).filter((path) => path.includes('node_modules/')).map((path) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//u.exec(path)?.[1] ?? path);
    assert.ok(bundled.includes('commander') && bundled.includes('zod'), 'the metafile lists the bundled packages');
    assert.deepEqual(heavyIn(new Set(bundled), [...HEAVY, 'better-sqlite3', ...UNNEEDED_BY_CACHED_BUILD]), []);
  });
});
