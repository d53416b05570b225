/**
 * The six benchmark workloads of ../shared/bench build with stagecraft (cold, from a fresh state
 * root), and w6's secrets reach no layer, config or manifest (the harness's leakcheck). The bases
 * (busybox, Debian bookworm with gcc) are made locally by ../shared/tools/make-base-images.sh and
 * served on 127.0.0.1:5000, where the workloads' Dockerfiles expect them. Skipped, saying why, when
 * the shared folder is not next to this repository (set STAGECRAFT_SHARED to point at it).
 *
 * Reproducible by default (issue 19): each workload is built a second time with no flags, from an
 * empty state root, with its context generated under another path, by a builder running under
 * umask 077; every workload's manifest and config digests must equal the first build's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_PATH } from '../helpers/cli.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shared = process.env.STAGECRAFT_SHARED ?? resolve(repo, '..', 'shared');
interface Metadata { readonly manifest: string; readonly config: string }

const WRAPPER = `umask "$WRAP_UMASK"
if [ "$1" = build ]; then
  tag=
  prev=
  for a in "$@"; do
    if [ "$prev" = -t ]; then tag="$a"; fi
    prev="$a"
  done
  shift
  name="$WRAP_META/$(printf %s "$tag" | tr '/:' '__')"
  "$WRAP_NODE" "$WRAP_CLI" --root "$WRAP_ROOT" build --metadata-file "$name.json" "$@" || exit
  # With provenance (the default) the metadata names the index; keep it to find the image manifest.
  hex=$(sed -n 's/^  "containerimage.digest": "sha256:\\([0-9a-f]*\\)".*/\\1/p' "$name.json")
  cp "$WRAP_ROOT/content/blobs/sha256/$hex" "$name.top"
  # and the blobs it names (the image manifest, its config), to compare layer by layer
  mkdir -p "$name.blobs"
  for d in $(grep -o 'sha256:[0-9a-f]\\{64\\}' "$name.top"); do cp "$WRAP_ROOT/content/blobs/sha256/\${d#sha256:}" "$name.blobs/" 2>/dev/null; done
  exit 0
