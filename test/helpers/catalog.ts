/** Runs one cataloger over a directory as a root filesystem, collecting its warnings. */
import { directoryScanFs, type Cataloger, type SbomPackage } from '../../src/attest/index.js';

export interface CatalogRun {
  readonly packages: readonly SbomPackage[];
  readonly warnings: readonly string[];
}

export async function runCataloger(cataloger: Cataloger, root: string): Promise<CatalogRun> {
  const warnings: string[] = [];
  const packages = await cataloger.catalog({
    fs: directoryScanFs(root),
    distro: undefined,
    warn: (message) => warnings.push(message),
    signal: new AbortController().signal,
  });
  return { packages, warnings };
}

/** name@version → purl, for comparing what was found. */
export function purls(packages: readonly SbomPackage[]): string[] {
  return packages.map((p) => p.purl).sort();
}
