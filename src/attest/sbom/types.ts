/**
 * The SBOM's vocabulary: what a cataloger finds (a package, with its purl and the file it was found
 * from) and what it reads (a root filesystem, read-only, never followed out of its root).
 */
import type { Digest } from '../../core/index.js';

/** The package ecosystems the catalogers know; `binary` is a runtime found by a binary classifier. */
export type Ecosystem = 'deb' | 'apk' | 'rpm' | 'npm' | 'pypi' | 'golang' | 'maven' | 'binary';

/** Where a package was found: the path in the image and the layer that last wrote that path. */
export interface PackageLocation {
  /** Absolute path in the image (`/var/lib/dpkg/status`). */
  readonly path: string;
  /** The layer's digest (diffID of a plain layer), filled in by `catalog` when the layers are known. */
  readonly layer?: Digest | undefined;
  /** sha256 of the file's content, when it was computed (SPDX lists a file only with its checksum). */
  readonly digest?: Digest | undefined;
}

export interface SbomPackage {
  readonly name: string;
  /** As the ecosystem writes it (`1.2.3-4+deb12u1`); '' when a package has none. */
  readonly version: string;
  readonly type: Ecosystem;
  /** Package URL (purl spec): `pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`. */
  readonly purl: string;
  /** SPDX license ids or expressions where known, else the text the package declares. */
  readonly licenses: readonly string[];
  /** The cataloger that found it (`dpkg-db`, `javascript-package`, …). */
  readonly foundBy: string;
  /** The files it was found from; the first is the main one. */
  readonly locations: readonly PackageLocation[];
  readonly arch?: string | undefined;
  /** The source package (dpkg `Source:`, rpm source rpm, apk origin). */
  readonly source?: { readonly name: string; readonly version?: string | undefined } | undefined;
  readonly supplier?: string | undefined;
  readonly description?: string | undefined;
  readonly homepage?: string | undefined;
  readonly cpes?: readonly string[] | undefined;
}

/** `/etc/os-release` (or `/usr/lib/os-release`) of the image, when present. */
export interface Distro {
  /** `ID` (`debian`, `alpine`, …). */
  readonly id: string;
  /** `VERSION_ID` (`12`, `3.20.1`). */
  readonly versionId?: string | undefined;
  readonly prettyName?: string | undefined;
}

export type FsEntryType = 'file' | 'dir' | 'symlink' | 'other';

/** One entry of the scanned filesystem, found by walking it (symlinks are not followed). */
export interface FsEntry {
  /** Absolute path in the image (`/usr/lib/node_modules/npm/package.json`). */
  readonly path: string;
  readonly type: FsEntryType;
  readonly size: number;
  /** st_mode & 0o7777. */
  readonly mode: number;
}

/**
 * A root filesystem, read-only. Every path is an absolute path inside the image; symlinks in it
 * resolve inside the root (an absolute target starts again at the root), never on the host.
 */
export interface ScanFs {
  /** Every entry, walked once (no symlink followed), sorted by path. */
  entries(): Promise<readonly FsEntry[]>;
  /**
   * The contents of a regular file (after resolving symlinks in the root), or undefined when it is
   * missing or not a regular file. Throws `FileTooLargeError` when it is larger than `maxBytes`
   * (default 64 MiB).
   */
  readFile(path: string, options?: { readonly maxBytes?: number | undefined }): Promise<Buffer | undefined>;
  /** Reads `length` bytes at `position` of a regular file (large binaries); undefined when not a regular file. */
  readRange(path: string, position: number, length: number): Promise<Buffer | undefined>;
}

export interface CatalogContext {
  readonly fs: ScanFs;
  readonly distro: Distro | undefined;
  /** A problem with one input (a corrupt status file, a bad package.json): reported, never fatal. */
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
  /** A directory for scratch copies (the rpm cataloger copies an rpmdb.sqlite there); default os.tmpdir(). */
  readonly tmpDir?: string | undefined;
}

export interface Cataloger {
  /** syft's cataloger names where one exists (`dpkg-db-cataloger` → `dpkg-db`). */
  readonly name: string;
  catalog(context: CatalogContext): Promise<readonly SbomPackage[]>;
}
