/**
 * in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md) about an
 * image, with BuildKit's subjects: one per image name, `pkg:docker/<familiar name>@<tag>?platform=<p>`
 * (BuildKit util/purl RefToPURL), each with the digest of the image manifest. An image without a name
 * gets the subject name `_` (the attestation-storage document's example), so the subject list is never
 * empty as the spec requires.
 */
import { PackageURL } from 'packageurl-js';
import { digestHex, familiarName, parseImageRef, type Digest } from '../core/index.js';

export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** The media type of a statement blob (a layer of an attestation manifest). */
export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE_ANNOTATION = 'in-toto.io/predicate-type';
export const SPDX_PREDICATE_TYPE = 'https://spdx.dev/Document';

export interface InTotoSubject {
  readonly name: string;
  readonly digest: Readonly<Record<string, string>>;
}

export interface InTotoStatement {
  readonly _type: 'https://in-toto.io/Statement/v1';
  readonly subject: readonly InTotoSubject[];
  readonly predicateType: string;
  readonly predicate: unknown;
}

/** The package URL BuildKit names an image with: `docker.io/library/busybox:1.36` → `pkg:docker/busybox@1.36?platform=linux%2Famd64`. */
export function imagePurl(name: string, platform: string): string {
  const ref = parseImageRef(name);
  const familiar = familiarName(ref);
  const slash = familiar.lastIndexOf('/');
  const namespace = slash === -1 ? undefined : familiar.slice(0, slash);
  const qualifiers: Record<string, string> = {};
  if (ref.digest !== undefined) qualifiers.digest = ref.digest;
  qualifiers.platform = platform;
  const version = ref.digest !== undefined && ref.tag === undefined ? undefined : (ref.tag ?? 'latest');
  return new PackageURL('docker', namespace, familiar.slice(slash + 1), version, qualifiers, undefined).toString();
}

/** The subjects of every statement about an image: one per name, all with the manifest's digest. */
export function imageSubjects(names: readonly string[], platform: string, manifestDigest: Digest): InTotoSubject[] {
  const digest = { sha256: digestHex(manifestDigest) };
  if (names.length === 0) return [{ name: '_', digest }];
  return names.map((name) => ({ name: imagePurl(name, platform), digest }));
}

export function makeStatement(subject: readonly InTotoSubject[], predicateType: string, predicate: unknown): InTotoStatement {
  return { _type: IN_TOTO_STATEMENT_V1, subject, predicateType, predicate };
}