fi
exec "$WRAP_NODE" "$WRAP_CLI" --root "$WRAP_ROOT" "$@"
`;

/**
 * The image manifest's digest from what `containerimage.digest` names: the manifest itself, or the
 * index holding it beside its attestation manifest (provenance has build times, as BuildKit's).
 */
function imageManifestOf(top: string): string {
  const parsed = JSON.parse(top) as { manifests?: { digest: string; annotations?: Record<string, string> }[] };
  if (parsed.manifests === undefined) return `sha256:${createHash('sha256').update(top).digest('hex')}`;
  const images = parsed.manifests.filter((m) => m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  assert.equal(images.length, 1, top);
  return images[0]?.digest ?? '';
}

/** The layer digests of the image manifest a build's metadata names (the wrapper kept its blobs). */
function manifestLayers(meta: string, file: string): string[] {
  const name = file.replace(/\.json$/, '');
  const top = readFileSync(join(meta, `${name}.top`), 'utf8');
  const own = JSON.parse(top) as { layers?: { digest: string }[] };
  const manifest = own.layers !== undefined ? own : (JSON.parse(readFileSync(join(meta, `${name}.blobs`, imageManifestOf(top).slice('sha256:'.length)), 'utf8')) as { layers?: { digest: string }[] });
  assert.ok(manifest.layers !== undefined, `${name}: no image manifest`);
  return manifest.layers.map((l) => l.digest);
}

const present = existsSync(join(shared, 'bench', 'run.sh')) && existsSync(join(shared, 'tools', 'make-base-images.sh'));

describe('the benchmark workloads', { skip: present ? false : `no ${shared}/bench/run.sh (set STAGECRAFT_SHARED)` }, () => {
  it('all six build cold, w6 leaks no secret, and a second build elsewhere gives the same digests', { timeout: 60 * 60_000 }, async () => {
    const bases = spawnSync('bash', [join(repo, 'bench', 'bases.sh'), shared, '127.0.0.1:5000'], { encoding: 'utf8' });
    assert.equal(bases.status, 0, `make-base-images.sh failed:\n${bases.stdout}\n${bases.stderr}`);
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-bench-test-'));
    try {
      // The harness calls `$STAGECRAFT build ... -t TAG ... CONTEXT`; this wrapper sets the umask and
      // asks each build for its --metadata-file, named after the tag, so the digests can be compared.
      const wrapper = join(work, 'stagecraft.sh');
      await writeFile(wrapper, WRAPPER);
      const runAll = (name: string, options: { umask: string; benchWork: string }): Map<string, Metadata> => {
        const root = join(work, `root-${name}`);
        const meta = join(work, `meta-${name}`);
        mkdirSync(meta);
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          STAGECRAFT: `bash ${wrapper}`,
          STAGECRAFT_RESET: `rm -rf ${root}`,
          WRAP_NODE: process.execPath,
          WRAP_CLI: CLI_PATH,
          WRAP_ROOT: root,
          WRAP_META: meta,
          WRAP_UMASK: options.umask,
          BENCH_WORK: options.benchWork,
        };
        const run = (workloads: string, mode: string): void => {
          const out = join(work, `results-${name}-${mode}`);
          const result = spawnSync('bash', [join(shared, 'bench', 'run.sh'), '-b', 'stagecraft', '-w', workloads, '-m', mode, '-n', '1', '-o', out], { encoding: 'utf8', env });
          assert.equal(result.status, 0, `run.sh ${mode} (${name}) failed:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
          if (mode === 'cold') {
            const summary = readFileSync(join(out, 'summary.tsv'), 'utf8').trim().split('\n').slice(1);
            assert.equal(summary.length, 6, summary.join('\n'));
          }
        };
        run('all', 'cold');
        const digests = new Map<string, Metadata>();
        for (const file of readdirSync(meta).filter((f) => f.endsWith('.json'))) {
          const parsed = JSON.parse(readFileSync(join(meta, file), 'utf8')) as Record<string, unknown>;
          const config = parsed['containerimage.config.digest'];
          assert.ok(typeof config === 'string', `${file}: ${JSON.stringify(parsed)}`);
          digests.set(file, { manifest: imageManifestOf(readFileSync(join(meta, file.replace(/\.json$/, '.top')), 'utf8')), config });
        }
        if (name === 'first') run('w6-secrets-and-cache-mounts', 'leakcheck');
        return digests;
      };
      // Each run generates the contexts in a folder of its own (no other bench run can touch them).
      const first = runAll('first', { umask: '022', benchWork: join(work, 'here') });
      assert.equal(first.size, 6, `metadata files: ${[...first.keys()].join(', ')}`);
      const second = runAll('second', { umask: '077', benchWork: join(work, 'elsewhere') });
      assert.deepEqual([...second.keys()].sort(), [...first.keys()].sort());
      for (const [file, digests] of first) {
        if (file.includes('w3-big-context')) {
          // w3's `RUN find /work -type f | wc -l > /work/.filecount` races with its own redirect: the
          // count includes .filecount when the shell opens it before find lists /work (so in BuildKit
          // too). Every other layer must be the same; the count may differ by that one file only.
          const layers = (name: string): string[] => manifestLayers(join(work, `meta-${name}`), file);
          const [a, b] = [layers('first'), layers('second')];
          assert.deepEqual(a.slice(0, -1), b.slice(0, -1), `${file}: layers before the file count differ`);
          continue;
        }
        assert.deepEqual(second.get(file), digests, `${file}: a second build (empty root, other context path, umask 077) differs`);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  it('npm run bench drives the harness with stagecraft\'s hooks and prints one table with peak RSS', { timeout: 20 * 60_000 }, async () => {
    const work = await mkdtemp(join(tmpdir(), 'stagecraft-npm-bench-'));
    try {
      const results = join(work, 'results');
      // Only stagecraft (BuildKit and buildah are optional peers); dist/ as built by `npm test`.
      const env = { ...process.env, STAGECRAFT_SHARED: shared, STAGECRAFT_BENCH_ROOT: join(work, 'root'), BENCH_RESULTS: results, BENCH_BUILDERS: 'stagecraft', BENCH_SKIP_BUILD: '1' };
      const result = spawnSync('bash', [join(repo, 'bench', 'run-bench.sh'), '-w', 'w5-many-steps', '-m', 'cold,warm', '-n', '1'], { encoding: 'utf8', env, cwd: repo });
      assert.equal(result.status, 0, `run-bench.sh failed:\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
      assert.match(result.stdout, /\| workload \| mode \| stagecraft s \| BuildKit s \|/);
      assert.match(result.stdout, /\| w5-many-steps \| cold \| \d+\.\d\d \|/);
      assert.match(result.stdout, /\| w5-many-steps \| warm \| \d+\.\d\d \|/);
      const names = readdirSync(results);
      const json = names.find((n) => n.endsWith('.json'));
      const dir = names.find((n) => n.endsWith('-stagecraft'));
      assert.ok(json !== undefined && dir !== undefined, names.join());
      const rows = (JSON.parse(readFileSync(join(results, json), 'utf8')) as { rows: { workload: string; mode: string; stagecraft: number; peakRssMb?: number }[] }).rows;
      assert.deepEqual(rows.map((r) => r.mode), ['cold', 'warm']);
      for (const row of rows) {
        assert.ok(row.stagecraft > 0, JSON.stringify(row));
        assert.ok((row.peakRssMb ?? 0) > 10, `peak RSS recorded: ${JSON.stringify(row)}`);
      }
      // The size hook (bench/size.sh) counted the image's layers: busybox alone is ~2 MB.
      const [header = '', ...lines] = readFileSync(join(results, dir, 'summary.tsv'), 'utf8').trim().split('\n');
      const column = header.split('\t').indexOf('image_MB');
      for (const line of lines) assert.ok(Number(line.split('\t')[column]) > 1, line);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
