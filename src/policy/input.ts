/**
 * The one input object every policy rule reads (declarative rules and CEL expressions alike). The
 * build (engine) and `stagecraft policy check` fill it from the image, its attestations, the scans
 * and the signature; docs/policy.md documents every field. Plain data only: it is what CEL sees.
 *
 * "Not known" is never an empty list: each section says whether its data exists (`scanned`,
 * `cataloged`, `hasData`, `known`), so a rule can tell "no findings" from "not looked".
 */
import type { SecretSite, Severity } from '../scan/index.js';

export interface PolicyLayer {
  /** The layer blob's digest. */
  readonly digest: string;
  /** The blob's size in bytes. */
  readonly size: number;
  /** The history entry that made it (`RUN apt-get install -y gcc # buildkit`), '' when none. */
  readonly createdBy: string;
}

export interface PolicyImage {
  /** The image's first name (`127.0.0.1:5000/app:1`), '' when unnamed. */
  readonly name: string;
  /** The image manifest's digest. */
  readonly digest: string;
  /** `linux/amd64`. */
  readonly platform: string;
  /** The config's `config` section (Env, Cmd, Entrypoint, User, WorkingDir, ExposedPorts, Labels, …). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly labels: Readonly<Record<string, string>>;
  /** The config's `User`; '' when unset (the image runs as root). */
  readonly user: string;
  /** Bytes: the layer blobs, the config and the manifest. */
  readonly size: number;
  readonly layers: readonly PolicyLayer[];
}

export interface PolicyBase {
  /** The base image as the Dockerfile named it, normalized (`docker.io/library/debian:bookworm`). */
  readonly ref: string;
  /** What it resolved to (index or manifest digest). */
  readonly digest: string;
}

export interface PolicyPackage {
  readonly name: string;
  readonly version: string;
  /** Ecosystem: `deb`, `apk`, `rpm`, `npm`, `pypi`, `golang`, … */
  readonly type: string;
  readonly purl: string;
  /** The layer (diff ID) that installed it, when known. */
  readonly layer: string;
  /** Its main file (`/var/lib/dpkg/status`, `/usr/lib/node_modules/npm/package.json`). */
  readonly path: string;
}

export interface PolicySbom {
  /** An SBOM attestation is (or will be) attached to the image. */
  readonly attached: boolean;
  /** The final filesystem was catalogued: `packages` is the truth, not "unknown". */
  readonly cataloged: boolean;
  readonly packages: readonly PolicyPackage[];
}

export interface PolicyVulnerability {
  readonly id: string;
  readonly aliases: readonly string[];
  readonly package: string;
  readonly version: string;
  readonly ecosystem: string;
  readonly severity: Severity;
  /** The version that fixes it; '' when the data names none. */
  readonly fixedVersion: string;
  /** `fixedVersion` is known. */
  readonly fixed: boolean;
  readonly source: string;
}

export interface PolicyVulnerabilities {
  /** The image was scanned for vulnerabilities. */
  readonly scanned: boolean;
  /** Some data source covered the image's packages; false means "no vulnerability data", never "0 CVEs". */
  readonly hasData: boolean;
  readonly sources: readonly { readonly kind: string; readonly name: string; readonly updated: string }[];
  readonly findings: readonly PolicyVulnerability[];
  readonly counts: Readonly<Record<Severity, number>>;
}

export interface PolicySecret {
  readonly rule: string;
  readonly site: SecretSite;
  readonly path: string;
  /** Layer index (0 = base), -1 when not in a layer. */
  readonly layer: number;
  /** 1-based line, 0 when unknown. */
  readonly line: number;
  /** In a layer but deleted by a later one (still in the blobs). */
  readonly deleted: boolean;
  /** `sha256:<16 hex>` of the value; never the value. */
  readonly fingerprint: string;
}

export interface PolicySecrets {
  readonly scanned: boolean;
  readonly findings: readonly PolicySecret[];
}

export interface PolicyProvenance {
  /** A provenance attestation is (or will be) attached. */
  readonly present: boolean;
  readonly predicateType: string;
  /** The provenance predicate (SLSA v1 `buildDefinition`/`runDetails`, or v0.2), `{}` when absent. */
  readonly predicate: Readonly<Record<string, unknown>>;
}

export interface PolicySignature {
  /** The image is signed (the build signs it with a loaded key, or a signature was verified or found). */
  readonly signed: boolean;
  /**
   * How that is known: `build` (signed by this build), `verified` (a signature verified with the
   * given key), `found` (signatures exist; not verified, no key given), `none`.
   */
  readonly how: 'build' | 'verified' | 'found' | 'none';
}

export interface PolicyInput {
  readonly image: PolicyImage;
  /** The base images (FROM), `known: false` when nothing says which they were. */
  readonly bases: { readonly known: boolean; readonly images: readonly PolicyBase[] };
  readonly sbom: PolicySbom;
  readonly vulnerabilities: PolicyVulnerabilities;
  readonly secrets: PolicySecrets;
  readonly provenance: PolicyProvenance;
  readonly signature: PolicySignature;
}

/** The top-level variables a CEL expression may name. */
export const POLICY_INPUT_VARIABLES = ['image', 'bases', 'sbom', 'vulnerabilities', 'secrets', 'provenance', 'signature'] as const satisfies readonly (keyof PolicyInput)[];
