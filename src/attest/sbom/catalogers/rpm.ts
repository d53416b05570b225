/**
 * rpm's package database (syft: rpm-db-cataloger), in each backend rpm has used:
 * - sqlite (`rpmdb.sqlite`: Fedora ≥ 33, RHEL 9, Amazon Linux 2023, Azure Linux): table `Packages`
 *   of header blobs, read from a private copy of the file (never the image's file in place);
 * - Berkeley DB hash (`Packages`: RHEL ≤ 8, CentOS, Amazon Linux 2) and ndb (`Packages.db`: SUSE):
 *   see rpm-stores.ts.
 * Each blob is an rpm header (rpm-header.ts).
 */
import Database from 'better-sqlite3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTooLargeError } from '../fs.js';
import { purl } from '../purl.js';
import type { CatalogContext, Cataloger, SbomPackage } from '../types.js';
import { RpmHeaderError, parseRpmHeader, type RpmHeader } from './rpm-header.js';
import { RpmStoreError, bdbHashValues, isBdbHash, isNdb, ndbBlobs, type StoreBlobs } from './rpm-stores.js';

const DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm'];
type Backend = 'sqlite' | 'bdb' | 'ndb';
const FILES: readonly { readonly name: string; readonly backend: Backend }[] = [
  { name: 'rpmdb.sqlite', backend: 'sqlite' },
  { name: 'Packages', backend: 'bdb' },
  { name: 'Packages.db', backend: 'ndb' },
];
const RPMDB_MAX_BYTES = 512 * 1024 * 1024;
const MAX_PACKAGES = 200_000;

/** `bash-5.1.8-6.el9.src.rpm` → bash, 5.1.8-6.el9. */
export function parseSourceRpm(file: string): { readonly name: string; readonly version: string } | undefined {
  const match = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(file);
  if (match === null) return undefined;
  return { name: match[1] ?? '', version: `${match[2] ?? ''}-${match[3] ?? ''}` };
}

function toPackage(context: CatalogContext, header: RpmHeader, path: string): SbomPackage {
  const versionRelease = `${header.version}-${header.release}`;
  const distro = context.distro === undefined ? undefined : [context.distro.id, context.distro.versionId].filter(Boolean).join('-');
  const qualifiers: Record<string, string> = {};
  if (header.arch !== undefined && header.arch !== '') qualifiers['arch'] = header.arch;
  if (header.epoch !== undefined) qualifiers['epoch'] = String(header.epoch);
  if (header.sourceRpm !== undefined && header.sourceRpm !== '') qualifiers['upstream'] = header.sourceRpm;
  if (distro !== undefined) qualifiers['distro'] = distro;
  const source = header.sourceRpm === undefined ? undefined : parseSourceRpm(header.sourceRpm);
  return {
    name: header.name,
    version: header.epoch === undefined ? versionRelease : `${header.epoch}:${versionRelease}`,
    type: 'rpm',
    purl: purl('rpm', context.distro?.id, header.name, versionRelease, qualifiers),
    licenses: header.license === undefined || header.license === '' ? [] : [header.license],
    foundBy: 'rpm-db',
    locations: [{ path }],
    arch: header.arch || undefined,
    source,
    supplier: header.vendor || undefined,
    description: header.summary || undefined,
    homepage: header.url || undefined,
  };
}

/** The header blobs of an rpmdb.sqlite, from a private copy in `tmpDir`. */
async function sqliteBlobs(context: CatalogContext, path: string, file: Buffer): Promise<StoreBlobs> {
  const dir = await mkdtemp(join(context.tmpDir ?? tmpdir(), 'stagecraft-rpmdb-'));
  try {
    const copy = join(dir, 'rpmdb.sqlite');
    // Rows not yet checkpointed live in the -wal file beside it: copied too.
    const wal = await context.fs.readFile(`${path}-wal`, { maxBytes: RPMDB_MAX_BYTES });
    if (wal !== undefined && wal.length > 0) await writeFile(`${copy}-wal`, wal);
    await writeFile(copy, file);
    const db = new Database(copy, { readonly: true, fileMustExist: true });
    try {
      db.pragma('trusted_schema = OFF');
      const table = db.prepare<[], { type: string }>("SELECT type FROM sqlite_master WHERE name = 'Packages'").get();
      if (table?.type !== 'table') throw new RpmStoreError('no Packages table');
      const blobs: Buffer[] = [];
      let skipped = 0;
      for (const row of db.prepare<[], { blob: unknown }>('SELECT blob FROM Packages ORDER BY hnum').iterate()) {
        if (Buffer.isBuffer(row.blob)) blobs.push(row.blob);
        else skipped++;
        if (blobs.length >= MAX_PACKAGES) break;
      }
      return { blobs, skipped };
    } finally {
      db.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function readStore(context: CatalogContext, path: string, backend: Backend): Promise<SbomPackage[]> {
  let file: Buffer | undefined;
  try {
    file = await context.fs.readFile(path, { maxBytes: RPMDB_MAX_BYTES });
  } catch (error) {
    if (!(error instanceof FileTooLargeError)) throw error;
    context.warn(`${path}: ${error.message}; this rpm database is not read`);
    return [];
  }
  if (file === undefined) return [];
  let store: StoreBlobs;
  try {
    switch (backend) {
      case 'sqlite':
        store = await sqliteBlobs(context, path, file);
        break;
      case 'bdb':
        if (!isBdbHash(file)) throw new RpmStoreError('not a Berkeley DB hash database');
        store = bdbHashValues(file);
        break;
      case 'ndb':
        if (!isNdb(file)) throw new RpmStoreError('not an rpm ndb database');
        store = ndbBlobs(file);
        break;
    }
  } catch (error) {
    // better-sqlite3 throws SqliteError for a file that is not a database ("file is not a database").
    const reason = error instanceof Error ? error.message : String(error);
    if (!(error instanceof RpmStoreError) && !(error instanceof Error && error.name === 'SqliteError')) throw error;
    context.warn(`${path}: unreadable rpm ${backend} database (${reason}); its packages are not listed`);
    return [];
  }
  const out: SbomPackage[] = [];
  let bad = store.skipped;
  for (const blob of store.blobs) {
    try {
      const header = parseRpmHeader(blob);
      // gpg-pubkey entries are imported signing keys, not installed software.
      if (header.name !== 'gpg-pubkey') out.push(toPackage(context, header, path));
    } catch (error) {
      if (!(error instanceof RpmHeaderError)) throw error;
      bad++;
    }
  }
  if (bad > 0) context.warn(`${path}: ${bad} unreadable rpm header(s) in the ${backend} database; read ${out.length} package(s)`);
  return out;
}

export const rpmCataloger: Cataloger = {
  name: 'rpm-db',
  async catalog(context) {
    const present = new Set((await context.fs.entries()).filter((e) => e.type === 'file' || e.type === 'symlink').map((e) => e.path));
    const candidates = DIRS.flatMap((dir) => FILES.map((f) => ({ path: `${dir}/${f.name}`, backend: f.backend })));
    // /var/lib/rpm is often a symlink to /usr/lib/sysimage/rpm: read what the walk found; when it
    // found none (a database behind a directory symlink elsewhere), try every path.
    const found = candidates.filter((c) => present.has(c.path));
    const out: SbomPackage[] = [];
    for (const candidate of found.length > 0 ? found : candidates) {
      context.signal.throwIfAborted();
      out.push(...(await readStore(context, candidate.path, candidate.backend)));
    }
    return out;
  },
};
