/**
 * Rootless builds (issue 21): unprivileged users created for the test build, with no sudo, as
 * `runuser -u USER -- node dist/cli.js build …`. One user has /etc/subuid and /etc/subgid ranges
 * (useradd allocates them): it builds the benchmark workloads w1, w5 and w6 with its state root under
 * $XDG_DATA_HOME, on kernel overlayfs inside its user namespace, and an image whose base has a file
 * owned by 1000:1000 and whose RUN does `chown 123:456`: both owners are in the output layers, which
 * are the same bytes a root build makes. A system user without ranges builds w5 with the single-id
 * map, and is refused an image with files of other owners with a message naming the fix. Without
 * newuidmap on PATH a user with ranges is told to install uidmap. Bases come from a registry on
 * 127.0.0.1 started here; the users are removed (userdel -r) on every path.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeBusyboxImage, makeBusyboxRootfs, pushLayout, writeLayoutImage } from '../helpers/base-image.js';
import { CLI_PATH } from '../helpers/cli.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shared = process.env.STAGECRAFT_SHARED ?? resolve(repo, '..', 'shared');
const bench = join(shared, 'bench');
const basesWork = process.env.BASE_WORK ?? '/var/tmp/stagecraft-bases';
const gccLayout = join(basesWork, 'layout-debian-gcc_bookworm');
// w5 first: it is the quickest, and the two gcc builds share the unpacked base.
const WORKLOADS = ['w5-many-steps', 'w6-secrets-and-cache-mounts', 'w1-c-app'] as const;
/** A build on a loaded 2-core machine: w1 compiles 160 files after unpacking a 327 MB base. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

function has(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
}

const why = process.getuid?.() !== 0
  ? 'needs root (it creates users)'
  : !['runuser', 'useradd', 'userdel', 'newuidmap', 'newgidmap', 'unshare', 'runc', 'skopeo', 'docker-registry'].every(has)
    ? 'needs runuser, useradd, newuidmap/newgidmap (uidmap), unshare, runc, skopeo and docker-registry'
    : !existsSync(join(bench, 'w1-c-app', 'gen.sh'))
      ? `no ${bench} (set STAGECRAFT_SHARED)`
      : undefined;

interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function newUser(name: string, system: boolean): TestUser {
  execFileSync('useradd', [...(system ? ['--system'] : []), '--create-home', '--home-dir', `/home/${name}`, '--shell', '/bin/sh', name]);
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g'), home: `/home/${name}` };
}

/** Runs `args` as the user (no sudo: runuser drops every privilege), with its own HOME and XDG_DATA_HOME. */
function asUser(user: TestUser, args: readonly string[], options: { readonly path?: string; readonly cwd?: string } = {}): Run {
  const env = [`HOME=${user.home}`, `XDG_DATA_HOME=${user.home}/data`, `PATH=${options.path ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'}`, 'LANG=C.UTF-8'];
  const result = spawnSync('runuser', ['-u', user.name, '--', 'env', '-i', ...env, ...args], { encoding: 'utf8', cwd: options.cwd ?? user.home, maxBuffer: 64 << 20, timeout: BUILD_TIMEOUT_MS });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function stagecraft(user: TestUser, args: readonly string[], path?: string): Run {
  return asUser(user, [process.execPath, CLI_PATH, ...args], path === undefined ? {} : { path });
}

function tail(run: Run): string {
  return `status ${run.status}\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-4000)}`;
}

/** Every layer of an OCI archive (its first manifest), as `tar -tv --numeric-owner` lines. */
async function layerListings(archive: string, dir: string): Promise<{ digests: string[]; listings: string[][] }> {
  await mkdir(dir, { recursive: true });
  execFileSync('tar', ['-xf', archive, '-C', dir]);
  const blob = (digest: string): string => join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; mediaType: string }[] };
  let manifest = JSON.parse(await readFile(blob(index.manifests[0]?.digest ?? ''), 'utf8')) as { manifests?: { digest: string; platform?: unknown }[]; layers?: { digest: string }[] };
  if (manifest.manifests !== undefined) {
    const image = manifest.manifests.find((m) => m.platform !== undefined) ?? manifest.manifests[0];
    manifest = JSON.parse(await readFile(blob(image?.digest ?? ''), 'utf8')) as typeof manifest;
  }
  const digests = (manifest.layers ?? []).map((l) => l.digest);
  const listings = digests.map((d) => execFileSync('tar', ['--numeric-owner', '-tvf', blob(d)], { encoding: 'utf8', maxBuffer: 256 << 20 }).split('\n'));
  return { digests, listings };
}

