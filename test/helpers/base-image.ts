/**
 * Base images for tests, made with no internet: a static busybox rootfs from Debian's busybox-static,
 * and (for tests that need a real distribution) a Debian bookworm minbase made with debootstrap and
 * cached between runs. Images are written as OCI layouts with the system tar/gzip (an oracle
 * independent of stagecraft's own layer code) and pushed with skopeo.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile, copyFile, access } from 'node:fs/promises';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';
export const TEST_CACHE_DIR = '/var/tmp/stagecraft-test';

/** Writes a busybox rootfs into `dir` (which must not exist): /bin/busybox, its applets, /etc/passwd, /etc/group. */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  for (const sub of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'tmp', 'root', 'home', 'var']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await copyFile(BUSYBOX, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(dir, 'bin', applet));
  await chmod(join(dir, 'tmp'), 0o1777);
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n');
}

export interface LayoutImage {
  /** The OCI layout directory; the image is tagged `latest` in its index.json. */
  readonly layout: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layerDigest: string;
  readonly diffId: string;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function putBlob(layout: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const hex = sha256(data);
  await writeFile(join(layout, 'blobs/sha256', hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/** The blobs of a one-layer image of `rootfs` (config for `platform`) written into `layout`'s blob directory. */
async function writeImageBlobs(rootfs: string, layout: string, cmd: readonly string[], platform: { readonly architecture: string; readonly variant?: string }): Promise<Omit<LayoutImage, 'layout'> & { readonly manifestSize: number }> {
  const tar = execFileSync('tar', ['--numeric-owner', '--sort=name', '--mtime=@0', '--exclude=./.complete', '-C', rootfs, '-cf', '-', '.'], {
    maxBuffer: 1 << 30,
  });
  const diffId = `sha256:${sha256(tar)}`;
  const gz = execFileSync('gzip', ['-n', '-1'], { input: tar, maxBuffer: 1 << 30 });
  const layer = await putBlob(layout, gz);
  const config = await putBlob(layout, Buffer.from(JSON.stringify({
    architecture: platform.architecture,
    os: 'linux',
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    created: '1970-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'stagecraft test fixture' }],
  })));
  const manifest = await putBlob(layout, Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
  })));
  return { manifestDigest: manifest.digest, manifestSize: manifest.size, configDigest: config.digest, layerDigest: layer.digest, diffId };
}

async function startLayout(layout: string): Promise<void> {
  await rm(layout, { recursive: true, force: true });
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
  await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

/** A one-layer image of `rootfs` as an OCI layout in `layout`. */
export async function writeLayoutImage(rootfs: string, layout: string, cmd: readonly string[]): Promise<LayoutImage> {
  await startLayout(layout);
  const image = await writeImageBlobs(rootfs, layout, cmd, { architecture: 'amd64' });
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: image.manifestDigest,
      size: image.manifestSize,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    }],
  }));
  return { layout, manifestDigest: image.manifestDigest, configDigest: image.configDigest, layerDigest: image.layerDigest, diffId: image.diffId };
}

