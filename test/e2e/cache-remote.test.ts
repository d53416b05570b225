import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushLayout } from '../helpers/base-image.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { freePort } from '../helpers/registry.js';

describe('--cache-to / --cache-from between empty state roots', () => {
  let env: BuildEnv;
  let context: string;
  before(async () => {
    env = await startBuildEnv();
    context = env.exampleContext('hello');
  });
  after(async () => {
    await env.close();
  });

  const executed = (run: ReturnType<BuildEnv['build']>): number => {
    const done = run.events.find((e) => e.type === 'build.completed');
    return done?.type === 'build.completed' ? done.executed : -1;
  };
  const blobs = (root: string): number => readdirSync(join(root, 'content/blobs/sha256')).length;
  const ran = (run: ReturnType<BuildEnv['build']>): boolean => run.events.some((e) => e.type === 'vertex.started' && /RUN echo/.test(e.name));
  const warnings = (run: ReturnType<BuildEnv['build']>): string[] => run.events.flatMap((e) => (e.type === 'build.warning' ? [e.message] : []));
  /** A one-step build on the registry's busybox, in a fresh directory. */
  const tiny = (name: string): string => {
    const dir = join(env.work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.registry.host}/busybox:latest\nRUN echo ${name} > /made\n`);
    return dir;
  };
  const registryJson = async (path: string, accept: string): Promise<unknown> => {
    const response = await fetch(`${env.registry.url}${path}`, { headers: { accept } });
    assert.equal(response.status, 200, path);
    return response.json();
  };

  for (const mode of ['min', 'max'] as const) {
    it(`through a real registry, mode=${mode}: the importing build runs no step`, async () => {
      const ref = `${env.registry.host}/hello-cache:${mode}`;
      const first = await env.newRoot();
      const exporting = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', `type=registry,ref=${ref},mode=${mode}`, context], { root: first });
      assert.equal(exporting.status, 0, exporting.stderr);
      assert.ok(executed(exporting) > 5);
      const second = await env.newRoot();
      const out = join(env.work, `cache-out-${mode}`);
      const importing = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', `type=registry,ref=${ref}`, '-o', `type=local,dest=${out}`, context], { root: second });
      assert.equal(importing.status, 0, importing.stderr);
      assert.equal(executed(importing), 0, 'no step ran');
      assert.ok(!importing.events.some((e) => e.type === 'vertex.started' && /RUN|COPY|WORKDIR/.test(e.name)));
      assert.equal(readFileSync(join(out, 'app/GREETING.txt'), 'utf8'), 'HELLO FROM STAGECRAFT\n');
      if (mode === 'max') assert.ok(blobs(second) < blobs(first), `only the needed layers were pulled (${blobs(second)} < ${blobs(first)} blobs)`);
    });
  }

  it('through a local directory', async () => {
    const dir = join(env.work, 'cache-dir');
    const first = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', `type=local,dest=${dir},mode=max`, context], { root: await env.newRoot() });
    assert.equal(first.status, 0, first.stderr);
    const second = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', `type=local,src=${dir}`, context], { root: await env.newRoot() });
    assert.equal(second.status, 0, second.stderr);
    assert.equal(executed(second), 0);
  });

  it('--cache-to type=inline --push: the records ride in the image config (moby.buildkit.cache.v0, BuildKit\'s format); --cache-from IMAGE on an empty state root runs no step', async () => {
    const ref = `${env.registry.host}/hello-inline:1`;
    const exporting = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', 'type=inline', '--push', '-t', ref, context], { root: await env.newRoot() });
    assert.equal(exporting.status, 0, exporting.stderr);
    assert.ok(executed(exporting) > 5);
    // The tag names the image index (the default provenance); its first entry is the image manifest.
    const index = await registryJson('/v2/hello-inline/manifests/1', 'application/vnd.oci.image.index.v1+json') as { manifests: { digest: string }[] };
    const manifest = await registryJson(`/v2/hello-inline/manifests/${index.manifests[0]?.digest ?? ''}`, 'application/vnd.oci.image.manifest.v1+json') as { config: { digest: string }; layers: unknown[] };
    const config = await registryJson(`/v2/hello-inline/blobs/${manifest.config.digest}`, '*/*') as Record<string, unknown>;
    const value = config['moby.buildkit.cache.v0'];
    assert.equal(typeof value, 'string');
    const records = JSON.parse(Buffer.from(value as string, 'base64').toString('utf8')) as { digest: string; layers?: { layer: number }[]; stagecraft?: { name: string } }[];
    assert.ok(records.length >= 3, `${records.length} records`);
    assert.ok(records.every((r) => /^sha256:[0-9a-f]{64}$/.test(r.digest) && r.stagecraft !== undefined && (r.layers ?? []).every((l) => l.layer < manifest.layers.length)));
    assert.ok(records.some((r) => r.layers?.[0]?.layer === manifest.layers.length - 1), 'the last layer is described');

    const out = join(env.work, 'inline-out');
    const importing = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', ref, '-o', `type=local,dest=${out}`, context], { root: await env.newRoot() });
    assert.equal(importing.status, 0, importing.stderr);
    assert.deepEqual(warnings(importing), []);
    assert.equal(executed(importing), 0, 'no step ran');
    assert.equal(readFileSync(join(out, 'app/GREETING.txt'), 'utf8'), 'HELLO FROM STAGECRAFT\n');
  });

  it('--cache-to type=inline into an OCI archive: unpacked, --cache-from type=local,src=DIR on an empty state root runs no step', async () => {
    const archive = join(env.work, 'inline-oci.tar');
    const exporting = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', 'type=inline', '-o', `type=oci,dest=${archive}`, context], { root: await env.newRoot() });
    assert.equal(exporting.status, 0, exporting.stderr);
    const layout = join(env.work, 'inline-oci');
    mkdirSync(layout, { recursive: true });
    execFileSync('tar', ['-xf', archive, '-C', layout]);
    const importing = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', `type=local,src=${layout}`, context], { root: await env.newRoot() });
    assert.equal(importing.status, 0, importing.stderr);
    assert.deepEqual(warnings(importing), []);
    assert.equal(executed(importing), 0, 'no step ran');
  });

  it('--cache-from an image whose inline cache BuildKit wrote: read and validated, a warning says its keys are BuildKit\'s, the build goes on', async () => {
    // The busybox image with BuildKit's inline cache in its config, as BuildKit writes it for
    // FROM + RUN + COPY (cache/remotecache/v1 records, base64 in the config; digests made up).
    const layout = join(env.work, 'bk-layout');
    cpSync(join(env.work, 'busybox-layout'), layout, { recursive: true });
    const blob = (data: Buffer): { digest: string; size: number } => {
      const hex = createHash('sha256').update(data).digest('hex');
      writeFileSync(join(layout, 'blobs/sha256', hex), data);
      return { digest: `sha256:${hex}`, size: data.length };
    };
    const read = (digest: string): Record<string, unknown> => JSON.parse(readFileSync(join(layout, 'blobs/sha256', digest.slice(7)), 'utf8')) as Record<string, unknown>;
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
    const manifest = read(index.manifests[0]?.digest ?? '') as { config: { digest: string; size: number } };
    const d = (s: string): string => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    const buildkit = [
      { layers: [{ layer: 0, createdAt: '2024-01-02T03:04:05Z' }], digest: d('docker-image source') },
      { digest: d('llb exec op'), inputs: [[{ selector: '', link: 0 }]] },
      { digest: d('local source') },
      { layers: [{ layer: 0, createdAt: '2024-01-02T03:04:07Z' }], digest: d('llb file op'), inputs: [[{ link: 1 }], [{ selector: d('checksum'), link: 2 }]] },
    ];
    const config = blob(Buffer.from(JSON.stringify({ ...read(manifest.config.digest), 'moby.buildkit.cache.v0': Buffer.from(JSON.stringify(buildkit)).toString('base64') })));
    const newManifest = blob(Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, ...config } })));
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ ...index, manifests: [{ ...index.manifests[0], ...newManifest }] }));
    pushLayout({ layout, manifestDigest: newManifest.digest, configDigest: config.digest, layerDigest: '', diffId: '' }, `${env.registry.host}/bk-inline:1`);

    const run = env.build(['--cache-from', `${env.registry.host}/bk-inline:1`, tiny('bk')], { root: await env.newRoot() });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(ran(run), 'the RUN step ran');
    const said = warnings(run);
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0] ?? '', /importing cache manifest from .*bk-inline:1: its inline cache holds 4 BuildKit cache records, keyed by digests of BuildKit's LLB.*not used/);
  });

  it('a --cache-from that does not exist is a warning (BuildKit\'s "failed to configure registry cache importer"), and the build goes on', async () => {
    const run = env.build(['--progress=plain', '--cache-from', `${env.registry.host}/no-such-cache:x`, tiny('missing')], { root: await env.newRoot() });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /WARNING: importing cache manifest from .*no-such-cache:x: failed to configure registry cache importer: .*404/);
  });

  it('a --cache-from registry that cannot be reached is a warning, and the build goes on', async () => {
    const ref = `127.0.0.1:${await freePort()}/cache:x`;
    const run = env.build(['--cache-from', `type=registry,ref=${ref}`, tiny('unreachable')], { root: await env.newRoot() });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(ran(run), 'the RUN step ran');
    assert.match(warnings(run).join('\n'), new RegExp(`importing cache manifest from ${ref}: failed to configure registry cache importer: .*ECONNREFUSED`));
  });

  it('a --cache-from that is not a cache (an image without an inline cache) is a warning, and the build goes on', async () => {
    const run = env.build(['--cache-from', env.busybox, tiny('notcache')], { root: await env.newRoot() });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(ran(run), 'the RUN step ran');
    assert.match(warnings(run).join('\n'), /importing cache manifest from .*busybox:latest: not a build cache/);
  });

  it('--cache-to ignore-error=true: an export to an unreachable registry is a warning (exit 0); without it the build fails', async () => {
    const ref = `127.0.0.1:${await freePort()}/cache:x`;
    const ignored = env.build(['--cache-to', `type=registry,ref=${ref},ignore-error=true`, tiny('ignore')], { root: await env.newRoot() });
    assert.equal(ignored.status, 0, ignored.stderr);
    assert.match(warnings(ignored).join('\n'), new RegExp(`failed to export cache to ${ref} \\(ignore-error=true\\): .*ECONNREFUSED`));
    const failed = env.build(['--cache-to', `type=registry,ref=${ref}`, tiny('noignore')], { root: await env.newRoot() });
    assert.equal(failed.status, 7, failed.stderr);
    assert.match(failed.stderr, /ECONNREFUSED/);
  });

  it('rejects malformed cache specs before building', () => {
    const run = env.build(['--cache-to', 'type=registry', context]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /type=registry needs ref=/);
    assert.equal(env.build(['--cache-to', 'type=s3,bucket=x', context]).status, 2);
    assert.equal(env.build(['--cache-to', 'type=inline,ignore-error=maybe', context]).status, 2);
  });
});
