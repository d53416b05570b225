/**
 * Image digests before and after lazy layers (issue 18): the workload shapes w1..w6 and the
 * deterministic conformance cases, built with a fixed SOURCE_DATE_EPOCH from the busybox fixture
 * (itself deterministic: sorted tar, times 0, gzip -n), must give the manifest digests recorded in
 * test/fixtures/layer-digests.json, which were produced by the builder before layers were made
 * lazily (main at 4538c7e). Also from a warm root: the final image rebuilt from the cache, an
 * intermediate stage (`--target`) whose steps ran for another image's sake, and an OCI archive.
 *
 * The recorded digests depend on the host's /bin/busybox (the fixture's only binary): the file
 * records the fixture layer's diffID, and a different one fails with a note saying so. To re-record
 * (only with a builder known to be correct, e.g. main): LAYER_DIGESTS_UPDATE=1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RawJsonLine } from '../../src/events/index.js';
import { CLI_PATH } from '../helpers/cli.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CONFORMANCE, W1, W2, W3, W4, W5, W6, type Files } from '../helpers/workload-shapes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const casesDir = join(repo, 'test', 'conformance', 'cases');
const GOLDEN = join(repo, 'test', 'fixtures', 'layer-digests.json');
const UPDATE = process.env.LAYER_DIGESTS_UPDATE === '1';
const EPOCH = '1700000000';

interface Golden {
  fixtureDiffId: string;
  digests: Record<string, string>;
}

let env: BuildEnv;
let golden: Golden;
const seen: Record<string, string> = {};

function writeContext(name: string, files: Files): string {
  const dir = join(env.work, 'ctx', name);
  for (const [file, text] of Object.entries(files)) {
    const path = join(dir, file);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    chmodSync(path, file.endsWith('.sh') ? 0o755 : 0o644);
  }
  return dir;
}

async function build(root: string, args: readonly string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'build', '--progress=rawjson', '--provenance=false', '--build-arg', `BASE=${env.busybox}`, ...args], {
    env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
  const status = await new Promise<number | null>((done, fail) => {
    child.on('error', fail);
    child.on('close', done);
  });
  const stderr = Buffer.concat(chunks).toString('utf8');
  assert.equal(status, 0, stderr.slice(-3000));
  const done = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l))).find((e) => e.type === 'build.completed');
  const digest = done?.type === 'build.completed' ? done.image?.digest : undefined;
  assert.ok(digest !== undefined, stderr.slice(-3000));
  return digest;
}

/** Checks (or, when re-recording, records) one digest. */
function check(name: string, digest: string): void {
  const before = seen[name];
  if (before !== undefined) assert.equal(digest, before, `${name}: built twice, two digests`);
  seen[name] = digest;
  if (UPDATE) return;
  assert.equal(digest, golden.digests[name], `${name}: the image digest changed (recorded ${golden.digests[name] ?? 'nothing'})`);
}

const sha256File = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

const SHAPES = [['w1', W1, []], ['w2', W2, []], ['w3', W3, []], ['w4', W4, []], ['w5', W5, []], ['w6', W6, ['--secret']]] as const;

describe('image digests stay as they were before lazy layers', () => {
  before(async () => {
    env = await startBuildEnv();
    golden = UPDATE ? { fixtureDiffId: '', digests: {} } : JSON.parse(readFileSync(GOLDEN, 'utf8')) as Golden;
    const fixture = JSON.parse(readFileSync(join(env.work, 'busybox-layout', 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(readFileSync(join(env.work, 'busybox-layout', 'blobs', 'sha256', (fixture.manifests[0]?.digest ?? '').slice(7)), 'utf8')) as { config: { digest: string } };
    const config = JSON.parse(readFileSync(join(env.work, 'busybox-layout', 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    const diffId = config.rootfs.diff_ids[0] ?? '';
    if (UPDATE) golden.fixtureDiffId = diffId;
    else assert.equal(diffId, golden.fixtureDiffId, `the busybox fixture differs from the one the digests were recorded with (host /bin/busybox changed?): re-record ${GOLDEN} with a known-good builder (LAYER_DIGESTS_UPDATE=1)`);
  });
  after(async () => {
    if (UPDATE) writeFileSync(GOLDEN, `${JSON.stringify({ ...golden, digests: Object.fromEntries(Object.entries(seen).sort(([a], [b]) => a.localeCompare(b))) }, null, 2)}\n`);
    await env.close();
  });

  it('w1..w6 shapes: cold, warm, an intermediate target from the warm root, an OCI archive', { timeout: 240_000 }, async () => {
    const secret = join(env.work, 'api_token');
    writeFileSync(secret, 'x'.repeat(40));
    for (let i = 0; i < SHAPES.length; i += 2) {
      await Promise.all(SHAPES.slice(i, i + 2).map(async ([name, files, flags]) => {
        const context = writeContext(name, files);
        const extra = flags.length === 0 ? [] : ['--secret', `id=api_token,src=${secret}`];
        const root = await env.newRoot();
        check(`${name}`, await build(root, [...extra, context]));
        check(`${name}`, await build(root, [...extra, context]));
      }));
    }
    // Steps that ran for the final image only (never exported) are exported now from the same root.
    const w1 = join(env.work, 'ctx', 'w1');
    const root = await env.newRoot();
    check('w1', await build(root, [w1]));
    check('w1 --target test', await build(root, ['--target', 'test', w1]));
    check('w1 --target build', await build(root, ['--target', 'build', w1]));
    const w4 = join(env.work, 'ctx', 'w4');
    const root4 = await env.newRoot();
    check('w4', await build(root4, [w4]));
    const archive = join(env.work, 'w4-oci.tar');
    await build(root4, ['--target', 'gen', '-o', `type=oci,dest=${archive}`, w4]);
    check('w4 --target gen oci archive', sha256File(archive));
    check('w4 --target gen', await build(root4, ['--target', 'gen', w4]));
  });

  it('the deterministic conformance cases', { timeout: 240_000 }, async () => {
    for (let i = 0; i < CONFORMANCE.length; i += 2) {
      await Promise.all(CONFORMANCE.slice(i, i + 2).map(async (name) => {
        const context = join(env.work, 'conformance', name);
        cpSync(join(casesDir, name), context, { recursive: true, verbatimSymlinks: true });
        check(`conformance ${name}`, await build(await env.newRoot(), [context]));
      }));
    }
  });

  it('every recorded digest was checked', () => {
    if (UPDATE) return;
    assert.deepEqual(Object.keys(seen).sort(), Object.keys(golden.digests).sort());
    assert.ok(existsSync(GOLDEN) && readdirSync(casesDir).length > 0);
  });
});
