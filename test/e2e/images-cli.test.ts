/** The store commands of the built binary against a temp state root and a real registry. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { formatBytes } from '../../src/cli/commands/store-context.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeBusyboxImage, pushLayout, type LayoutImage } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const CREDS = { username: 'e2e', password: 'e2e-pass' };

const summarySchema = z.array(z.object({ name: z.string(), familiarName: z.string(), digest: z.string(), id: z.string(), platform: z.string(), size: z.number(), storedSize: z.number(), created: z.string().optional() }));
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
    // SIZE is the unpacked size (the layer's tar, not its gzip blob) and CREATED the config's age, as docker.
    const unpacked = gunzipSync(readFileSync(join(image.layout, 'blobs/sha256', image.layerDigest.slice(7)))).length;
    const years = Math.floor((Date.now() - Date.parse('1970-01-01T00:00:00Z')) / (365 * 24 * 3_600_000));
    const table = ok(['images']);
    assert.match(table.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+PLATFORM\s+CREATED\s+SIZE\n/);
    assert.match(table.stdout, new RegExp(`${open.host}/library/busybox\\s+1\\.36\\s+${image.configDigest.slice(7, 19)}\\s+linux/amd64\\s+${years} years ago\\s+${formatBytes(unpacked).replace('.', '\\.')}\\n`));
    const digests = ok(['images', '--digests', '--no-trunc']).stdout;
    assert.match(digests, /^REPOSITORY\s+TAG\s+MANIFEST DIGEST\s+IMAGE ID\s+PLATFORM/);
    assert.match(digests, new RegExp(`1\\.36\\s+${image.manifestDigest}\\s+${image.configDigest}\\s`));
    assert.equal(ok(['images', '-q']).stdout, `${image.configDigest.slice(7, 19)}\n`);
    const list = summarySchema.parse(JSON.parse(ok(['images', '--json']).stdout));
    assert.deepEqual(list.map((i) => i.name), [`${open.host}/library/busybox:1.36`]);
    assert.equal(list[0]?.id, image.configDigest);
    assert.equal(list[0]?.size, unpacked);
    assert.ok((list[0]?.storedSize ?? 0) < unpacked, 'the stored size counts the gzip blob');
    assert.equal(list[0]?.created, '1970-01-01T00:00:00Z');
    const info = inspectSchema.parse(JSON.parse(ok(['inspect', '--json', `${open.host}/library/busybox:1.36`]).stdout));
    assert.equal(info.digest, image.manifestDigest);
    assert.equal(info.config.digest, image.configDigest);
    assert.deepEqual(info.layers.map((l) => [l.digest, l.diffId]), [[image.layerDigest, image.diffId]]);
    const text = ok(['inspect', `${open.host}/library/busybox:1.36`]).stdout;
    assert.match(text, new RegExp(`^Image ID:\\s+${image.configDigest}$`, 'm'));
    assert.match(text, new RegExp(`^Manifest digest:\\s+${image.manifestDigest}$`, 'm'));
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

  it('loads an unnamed archive and reports its image ID (the config digest), as docker load', { timeout: 60_000 }, async () => {
    const layout = join(work, 'unnamed-layout');
    execFileSync('cp', ['-a', image.layout, layout]);
    const index = z.object({ manifests: z.array(z.record(z.string(), z.unknown())) }).passthrough().parse(JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')));
    await writeFile(join(layout, 'index.json'), JSON.stringify({ ...index, manifests: index.manifests.map(({ annotations: _dropped, ...rest }) => rest) }));
    const archive = join(work, 'unnamed.tar');
    execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
    const load = runCli(['load', '-i', archive], { env: { ...env, STAGECRAFT_ROOT: join(work, 'unnamed-root') } });
    assert.equal(load.status, 0, load.stderr);
    assert.equal(load.stdout, `Loaded image ID: ${image.configDigest}\n`);
  });

  it('builds an image whose summary, -q, --iidfile, images and inspect agree on its image ID, and lists its history', { timeout: 180_000 }, async () => {
    const context = join(work, 'history-context');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'Dockerfile'), [
      `FROM ${open.host}/library/busybox:1.36`,
      'ENV GREETING=hello',
      'RUN echo "$GREETING from a RUN step" > /greeting',
      'COPY data.txt /data.txt',
      '',
    ].join('\n'));
    await writeFile(join(context, 'data.txt'), 'x'.repeat(5000));
    const iidfile = join(work, 'history.iid');
    const built = ok(['build', '--progress=plain', '-t', 'hist:1', '--iidfile', iidfile, context]);
    const iid = readFileSync(iidfile, 'utf8');
    assert.match(iid, /^sha256:[a-f0-9]{64}$/);
    const list = summarySchema.parse(JSON.parse(ok(['images', '--json']).stdout));
    const entry = list.find((i) => i.name === 'docker.io/library/hist:1');
    assert.ok(entry !== undefined);
    assert.equal(entry.id, iid, 'images: IMAGE ID is the --iidfile ID');
    assert.match(built.stderr, new RegExp(`^built image ${iid} in \\d+\\.\\ds: `, 'm'), 'the summary names the image ID');
    assert.match(built.stderr, new RegExp(`^  manifest digest ${entry.digest}$`, 'm'), 'and labels the manifest digest');
    assert.notEqual(entry.digest, iid);
    // Built again (from the cache: the same image ID), -q prints the ID that --iidfile and images show.
    const iidfile2 = join(work, 'history-2.iid');
    const quiet = ok(['build', '-q', '-t', 'hist:1', '--iidfile', iidfile2, context]);
    const iid2 = readFileSync(iidfile2, 'utf8');
    assert.equal(quiet.stdout, `${iid2}\n`, '-q prints the --iidfile image ID');
    assert.equal(summarySchema.parse(JSON.parse(ok(['images', '--json']).stdout)).find((i) => i.name === 'docker.io/library/hist:1')?.id, iid2);
    assert.match(ok(['images']).stdout, new RegExp(`^hist\\s+1\\s+${iid2.slice(7, 19)}\\s`, 'm'));
    assert.match(ok(['inspect', 'hist:1']).stdout, new RegExp(`^Image ID:\\s+${iid2}$`, 'm'));
    assert.equal(z.object({ id: z.string() }).passthrough().parse(JSON.parse(ok(['inspect', '--json', iid2.slice(7, 19)]).stdout)).id, iid2, 'the short image ID finds it');

    const historySchema = z.array(z.object({ id: z.string().optional(), created: z.string().optional(), createdBy: z.string(), comment: z.string(), emptyLayer: z.boolean(), diffId: z.string().optional(), size: z.number() }));
    const history = historySchema.parse(JSON.parse(ok(['image', 'history', '--json', 'hist:1']).stdout));
    const layers = inspectSchema.parse(JSON.parse(ok(['inspect', '--json', 'hist:1']).stdout)).layers;
    assert.deepEqual(history.map((h) => [/COPY/.test(h.createdBy), /RUN .*from a RUN step/.test(h.createdBy), /ENV GREETING=hello/.test(h.createdBy), h.createdBy === 'stagecraft test fixture']),
      [[true, false, false, false], [false, true, false, false], [false, false, true, false], [false, false, false, true]], history.map((h) => h.createdBy).join('\n'));
    assert.deepEqual(history.map((h) => h.emptyLayer), [false, false, true, false]);
    assert.deepEqual(history.map((h) => h.diffId), [layers[2]?.diffId, layers[1]?.diffId, undefined, image.diffId]);
    // Sizes are the layers' unpacked tars: the local layers are plain tar blobs, the base layer's is its gunzipped blob.
    const baseTar = gunzipSync(readFileSync(join(image.layout, 'blobs/sha256', image.layerDigest.slice(7)))).length;
    assert.deepEqual(history.map((h) => h.size), [layers[2]?.size, layers[1]?.size, 0, baseTar]);
    assert.ok((history[0]?.size ?? 0) > 5000, 'the COPY layer holds data.txt');
    assert.deepEqual(history.map((h) => h.id), [iid2, undefined, undefined, undefined]);

    const text = ok(['image', 'history', 'hist:1']).stdout.split('\n');
    assert.match(text[0] ?? '', /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    // Reproducible by default: the steps' time is the epoch, here the base image's created time (1970).
    assert.match(text[1] ?? '', new RegExp(`^${iid2.slice(7, 19)}\\s+\\d+ years ago\\s+COPY.*\\s${formatBytes(history[0]?.size ?? 0).replace('.', '\\.')}`));
    assert.match(text[3] ?? '', /^<missing>\s+.* ago\s+ENV GREETING=hello\s+0B/);
    assert.match(text[4] ?? '', /^<missing>\s+\d+ years ago\s+stagecraft test fixture\s/);
    for (const line of text.slice(1, -1)) {
      const createdBy = line.split(/\s{3,}/)[2] ?? '';
      assert.ok(createdBy.length <= 45, `CREATED BY is cut to 45 characters: ${line}`);
    }
    const full = ok(['image', 'history', '--no-trunc', 'hist:1']).stdout;
    assert.match(full, new RegExp(`^${iid2}\\s`, 'm'));
    assert.match(full, /RUN .*echo "\$GREETING from a RUN step" > \/greeting/);
    assert.equal(ok(['image', 'history', '-q', 'hist:1']).stdout, `${iid2.slice(7, 19)}\n<missing>\n<missing>\n<missing>\n`);
    assert.equal(cli(['image', 'history', 'nothing:here']).status, 6);
    // The old spelling still works (`stagecraft history` is the build history now), with a note.
    assert.equal(ok(['history', '-q', 'hist:1']).stdout, `${iid2.slice(7, 19)}\n<missing>\n<missing>\n<missing>\n`);
  });

  it('inspects refs that are not in the store from their registry: a manifest, an index with platforms, --raw bytes', { timeout: 60_000 }, async () => {
    pushLayout(image, `${open.host}/remote/only:1`);
    const manifestText = ok(['inspect', `${open.host}/remote/only:1`]).stdout;
    assert.match(manifestText, new RegExp(`^Name:\\s+${open.host}/remote/only:1$`, 'm'));
    assert.match(manifestText, new RegExp(`^Manifest digest:\\s+${image.manifestDigest}$`, 'm'));
    assert.match(manifestText, new RegExp(`^Image ID:\\s+${image.configDigest}$`, 'm'));
    assert.match(manifestText, new RegExp(image.layerDigest));
    assert.deepEqual(summarySchema.parse(JSON.parse(ok(['images', '--json']).stdout)).filter((i) => i.name.includes('remote/only')), [], 'inspect pulls nothing');
    // An index of two platforms, put straight into the registry (its exact bytes are what --raw must print).
    const manifestSize = readFileSync(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7))).length;
    const indexBytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, size: manifestSize, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      ],
    }, null, 3));
    const put = await fetch(`${open.url}/v2/remote/only/manifests/multi`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: indexBytes });
    assert.equal(put.status, 201, await put.text());
    const indexDigest = `sha256:${createHash('sha256').update(indexBytes).digest('hex')}`;
    const indexText = ok(['inspect', `${open.host}/remote/only:multi`]).stdout;
    assert.match(indexText, /^Media type:\s+application\/vnd\.oci\.image\.index\.v1\+json$/m);
    assert.match(indexText, new RegExp(`^Index digest:\\s+${indexDigest}$`, 'm'));
    assert.match(indexText, new RegExp(`Name:\\s+${open.host}/remote/only@${image.manifestDigest}\\n\\s+Media type:\\s+application/vnd\\.oci\\.image\\.manifest\\.v1\\+json\\n\\s+Platform:\\s+linux/amd64\\n`));
    assert.match(indexText, /Platform:\s+linux\/arm\/v7\n/);
    const json = z.object({ source: z.literal('registry'), digest: z.string(), manifests: z.array(z.object({ platform: z.string() })) }).passthrough()
      .parse(JSON.parse(ok(['inspect', '--json', `${open.host}/remote/only:multi`]).stdout));
    assert.equal(json.digest, indexDigest);
    assert.deepEqual(json.manifests.map((m) => m.platform), ['linux/amd64', 'linux/arm/v7']);
    const raw = runCli(['inspect', '--raw', `${open.host}/remote/only:multi`], { env });
    assert.equal(raw.status, 0, raw.stderr);
    assert.equal(raw.stdout, indexBytes.toString('utf8'), '--raw prints the bytes the registry serves');
    assert.equal(ok(['inspect', '--raw', `${open.host}/library/busybox:1.36`]).stdout, readFileSync(join(image.layout, 'blobs/sha256', image.manifestDigest.slice(7)), 'utf8'), 'and a local image\'s stored manifest');
  });

  it('removes names with rmi and reports missing images with exit status 6', { timeout: 30_000 }, () => {
    const rmi = ok(['rmi', `${secured.host}/team/box:v1`]);
    assert.equal(rmi.stdout, `Untagged: ${secured.host}/team/box:v1\n`);
    // No longer local: inspect reads it from its registry.
    assert.match(ok(['inspect', `${secured.host}/team/box:v1`]).stdout, new RegExp(`^Manifest digest:\\s+${image.manifestDigest}$`, 'm'));
    const missing = cli(['inspect', `${open.host}/no/such:1`]);
    assert.equal(missing.status, 6, missing.stderr);
    assert.match(missing.stderr, /no image .* in the local store, and its registry/);
    assert.equal(cli(['inspect', 'sha256:0123456789ab']).status, 6);
    const badRef = cli(['pull', 'UPPER/Case']);
    assert.equal(badRef.status, 2);
    assert.match(badRef.stderr, /must be lowercase/);
    const badFormat = cli(['save', '--format', 'zip', '-o', join(work, 'x.tar'), `${open.host}/library/busybox:1.36`]);
    assert.equal(badFormat.status, 2);
  });
});
