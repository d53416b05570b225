import { createHash } from 'node:crypto';
import { StagecraftError } from './errors.js';

declare const digestBrand: unique symbol;
/** A content digest, `sha256:<64 hex>`. Made only by `parseDigest` or `sha256Digest`. */
export type Digest = `sha256:${string}` & { readonly [digestBrand]: true };

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

export function parseDigest(value: string): Digest {
  if (!isDigest(value)) {
    throw new StagecraftError('INVALID_DIGEST', `invalid digest "${value}"`, {
      hint: 'a digest is "sha256:" followed by 64 lower-case hex digits',
    });
  }
  return value;
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** The 64 hex digits of a digest (the file name of its blob). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}
