/**
 * What the secret scan costs (issue 16: ≥ 50 MB/s per core on the w3 context image, peak RSS < 300 MB).
 *   node --import tsx bench/secret-scan-bench.ts [runs]   (STAGECRAFT_SHARED: the shared folder, default ../shared)
 * Generates the w3-big-context build context with the bench's own generator (30,001 small text files,
 * 3 x 80 MiB assets: ~317 MB), adds three files holding secrets, packs it as one gzip layer (the
 * `COPY . .` layer of w3's first stage) on top of a busybox-sized layer into a fresh content store,
 * and times scanImageSecrets over that image `runs` times (default 3). Reports the layers' tar bytes
 * and the text bytes scanned per second of wall time and per CPU-second (user + system of this
 * process, including the gunzip threads), and the process's peak RSS.
 */
/* eslint-disable no-restricted-imports, no-restricted-properties -- a script like scripts/: it runs the bench's generator and tar, and reads STAGECRAFT_SHARED */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openContent } from '../src/content/index.js';
import { Database } from '../src/db/index.js';
import { scanImageSecrets } from '../src/scan/index.js';

const runs = Number(process.argv[2] ?? '3');
const repo = fileURLToPath(new URL('..', import.meta.url));
const shared = process.env.STAGECRAFT_SHARED ?? resolve(repo, '..', 'shared');
const gen = join(shared, 'bench', 'w3-big-context', 'gen.sh');
if (!existsSync(gen)) throw new Error(`no ${gen}: set STAGECRAFT_SHARED to the shared folder`);
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1);

const work = await mkdtemp(join(tmpdir(), 'stagecraft-secret-bench-'));
try {
  const context = join(work, 'w3');
  const started = performance.now();
  const generated = spawnSync('bash', [gen, context], { encoding: 'utf8', env: { ...process.env, BENCH_TOOLS: join(work, '.tools') } });
  if (generated.status !== 0) throw new Error(`gen.sh failed: ${generated.stderr}`);
  console.log(`generated the w3 context in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  // Three secrets among the files, so the run also shows the scan finds what it should.
  await mkdir(join(context, 'app', 'secrets'), { recursive: true });
  await writeFile(join(context, 'app', 'secrets', '.npmrc'), `//registry.npmjs.org/:_authToken=npm_${'Ab1Cd2Ef3Gh4'.repeat(3)}\n`);
  await writeFile(join(context, 'app', 'secrets', 'deploy.env'), `GITLAB=glpat-${'x9Y8z7W6v5'.repeat(2)}\n`);
  await writeFile(join(context, 'vendor', 'leak.js'), `const t = "ghp_${'Qw3Er4Ty5Ui6'.repeat(3)}";\n`);

  const db = Database.open(join(work, 'metadata.db'));
  const content = await openContent({ root: join(work, 'content'), db });
  const layer = async (dir: string): Promise<{ digest: string; size: number; tarBytes: number; diffId: string }> => {
    const tarFile = join(work, 'layer.tar');
    execFileSync('tar', ['--numeric-owner', '--sort=name', '-C', dir, '-cf', tarFile, '.']);
    const diffId = `sha256:${execFileSync('sha256sum', [tarFile], { encoding: 'utf8' }).split(' ')[0] ?? ''}`;
    const tarBytes = Number(execFileSync('stat', ['-c', '%s', tarFile], { encoding: 'utf8' }).trim());
    execFileSync('gzip', ['-f', '-1', tarFile]);
    const info = await content.blobs.ingest(createReadStream(`${tarFile}.gz`));
    await rm(`${tarFile}.gz`);
    return { digest: info.digest, size: info.size, tarBytes, diffId };
  };
  const base = join(work, 'base');
  await mkdir(join(base, 'bin'), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(base, 'bin', 'busybox')]);
  const layers = [await layer(base), await layer(context)];
  const config = await content.blobs.put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } })));
  const manifest = await content.blobs.put(Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  })));
  const tarBytes = layers.reduce((sum, l) => sum + l.tarBytes, 0);
  console.log(`image: ${layers.length} layers, ${mb(tarBytes)} MB of tar (${mb(layers.reduce((s, l) => s + l.size, 0))} MB gzip)`);

  const walls: number[] = [];
  const cpus: number[] = [];
  let last: Awaited<ReturnType<typeof scanImageSecrets>> | undefined;
  for (let run = 0; run < runs; run++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    last = await scanImageSecrets({ content, manifest: manifest.digest, warn: (m) => console.error(`warning: ${m}`), signal: new AbortController().signal });
    walls.push((performance.now() - start) / 1000);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1e6);
  }
  db.close();
  if (last === undefined) throw new Error('no run');
  const wall = median(walls);
  const cpu = median(cpus);
  const peakRss = process.resourceUsage().maxRSS * 1024;
  console.log(`findings: ${last.findings.map((f) => `${f.path} (${f.rule})`).join(', ')}`);
  console.log(`text scanned: ${mb(last.scannedBytes)} MB; files skipped (binary or > 10 MiB): ${last.skippedFiles}`);
  console.log(`median of ${runs}: wall ${wall.toFixed(2)} s, CPU ${cpu.toFixed(2)} s`);
  console.log(`layer throughput: ${mb(tarBytes / wall)} MB/s wall, ${mb(tarBytes / cpu)} MB/s per core (CPU-second)`);
  console.log(`text throughput:  ${mb(last.scannedBytes / wall)} MB/s wall, ${mb(last.scannedBytes / cpu)} MB/s per core (CPU-second)`);
  console.log(`peak RSS: ${mb(peakRss)} MB`);
} finally {
  await rm(work, { recursive: true, force: true });
}
