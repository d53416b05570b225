/** Bearer tokens for `POST /api/records`: compared in constant time (both sides hashed to one length first). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { StagecraftError } from '../core/index.js';

/** Shorter tokens are refused: a guessable token would let anyone write the history. */
export const MIN_TOKEN_LENGTH = 16;

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** Checks a configured token (from `--token-file` or $STAGECRAFT_SERVE_TOKEN); `source` names it in errors. */
export function checkToken(token: string, source: string): string {
  const trimmed = token.trim();
  if (trimmed.length < MIN_TOKEN_LENGTH || /\s/.test(trimmed)) {
    throw new StagecraftError('CONFIG', `the token in ${source} must be at least ${MIN_TOKEN_LENGTH} characters without spaces`, {
      hint: 'make one with: head -c 32 /dev/urandom | base64 > token; chmod 600 token',
    });
  }
  return trimmed;
}

/** True when the Authorization header is `Bearer <expected>`. */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = match?.[1] ?? '';
  // Equal-length digests: the comparison time depends on neither token.
  return timingSafeEqual(digest(given), digest(expected)) && given !== '';
}