export interface PlatformRootfs {
  readonly rootfs: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface LayoutIndex {
  readonly layout: string;
  readonly indexDigest: string;
  /** Per platform (`linux/amd64`, `linux/arm64`…), in the order given. */
  readonly images: ReadonlyMap<string, Omit<LayoutImage, 'layout'>>;
}

/**
 * A multi-platform image: one one-layer image per rootfs and an OCI index listing them with their
 * platforms, tagged `latest` in the layout's index.json (push it with `pushLayoutIndex`).
 */
export async function writeLayoutIndex(images: readonly PlatformRootfs[], layout: string, cmd: readonly string[]): Promise<LayoutIndex> {
  await startLayout(layout);
  const out = new Map<string, Omit<LayoutImage, 'layout'>>();
  const manifests: unknown[] = [];
  for (const image of images) {
    const platform = { architecture: image.architecture, ...(image.variant === undefined ? {} : { variant: image.variant }) };
    const blobs = await writeImageBlobs(image.rootfs, layout, cmd, platform);
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: blobs.manifestDigest, size: blobs.manifestSize, platform: { os: 'linux', ...platform } });
    out.set(['linux', image.architecture, ...(image.variant === undefined ? [] : [image.variant])].join('/'), { manifestDigest: blobs.manifestDigest, configDigest: blobs.configDigest, layerDigest: blobs.layerDigest, diffId: blobs.diffId });
  }
  const index = await putBlob(layout, Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  await writeFile(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: index.digest, size: index.size, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  return { layout, indexDigest: index.digest, images: out };
}

/** Pushes the layout's `latest` index with every platform's image to `docker://DESTINATION` (plain HTTP). */
export function pushLayoutIndex(index: LayoutIndex, destination: string): void {
  execFileSync('skopeo', ['copy', '-q', '--all', '--dest-tls-verify=false', `oci:${index.layout}:latest`, `docker://${destination}`], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * The static busybox binary for linux/arm64 from Debian's arm64 `busybox-static` package, fetched
 * once from the Debian mirror with a private apt state (no `dpkg --add-architecture`) and cached under
 * /var/tmp/stagecraft-test. Running it needs QEMU through binfmt_misc.
 */
export async function arm64BusyboxBinary(): Promise<string> {
  const dir = join(TEST_CACHE_DIR, 'busybox-static-arm64');
  const binary = join(dir, 'pkg/bin/busybox');
  try {
    await access(join(dir, '.complete'));
    return binary;
  } catch {
    // not cached yet
  }
  await mkdir(TEST_CACHE_DIR, { recursive: true });
  const script = [
    'set -eu',
    '[ -e "$1/.complete" ] && exit 0',
    'apt="$2.apt"; rm -rf "$apt" "$2"; mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$2"',
    'o="-o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o APT::Sandbox::User=root"',
    'apt-get $o update -qq >/dev/null',
    '(cd "$apt" && apt-get $o download busybox-static >/dev/null)',
    'dpkg-deb -x "$apt"/busybox-static_*_arm64.deb "$2/pkg"',
    'rm -rf "$apt"',
    ': > "$2/.complete"',
    'rm -rf "$1"',
    'mv "$2" "$1"',
  ].join('\n');
  execFileSync('flock', [`${dir}.lock`, 'sh', '-c', script, 'sh', dir, `${dir}.partial`], { stdio: ['ignore', 'ignore', 'pipe'] });
  return binary;
}

/** A busybox rootfs of `busybox` (a static binary of any architecture) in `dir`, with the host busybox's applet list. */
export async function makeBusyboxRootfsOf(busybox: string, dir: string): Promise<void> {
  await makeBusyboxRootfs(dir);
  await copyFile(busybox, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
}

/** The busybox image as an OCI layout under `dir`. */
export async function makeBusyboxImage(dir: string): Promise<LayoutImage> {
  const rootfs = join(dir, 'busybox-rootfs');
  await rm(rootfs, { recursive: true, force: true });
  await makeBusyboxRootfs(rootfs);
  return writeLayoutImage(rootfs, join(dir, 'busybox-layout'), ['sh']);
}

export interface PushOptions {
  readonly credentials?: { readonly username: string; readonly password: string };
}

/** Pushes the layout's `latest` image to `docker://HOST/REPO:TAG` with skopeo (plain HTTP). */
export function pushLayout(image: LayoutImage, destination: string, options: PushOptions = {}): void {
  const creds = options.credentials === undefined ? [] : ['--dest-creds', `${options.credentials.username}:${options.credentials.password}`];
  execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', ...creds, `oci:${image.layout}:latest`, `docker://${destination}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

/**
 * A Debian bookworm minbase rootfs made with debootstrap (Debian's mirror), cached under
 * /var/tmp/stagecraft-test between runs. Needs root. Returns the rootfs path.
 */
export async function debianRootfs(): Promise<string> {
  const dir = join(TEST_CACHE_DIR, 'debian-bookworm-minbase');
  try {
    await access(join(dir, '.complete'));
    return dir;
  } catch {
    // not cached yet
  }
  const partial = `${dir}.partial`;
  await mkdir(TEST_CACHE_DIR, { recursive: true });
  // Test files run in parallel: one makes the rootfs under an exclusive lock (flock(1)), the others wait
  // for it and find it complete.
  const script = [
    'set -eu',
    '[ -e "$1/.complete" ] && exit 0',
    'rm -rf "$2"',
    'debootstrap --variant=minbase bookworm "$2" >/dev/null',
    'rm -rf "$2/var/cache/apt/archives"',
    ': > "$2/.complete"',
    'rm -rf "$1"',
    'mv "$2" "$1"',
  ].join('\n');
  execFileSync('flock', [`${dir}.lock`, 'sh', '-c', script, 'sh', dir, partial], { stdio: ['ignore', 'ignore', 'pipe'] });
  await stat(join(dir, 'etc/debian_version'));
  await readFile(join(dir, 'etc/os-release'));
  return dir;
}
