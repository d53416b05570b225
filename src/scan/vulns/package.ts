/**
 * What the scan reads of a package and of the distro. These are the fields of attest/'s `SbomPackage`
 * and `Distro` that matter here, declared structurally because scan/ may not import attest/ (both L3):
 * the catalogers' `SbomPackage[]` and `Distro` are passed as they are.
 */

export interface VulnPackage {
  readonly name: string;
  readonly version: string;
  /** The cataloger's ecosystem: `deb`, `apk`, `npm`, `pypi`, `golang`, … */
  readonly type: string;
  readonly purl: string;
  readonly arch?: string | undefined;
  /** The source package (dpkg `Source:`, apk origin). */
  readonly source?: { readonly name: string; readonly version?: string | undefined } | undefined;
}

export interface VulnDistro {
  /** os-release `ID` (`debian`, `alpine`). */
  readonly id: string;
  /** os-release `VERSION_ID` (`12`, `3.20.1`). */
  readonly versionId?: string | undefined;
  readonly prettyName?: string | undefined;
}

/** The OSV ecosystem of a cataloger type (undefined: no vulnerability data source knows it). */
export function osvEcosystem(type: string): string | undefined {
  switch (type) {
    case 'deb':
      return 'Debian';
    case 'apk':
      return 'Alpine';
    case 'npm':
      return 'npm';
    case 'pypi':
      return 'PyPI';
    case 'golang':
      return 'Go';
    default:
      return undefined;
  }
}
