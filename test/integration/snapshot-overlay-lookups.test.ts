/**
 * The overlay differ's lookups in the lower layers (needs root: whiteouts are 0/0 character devices,
 * opaque markers trusted.* xattrs). The differ carries what each lower holds down the walk and skips
 * lookups below a directory no lower has; these tests hold it to the plain per-path lookup (every
 * ancestor lstat'ed in every lower, as overlayfs merges them): whiteouts only where a lower shows
 * the path, opaque markers, non-directory and opaque ancestors in lowers, unchanged directories.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { overlayChanges, overlayChangesSync } from '../../src/snapshot/diff.js';
import { readXattrSync } from '../../src/snapshot/xattr.js';
import { setAttributeSync } from '@napi-rs/xattr';

const OPAQUE = 'trusted.overlay.opaque';
const work = mkdtempSync(join(tmpdir(), 'stagecraft-lookups-'));
after(() => rmSync(work, { recursive: true, force: true }));

function whiteout(path: string): void {
  const made = spawnSync('mknod', [path, 'c', '0', '0']);
  assert.equal(made.status, 0, made.stderr.toString());
}

// ------------------------------------------------------------ the reference: one path at a time

function lstatOrNull(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}

const isWhiteout = (stat: BigIntStats): boolean => stat.isCharacterDevice() && stat.rdev === 0n;
const isOpaque = (path: string): boolean => readXattrSync(path, OPAQUE)?.toString() === 'y';

/** What the lowers (top first) show at `path`: every ancestor lstat'ed in every layer reached. */
function referenceLowerStat(lowers: readonly string[], path: string): { stat: BigIntStats; source: string } | null {
  const parts = path.split('/');
  for (const layer of lowers) {
    let hidden = false;
    for (let i = 1; i < parts.length; i++) {
      const ancestor = join(layer, ...parts.slice(0, i));
      const stat = lstatOrNull(ancestor);
      if (stat === null) continue;
      if (!stat.isDirectory()) return null;
      if (isOpaque(ancestor)) hidden = true;
    }
    const stat = lstatOrNull(join(layer, path));
    if (stat !== null) return isWhiteout(stat) ? null : { stat, source: join(layer, path) };
    if (hidden) return null;
  }
  return null;
}

function referenceChanges(upper: string, lowers: readonly string[], prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(upper, prefix)).sort()) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const stat = lstatSync(join(upper, path), { bigint: true });
    if (isWhiteout(stat)) {
      if (referenceLowerStat(lowers, path) !== null) out.push(`whiteout:${path}`);
      continue;
    }
    if (!stat.isDirectory()) {
      out.push(`path:${path}`);
      continue;
    }
    const lower = referenceLowerStat(lowers, path);
    const opaque = lower !== null && isOpaque(join(upper, path));
    const unchanged = !opaque && lower !== null && lower.stat.isDirectory() && lower.stat.mode === stat.mode && lower.stat.uid === stat.uid && lower.stat.gid === stat.gid;
    const below = referenceChanges(upper, lowers, path);
    if (!unchanged || below.length > 0) out.push(`path:${path}`);
    if (opaque) out.push(`opaque:${path}`);
    out.push(...below);
  }
  return out;
}

function changes(upper: string, lowers: readonly string[]): string[] {
  return [...overlayChangesSync(upper, lowers)].map((item) => `${item.kind}:${item.path}`);
}

// ------------------------------------------------------------ random layer stacks

/** A small seeded PRNG (mulberry32), so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ['a', 'b'];

/**
 * A random layer directory over a small name space (so layers overlap): each name a directory
 * (sometimes opaque, mode 755 or 700), file, symlink, whiteout or absent.
 */
function randomLayer(dir: string, next: () => number, depth = 0): void {
  mkdirSync(dir, { recursive: true });
  for (const name of NAMES) {
    const path = join(dir, name);
    const roll = next();
    if (roll < 0.15) continue;
    if (roll < 0.65 && depth < 3) {
      mkdirSync(path);
      if (next() < 0.2) chmodSync(path, 0o700);
      if (next() < 0.3) setAttributeSync(path, OPAQUE, 'y');
      randomLayer(path, next, depth + 1);
    } else if (roll < 0.78) {
      writeFileSync(path, name);
    } else if (roll < 0.83) {
      symlinkSync('a', path);
    } else {
      whiteout(path);
    }
  }
}

describe('overlay differ lookups in lower layers', () => {
  it('match the per-path lookup on random layer stacks', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed);
      const root = join(work, `seed-${seed}`);
      const lowers = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, i) => join(root, `lower-${i}`));
      for (const lower of lowers) randomLayer(lower, next);
      const upper = join(root, 'upper');
      randomLayer(upper, next);
      assert.deepEqual(changes(upper, lowers), referenceChanges(upper, lowers), `seed ${seed}`);
    }
  });

  it('skip lookups below a directory no lower has, and still mark whiteouts and opaque directories where a lower has the path', async () => {
    const root = join(work, 'fixed');
    const [top, bottom, upper] = [join(root, 'top'), join(root, 'bottom'), join(root, 'upper')];
    mkdirSync(join(top, 'usr/lib'), { recursive: true });
    writeFileSync(join(top, 'usr/lib/x'), 'x');
    for (const dir of ['usr/share', 'opt', 'srv/data']) mkdirSync(join(bottom, dir), { recursive: true });
    writeFileSync(join(bottom, 'usr/share/y'), 'y');
    writeFileSync(join(bottom, 'opt/z'), 'z');
    writeFileSync(join(bottom, 'srv/data/kept'), 'k');
    // The top layer whited out `srv`: nothing of the bottom layer's srv/ shows.
    whiteout(join(top, 'srv'));

    mkdirSync(join(upper, 'node_modules/pkg'), { recursive: true });
    writeFileSync(join(upper, 'node_modules/pkg/index.js'), '');
    whiteout(join(upper, 'node_modules/gone')); // in no lower: no whiteout entry
    mkdirSync(join(upper, 'usr/share'), { recursive: true });
    mkdirSync(join(upper, 'usr/lib'), { recursive: true });
    whiteout(join(upper, 'usr/share/y')); // in the bottom layer: a whiteout entry
    whiteout(join(upper, 'usr/lib/nothere')); // in no lower
    mkdirSync(join(upper, 'opt'));
    setAttributeSync(join(upper, 'opt'), OPAQUE, 'y');
    writeFileSync(join(upper, 'opt/new'), '');
    mkdirSync(join(upper, 'srv/data'), { recursive: true });
    whiteout(join(upper, 'srv/data/kept')); // hidden by the top layer's whiteout of srv
    writeFileSync(join(upper, 'srv/data/file'), '');

    const expected = [
      'path:node_modules', 'path:node_modules/pkg', 'path:node_modules/pkg/index.js',
      'path:opt', 'opaque:opt', 'path:opt/new',
      'path:srv', 'path:srv/data', 'path:srv/data/file',
      'path:usr', 'path:usr/share', 'whiteout:usr/share/y',
    ];
    const lowers = [top, bottom];
    assert.deepEqual(changes(upper, lowers), expected);
    assert.deepEqual(referenceChanges(upper, lowers), expected);
    // The async form (event-loop turns between slices) gives the same list.
    const items: string[] = [];
    for await (const item of overlayChanges(upper, lowers)) items.push(`${item.kind}:${item.path}`);
    assert.deepEqual(items, expected);
  });
});
