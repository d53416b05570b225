/** The store commands of the built binary against a temp state root and a real registry. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const CREDS = { username: 'e2e', password: 'e2e-pass' };

const summarySchema = z.array(z.object({ name: z.string(), familiarName: z.string(), digest: z.string(), id: z.string(), platform: z.string(), size: z.number() }));
const inspectSchema = z.object({
  name: z.string(),
  digest: z.string(),
  config: z.object({ digest: z.string(), size: z.number() }),
  layers: z.array(z.object({ digest: z.string(), size: z.number(), diffId: z.string() })),
});

describe('stagecraft pull/push/images/inspect/tag/rmi/save/load', () => {
  let work: string;
  let image: LayoutImage;
  let open: TestRegistry;
  let secured: TestRegistry;
  let env: NodeJS.ProcessEnv;

  function cli(args: readonly string[], input?: string): CliRun {
    return runCli(args, { env, ...(input === undefined ? {} : { input }) });
  }

  function ok(args: readonly string[]): CliRun {
    const run = cli(args);
    assert.equal(run.status, 0, `stagecraft ${args.join(' ')}\n${run.stderr}`);
    return run;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-e2e-images-'));
    image = await makeBusyboxImage(work);
    [open, secured] = await Promise.all([startRegistry(), startRegistry({ auth: CREDS })]);
    pushLayout(image, `${open.host}/library/busybox:1.36`);
    const dockerConfig = join(work, 'docker');
    await mkdir(dockerConfig);
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [secured.host]: { auth: Buffer.from(`${CREDS.username}:${CREDS.password}`).toString('base64') } } }));
    env = { ...process.env, STAGECRAFT_ROOT: join(work, 'root'), DOCKER_CONFIG: dockerConfig, HOME: work };
  });
  after(async () => {
    await Promise.all([open.stop(), secured.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('pulls, lists and inspects', { timeout: 60_000 }, () => {
    const pull = ok(['pull', `${open.host}/library/busybox:1.36`]);
    assert.match(pull.stdout, new RegExp(`${image.manifestDigest}`));
    assert.match(pull.stderr, /layer done/);
    const table = ok(['images']);
    assert.match(table.stdout, /^REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    assert.match(table.stdout, new RegExp(`${open.host}/library/busybox\\s+1\\.36\\s+${image.manifestDigest.slice(7, 19)}\\s+${image.configDigest.slice(7, 19)}`));
    const list = summarySchema.parse(JSON.parse(ok(['images', '--json']).stdout));
    assert.deepEqual(list.map((i) => i.name), [`${open.host}/library/busybox:1.36`]);
    assert.equal(list[0]?.id, image.configDigest);
    const info = inspectSchema.parse(JSON.parse(ok(['inspect', '--json', `${open.host}/library/busybox:1.36`]).stdout));
    assert.equal(info.digest, image.manifestDigest);
    assert.equal(info.config.digest, image.configDigest);
    assert.deepEqual(info.layers.map((l) => [l.digest, l.diffId]), [[image.layerDigest, image.diffId]]);
    const text = ok(['inspect', `${open.host}/library/busybox:1.36`]).stdout;
    assert.match(text, new RegExp(`Digest:\\s+${image.manifestDigest}`));
    assert.match(text, new RegExp(image.layerDigest));
  });

  it('--root wins over STAGECRAFT_ROOT', { timeout: 30_000 }, async () => {
    const other = join(work, 'other-root');
    const run = ok(['--root', other, 'images', '--json']);
    assert.deepEqual(JSON.parse(run.stdout), []);
    assert.ok((await readdir(other)).includes('metadata.db'));
  });

  it('tags and pushes to a registry with basic auth (docker config credentials)', { timeout: 60_000 }, () => {
    ok(['tag', `${open.host}/library/busybox:1.36`, `${secured.host}/team/box:v1`]);
    const push = ok(['push', `${secured.host}/team/box:v1`]);
    assert.match(push.stdout, new RegExp(`digest: ${image.manifestDigest}`));
    const remote = z.object({ Digest: z.string() }).parse(JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--creds', `${CREDS.username}:${CREDS.password}`, `docker://${secured.host}/team/box:v1`], { encoding: 'utf8' })));
    assert.equal(remote.Digest, image.manifestDigest);
    const denied = runCli(['push', `${secured.host}/team/box:v1`], { env: { ...env, DOCKER_CONFIG: join(work, 'no-docker-config') } });
    assert.equal(denied.status, 7, denied.stderr);
    assert.match(denied.stderr, /^error: .*requires authentication/m);
  });

  it('saves docker and OCI archives that skopeo reads, and loads them into a fresh root', { timeout: 60_000 }, () => {
    const dockerTar = join(work, 'busybox-docker.tar');
    const ociTar = join(work, 'busybox-oci.tar');
    ok(['save', '-o', dockerTar, `${secured.host}/team/box:v1`]);
    ok(['save', '--format', 'oci', '-o', ociTar, `${secured.host}/team/box:v1`]);
    const fromDocker = z.object({ Layers: z.array(z.string()) }).parse(JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${dockerTar}`], { encoding: 'utf8' })));
    assert.deepEqual(fromDocker.Layers, [image.diffId]);
    const fromOci = z.object({ Digest: z.string() }).parse(JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${ociTar}:${secured.host}/team/box:v1`], { encoding: 'utf8' })));
    assert.equal(fromOci.Digest, image.manifestDigest);

    const fresh = { ...env, STAGECRAFT_ROOT: join(work, 'fresh-root') };
    const loadDocker = runCli(['load', '-i', dockerTar], { env: fresh });
    assert.equal(loadDocker.status, 0, loadDocker.stderr);
    assert.equal(loadDocker.stdout, `Loaded image: ${secured.host}/team/box:v1\n`);
    const loadOci = runCli(['load', '-i', ociTar], { env: fresh });
    assert.equal(loadOci.status, 0, loadOci.stderr);
    const list = summarySchema.parse(JSON.parse(runCli(['images', '--json'], { env: fresh }).stdout));
    assert.deepEqual(list.map((i) => [i.name, i.digest]), [[`${secured.host}/team/box:v1`, image.manifestDigest]]);
  });

  it('removes names with rmi and reports missing images with exit status 6', { timeout: 30_000 }, () => {
    const rmi = ok(['rmi', `${secured.host}/team/box:v1`]);
    assert.equal(rmi.stdout, `Untagged: ${secured.host}/team/box:v1\n`);
    const missing = cli(['inspect', `${secured.host}/team/box:v1`]);
    assert.equal(missing.status, 6);
    assert.match(missing.stderr, /no image/);
    const badRef = cli(['pull', 'UPPER/Case']);
    assert.equal(badRef.status, 2);
    assert.match(badRef.stderr, /must be lowercase/);
    const badFormat = cli(['save', '--format', 'zip', '-o', join(work, 'x.tar'), `${open.host}/library/busybox:1.36`]);
    assert.equal(badFormat.status, 2);
  });
});