function ownerOf(listing: readonly string[], path: string): string | undefined {
  const line = listing.find((l) => l.endsWith(` ${path}`) || l.endsWith(` ./${path}`));
  return line?.split(/\s+/)[1];
}

describe('rootless builds by an unprivileged user', { skip: why ?? false }, () => {
  const tag = randomBytes(3).toString('hex');
  const users: TestUser[] = [];
  let ranged: TestUser;
  let single: TestUser;
  let registry: TestRegistry;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-rootless-'));
    await chmod(work, 0o755);
    registry = await startRegistry();
    // Bases: busybox, busybox with a file of uid/gid 1000, and the bench's Debian+gcc layout (made by
    // bench/bases.sh once per machine; it is only copied here).
    pushLayout(await makeBusyboxImage(work), `${registry.host}/busybox:latest`);
    const owned = join(work, 'owned-rootfs');
    await makeBusyboxRootfs(owned);
    await mkdir(join(owned, 'home', 'app'), { recursive: true });
    await writeFile(join(owned, 'home', 'app', 'owned'), 'app data\n');
    await chown(join(owned, 'home', 'app'), 1000, 1000);
    await chown(join(owned, 'home', 'app', 'owned'), 1000, 1000);
    pushLayout(await writeLayoutImage(owned, join(work, 'owned-layout'), ['sh']), `${registry.host}/owned:latest`);
    if (!existsSync(join(gccLayout, 'index.json'))) {
      const made = spawnSync('bash', [join(repo, 'bench', 'bases.sh'), shared, '127.0.0.1:5000'], { encoding: 'utf8' });
      assert.equal(made.status, 0, `bench/bases.sh failed:\n${made.stdout}\n${made.stderr}`);
    }
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${gccLayout}:latest`, `docker://${registry.host}/debian-gcc:bookworm`], { stdio: ['ignore', 'ignore', 'pipe'] });

    ranged = newUser(`scrl${tag}`, false);
    users.push(ranged);
    single = newUser(`scrs${tag}`, true);
    users.push(single);
    const subuid = await readFile('/etc/subuid', 'utf8');
    assert.match(subuid, new RegExp(`^${ranged.name}:\\d+:\\d+$`, 'm'), 'useradd gave the user a subuid range');
    assert.doesNotMatch(subuid, new RegExp(`^${single.name}:`, 'm'), 'the system user has no range');
    // The built CLI must be readable by them (dist/ and node_modules of this checkout).
    const readable = asUser(ranged, ['test', '-r', CLI_PATH]);
    assert.equal(readable.status, 0, `${CLI_PATH} is not readable by other users: give them read access to the checkout`);

    // The workloads' contexts, generated by the user itself (their secrets are the user's files).
    for (const user of [ranged, single]) {
      await mkdir(join(user.home, 'owners-ctx'));
      for (const workload of WORKLOADS) {
        if (user === single) continue;
        const ctx = join(user.home, 'ctx', workload);
        const gen = asUser(user, ['bash', join(bench, workload, 'gen.sh'), ctx]);
        assert.equal(gen.status, 0, `gen.sh ${workload}: ${tail(gen)}`);
        const dockerfile = (await readFile(join(bench, workload, 'Dockerfile'), 'utf8')).replaceAll('127.0.0.1:5000/', `${registry.host}/`);
        await writeFile(join(user.home, `${workload}.Dockerfile`), dockerfile);
      }
      // Steps a single-id namespace can run: every file stays root's (w5 cannot: it runs `chown -R app:app`).
      await writeFile(join(user.home, 'single.Dockerfile'), [
        `FROM ${registry.host}/busybox:latest`,
        'WORKDIR /opt/app',
        'COPY conf.txt ./conf/',
        'RUN mkdir -p d01 && echo step 1 > d01/marker && cat conf/conf.txt >> d01/marker',
        'RUN cat /proc/self/uid_map > /opt/app/uid_map',
        'USER 0:0',
        'RUN rm -r d01 && echo done > state',
        '',
      ].join('\n'));
      await writeFile(join(user.home, 'owners-ctx', 'conf.txt'), 'setting=1\n');
      await writeFile(join(user.home, 'owners.Dockerfile'), `FROM ${registry.host}/owned:latest\nRUN echo made > /made && chown 123:456 /made && ls -ln /made /home/app/owned\n`);
      execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, user.home]);
    }
  });

  after(async () => {
    // Every path: the users (and their homes, state roots included) go; userdel also drops their ranges.
    for (const user of users) {
      const removed = spawnSync('userdel', ['--remove', user.name], { encoding: 'utf8' });
      if (removed.status !== 0 && existsSync(`/home/${user.name}`)) {
        // a mount left in a home would make `userdel -r` fail half-way: report it, never remove through it
        throw new Error(`userdel -r ${user.name} failed: ${removed.stderr}`);
      }
    }
    await registry?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('builds w1, w5 and w6 with subordinate id ranges, on overlayfs, with the state root under $XDG_DATA_HOME', { timeout: 3 * BUILD_TIMEOUT_MS }, async () => {
    const ctx = (w: string): string => join(ranged.home, 'ctx', w);
    for (const workload of WORKLOADS) {
      const secrets = workload === 'w6-secrets-and-cache-mounts'
        ? ['--secret', `id=api_token,src=${ctx(workload)}.secrets/api_token`, '--secret', `id=netrc,src=${ctx(workload)}.secrets/netrc`]
        : [];
      const out = join(ranged.home, `${workload}.oci.tar`);
      const run = stagecraft(ranged, ['build', '--progress', 'plain', '--network', 'none', '-f', join(ranged.home, `${workload}.Dockerfile`), '-t', `${workload}:rootless`, ...secrets, '--output', `type=oci,dest=${out}`, ctx(workload)]);
      assert.equal(run.status, 0, `${workload}: ${tail(run)}`);
      assert.doesNotMatch(run.stderr, /warning: no subordinate id range/);
      const { digests } = await layerListings(out, join(work, `${workload}-oci`));
      assert.ok(digests.length >= 2, `${workload}: ${digests.length} layers`);
    }
    const images = stagecraft(ranged, ['images', '--json']);
    assert.equal(images.status, 0, tail(images));
    for (const workload of WORKLOADS) assert.match(images.stdout, new RegExp(`${workload}:rootless`));

    const root = join(ranged.home, 'data', 'stagecraft');
    assert.ok((await stat(join(root, 'metadata.db'))).isFile(), 'state root under $XDG_DATA_HOME/stagecraft');
    // The overlay snapshotter (its short lowerdir links); the copy fallback has none.
    assert.ok((await readdir(join(root, 'snapshots', 'links'))).length > 0, 'overlayfs snapshots');
    // The state root belongs to the user on the host; the images' root files are the user's own uid.
    assert.equal((await stat(root)).uid, ranged.uid);
  });

  it('keeps a base file of 1000:1000 and a RUN chown 123:456 in the layers, the same bytes as a root build', { timeout: 120_000 }, async () => {
    const out = join(ranged.home, 'owners.oci.tar');
    const run = stagecraft(ranged, ['build', '--progress', 'plain', '--network', 'none', '-f', join(ranged.home, 'owners.Dockerfile'), '--output', `type=oci,dest=${out}`, join(ranged.home, 'owners-ctx')]);
    assert.equal(run.status, 0, tail(run));
    // Inside the namespace the step saw the image's ids.
    assert.match(run.stdout + run.stderr, /123\s+456\s.*\/made/);
    assert.match(run.stdout + run.stderr, /1000\s+1000\s.*\/home\/app\/owned/);
    const rootless = await layerListings(out, join(work, 'owners-rootless'));
    assert.equal(rootless.listings.length, 2);
    assert.equal(ownerOf(rootless.listings[0] ?? [], 'home/app/owned'), '1000/1000');
    assert.equal(ownerOf(rootless.listings[1] ?? [], 'made'), '123/456');
    // On the host the unpacked base file is owned by the user's subordinate id for 1000 (not 1000).
    const [, start = ''] = (await readFile('/etc/subuid', 'utf8')).split('\n').find((l) => l.startsWith(`${ranged.name}:`))?.split(':') ?? [];
    const owned = execFileSync('find', [join(ranged.home, 'data', 'stagecraft', 'snapshots'), '-path', '*/home/app/owned', '-printf', '%U:%G\n'], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(owned.includes(`${Number(start) + 999}:${Number(start) + 999}`) || owned.some((o) => o.startsWith(`${Number(start) + 999}:`)), `host owners ${owned.join(',')}, subuid start ${start}`);

    // The same Dockerfile built by root: identical layers.
    const rootOut = join(work, 'owners-root.oci.tar');
    const rootBuild = spawnSync(process.execPath, [CLI_PATH, '--root', join(work, 'root-state'), 'build', '--progress', 'plain', '--network', 'none', '-f', join(ranged.home, 'owners.Dockerfile'), '--output', `type=oci,dest=${rootOut}`, join(ranged.home, 'owners-ctx')], { encoding: 'utf8' });
    assert.equal(rootBuild.status, 0, `${rootBuild.stdout}\n${rootBuild.stderr}`);
    const asRoot = await layerListings(rootOut, join(work, 'owners-root'));
    assert.deepEqual(rootless.digests, asRoot.digests);
  });

  it('builds with the single-id map when the user has no ranges, and refuses other owners naming the fix', { timeout: BUILD_TIMEOUT_MS }, async () => {
    const out = join(single.home, 'single.oci.tar');
    const run = stagecraft(single, ['build', '--progress', 'plain', '--network', 'none', '-f', join(single.home, 'single.Dockerfile'), '--output', `type=oci,dest=${out}`, join(single.home, 'owners-ctx')]);
    assert.equal(run.status, 0, tail(run));
    const { listings, digests } = await layerListings(out, join(work, 'single-oci'));
    const top = listings[listings.length - 1] ?? [];
    assert.equal(ownerOf(top, 'opt/app/state'), '0/0');
    assert.ok(top.some((l) => l.includes('opt/app/.wh.d01')), `the removed directory is a whiteout:\n${top.join('\n')}`);
    // The map the steps ran in: one id, the user's own.
    const mapLayer = digests.find((_, i) => (listings[i] ?? []).some((l) => l.endsWith('opt/app/uid_map'))) ?? '';
    const uidMap = execFileSync('tar', ['-xOf', join(work, 'single-oci', 'blobs', 'sha256', mapLayer.replace(/^sha256:/, '')), 'opt/app/uid_map'], { encoding: 'utf8' });
    assert.deepEqual(uidMap.trim().split(/\s+/), ['0', String(single.uid), '1']);
    assert.match(run.stderr, /warning: no subordinate id range for scrs\w+ in \/etc\/subuid and \/etc\/subgid: building with a single-id user namespace/);

    const refused = stagecraft(single, ['build', '--progress', 'plain', '--network', 'none', '-f', join(single.home, 'owners.Dockerfile'), join(single.home, 'owners-ctx')]);
    assert.equal(refused.status, 9, tail(refused));
    assert.match(refused.stderr, /error: layer entry "\.\/home\/app\/?" is owned by 1000:1000, which this rootless build's user namespace does not map \(mapped here: uids 0, gids 0\)/);
    assert.match(refused.stderr, /hint: .*usermod --add-subuids/);
  });

  it('says to install uidmap when newuidmap is missing', { timeout: 60_000 }, async () => {
    // A PATH with what the re-exec needs except newuidmap/newgidmap.
    const bin = join(ranged.home, 'bin');
    await mkdir(bin);
    for (const program of ['unshare', 'sh', 'env']) {
      const found = execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
      await symlink(found, join(bin, program));
    }
    await symlink(process.execPath, join(bin, 'node'));
    execFileSync('chown', ['-R', `${ranged.uid}:${ranged.gid}`, bin]);
    assert.ok(lstatSync(join(bin, 'unshare')).isSymbolicLink());
    const run = stagecraft(ranged, ['images'], bin);
    assert.equal(run.status, 9, tail(run));
    assert.match(run.stderr, /error: cannot run newuidmap: program not found/);
    assert.match(run.stderr, /hint: install it \(Debian\/Ubuntu: apt-get install uidmap/);
    assert.equal(dirname(bin), ranged.home);
  });
});
