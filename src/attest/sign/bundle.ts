/**
 * Sigstore bundles v0.3 (sigstore/protobuf-specs, `application/vnd.dev.sigstore.bundle.v0.3+json`)
 * holding a DSSE envelope (secure-systems-lab/dsse envelope.md) signed with a key: the verification
 * material is only the key's hint (base64 SHA-256 of its SPKI DER), as `cosign sign --key
 * --tlog-upload=false` writes it; no certificate, no transparency-log entry, no timestamp.
 *
 * The payload is an in-toto Statement v1. An image signature is cosign v3's: predicate type
 * `https://sigstore.dev/cosign/sign/v1`, an empty predicate, the subject = the manifest digest.
 */
import { z } from 'zod';
import { StagecraftError, digestHex, type Digest } from '../../core/index.js';
import { IN_TOTO_MEDIA_TYPE, IN_TOTO_STATEMENT_V1 } from '../intoto.js';
import { verifySignature, type SigningKey, type VerifyingKey } from './keys.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** cosign v3's predicate type for an image signature. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
/** A bundle is a few kilobytes (a statement is capped by the attestation limit upstream). */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

/** DSSE's pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`. */
export function preAuthEncoding(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), Buffer.from(payload)]);
}

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
export const bundleSchema = z.looseObject({
  mediaType: z.string(),
  verificationMaterial: z.looseObject({ publicKey: z.object({ hint: z.string() }).optional() }),
  dsseEnvelope: z.object({
    payload: b64,
    payloadType: z.string(),
    signatures: z.array(z.object({ sig: b64, keyid: z.string().optional() })).min(1),
  }),
});
export type Bundle = z.infer<typeof bundleSchema>;

const statementSchema = z.looseObject({
  _type: z.string(),
  subject: z.array(z.looseObject({ name: z.string().optional(), digest: z.record(z.string(), z.string()) })),
  predicateType: z.string(),
});
export type SignedStatement = z.infer<typeof statementSchema>;

/**
 * The statement of an image signature, as cosign v3 `sign` writes it: one subject with only the
 * manifest digest (no name), the predicate type `https://sigstore.dev/cosign/sign/v1`, an empty predicate.
 */
export function signatureStatement(subject: Digest): Buffer {
  return Buffer.from(JSON.stringify({
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ digest: { sha256: digestHex(subject) } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: {},
  }));
}

/** Signs `payload` (an in-toto statement's bytes, kept as they are) into a bundle's JSON bytes. */
export function makeBundle(key: SigningKey, payload: Uint8Array): Buffer {
  const signature = key.sign(preAuthEncoding(IN_TOTO_MEDIA_TYPE, payload));
  return Buffer.from(JSON.stringify({
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: key.hint }, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } },
    dsseEnvelope: {
      payload: Buffer.from(payload).toString('base64'),
      payloadType: IN_TOTO_MEDIA_TYPE,
      signatures: [{ sig: signature.toString('base64'), keyid: '' }],
    },
  }));
}

export interface VerifiedBundle {
  readonly payload: Buffer;
  readonly statement: SignedStatement;
}

/**
 * Checks a bundle against `key`: its media type, a DSSE signature by the key over the PAE of its
 * payload, and that the payload is an in-toto statement. Throws SIGNATURE_INVALID naming what failed.
 */
export function verifyBundle(bytes: Uint8Array, key: VerifyingKey, what: string): VerifiedBundle {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid(`${what} is not JSON`);
  }
  const parsed = bundleSchema.safeParse(json);
  if (!parsed.success) throw invalid(`${what} is not a sigstore bundle with a DSSE envelope`);
  const bundle = parsed.data;
  if (!bundle.mediaType.startsWith('application/vnd.dev.sigstore.bundle')) throw invalid(`${what} has the media type ${bundle.mediaType}`);
  const envelope = bundle.dsseEnvelope;
  if (envelope.payloadType !== IN_TOTO_MEDIA_TYPE) throw invalid(`${what}: the DSSE payload type is ${envelope.payloadType}, not ${IN_TOTO_MEDIA_TYPE}`);
  const payload = Buffer.from(envelope.payload, 'base64');
  const pae = preAuthEncoding(envelope.payloadType, payload);
  const signed = envelope.signatures.some((s) => verifySignature(key, pae, Buffer.from(s.sig, 'base64')));
  if (!signed) throw invalid(`${what}: the signature does not verify with ${key.source}`);
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    throw invalid(`${what}: the signed payload is not JSON`);
  }
  const st = statementSchema.safeParse(statement);
  if (!st.success) throw invalid(`${what}: the signed payload is not an in-toto statement`);
  return { payload, statement: st.data };
}

function invalid(message: string): StagecraftError {
  return new StagecraftError('SIGNATURE_INVALID', message, { hint: 'the image was not signed by this key, or its signature was altered' });
}
