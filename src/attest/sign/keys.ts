/**
 * cosign key files. The private key is PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (cosign before v2.x wrote
 * `ENCRYPTED COSIGN PRIVATE KEY`; both are read) whose body is go-securesystemslib's "encrypted" JSON:
 * `{kdf: {name: scrypt, params: {N, r, p}, salt}, cipher: {name: nacl/secretbox, nonce}, ciphertext}`,
 * the ciphertext being a NaCl secretbox (XSalsa20-Poly1305) of the PKCS#8 DER under the 32-byte scrypt
 * key of the password. The public key is PEM `PUBLIC KEY` (SPKI). Supported: ECDSA P-256/384/521,
 * Ed25519, RSA 2048–4096, as cosign.
 *
 * Every signature is made over SHA-256 (cosign loads key-file signers with SHA-256 for every key type);
 * Ed25519 signs the message itself (pure Ed25519, as sigstore-js verifies it).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, scrypt, sign, verify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { StagecraftError } from '../../core/index.js';

export const SIGSTORE_PRIVATE_KEY_PEM = 'ENCRYPTED SIGSTORE PRIVATE KEY';
export const COSIGN_PRIVATE_KEY_PEM = 'ENCRYPTED COSIGN PRIVATE KEY';
/** cosign's scrypt cost (go-securesystemslib encrypted.ScryptParams default). */
export const SCRYPT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
/** A key file is a few kilobytes; a bigger file is not a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export type KeyAlgorithm = 'ecdsa-p256' | 'ecdsa-p384' | 'ecdsa-p521' | 'ed25519' | 'rsa';

/** A public key, with the hint a sigstore bundle names it by. */
export interface VerifyingKey {
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: KeyObject;
  /** The SPKI DER of the public key. */
  readonly spki: Buffer;
  /** base64 of the SHA-256 of the SPKI DER (the bundle's `verificationMaterial.publicKey.hint`). */
  readonly hint: string;
  /** Where the key came from (for messages). */
  readonly source: string;
}

/** A private key, ready to sign. */
export interface SigningKey extends VerifyingKey {
  /** Signs `data` (SHA-256, or pure Ed25519); ECDSA signatures are ASN.1 DER, as cosign writes them. */
  sign(data: Uint8Array): Buffer;
}

const encryptedSchema = z.object({
  kdf: z.object({
    name: z.literal('scrypt'),
    params: z.object({ N: z.number().int().positive(), r: z.number().int().positive(), p: z.number().int().positive() }),
    salt: z.string(),
  }),
  cipher: z.object({ name: z.literal('nacl/secretbox'), nonce: z.string() }),
  ciphertext: z.string(),
});

function algorithmOf(key: KeyObject, source: string): KeyAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'ed25519';
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048 || bits > 4096) throw unsupported(source, `an RSA key of ${bits} bits`);
    return 'rsa';
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ecdsa-p256';
    if (curve === 'secp384r1') return 'ecdsa-p384';
    if (curve === 'secp521r1') return 'ecdsa-p521';
    throw unsupported(source, `an EC key on curve ${curve ?? 'unknown'}`);
  }
  throw unsupported(source, `a ${type ?? 'unknown'} key`);
}

function unsupported(source: string, what: string): StagecraftError {
  return new StagecraftError('KEY_INVALID', `${source} holds ${what}, which cosign keys cannot be`, {
    hint: 'use an ECDSA P-256/P-384/P-521, Ed25519 or RSA 2048–4096 key (`stagecraft keygen` makes ECDSA P-256)',
  });
}

function verifyingKey(publicKey: KeyObject, source: string): VerifyingKey {
  const algorithm = algorithmOf(publicKey, source);
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { algorithm, publicKey, spki, hint: createHash('sha256').update(spki).digest('base64'), source };
}

/** The signature algorithm node:crypto takes for a key: SHA-256, none for Ed25519. */
function digestFor(algorithm: KeyAlgorithm): string | null {
  return algorithm === 'ed25519' ? null : 'sha256';
}

/** Whether `signature` is `key`'s signature of `data`. */
export function verifySignature(key: VerifyingKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify(digestFor(key.algorithm), data, key.publicKey, signature);
  } catch {
    return false;
  }
}

function signingKey(privateKey: KeyObject, source: string): SigningKey {
  const base = verifyingKey(createPublicKey(privateKey), source);
  const digest = digestFor(base.algorithm);
  return { ...base, sign: (data) => sign(digest, data, privateKey) };
}

/** One PEM block of `text` with `label`, as DER. */
function pemBlock(text: string, labels: readonly string[], source: string): { label: string; der: Buffer } {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (match === null) {
    throw new StagecraftError('KEY_INVALID', `${source} is not a PEM file`, { hint: `expected a "-----BEGIN ${labels[0] ?? ''}-----" block; make a key pair with \`stagecraft keygen\`` });
  }
  const label = match[1] ?? '';
  if (!labels.includes(label)) {
    throw new StagecraftError('KEY_INVALID', `${source} holds a "${label}" PEM block, not ${labels.map((l) => `"${l}"`).join(' or ')}`, {
      hint: labels.includes('PUBLIC KEY') ? 'pass the public key (cosign.pub) here' : 'pass the encrypted private key (cosign.key) written by `stagecraft keygen` or `cosign generate-key-pair`',
    });
  }
  const body = (match[2] ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) throw new StagecraftError('KEY_INVALID', `${source}: the PEM body is not base64`, { hint: 'the key file is damaged; restore it or make a new pair with `stagecraft keygen`' });
  return { label, der: Buffer.from(body, 'base64') };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function scryptKey(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  // 128·N·r bytes of memory: allow it (node's default cap is 32 MiB, cosign's N=32768,r=8 needs 32 MiB + overhead).
  const maxmem = 256 * params.N * params.r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, 32, { N: params.N, r: params.r, p: params.p, maxmem }, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

/** Encrypts a PKCS#8 DER as the go-securesystemslib JSON cosign writes. */
export async function encryptPrivateKey(pkcs8: Buffer, password: string): Promise<Buffer> {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = await scryptKey(password, salt, SCRYPT_PARAMS);
  const ciphertext = xsalsa20poly1305(key, nonce).encrypt(pkcs8);
  return Buffer.from(JSON.stringify({
    kdf: { name: 'scrypt', params: { ...SCRYPT_PARAMS }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  }));
}

/** A new key pair as cosign's two files: `{ privatePem, publicPem }`. */
export async function generateKeyFiles(password: string, algorithm: KeyAlgorithm = 'ecdsa-p256'): Promise<{ readonly privatePem: string; readonly publicPem: string; readonly key: SigningKey }> {
  const pair = algorithm === 'ed25519'
    ? generateKeyPairSync('ed25519')
    : algorithm === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 3072 })
      : generateKeyPairSync('ec', { namedCurve: algorithm === 'ecdsa-p256' ? 'P-256' : algorithm === 'ecdsa-p384' ? 'P-384' : 'P-521' });
  const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const encrypted = await encryptPrivateKey(pkcs8, password);
  return {
    privatePem: pem(SIGSTORE_PRIVATE_KEY_PEM, encrypted),
    publicPem: pem('PUBLIC KEY', pair.publicKey.export({ format: 'der', type: 'spki' })),
    key: signingKey(pair.privateKey, 'the new key'),
  };
}

/** Decrypts a cosign private key file's text. */
export async function parseSigningKey(text: string, password: string, source: string): Promise<SigningKey> {
  const { der } = pemBlock(text, [SIGSTORE_PRIVATE_KEY_PEM, COSIGN_PRIVATE_KEY_PEM], source);
  let json: unknown;
  try {
    json = JSON.parse(der.toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = encryptedSchema.safeParse(json);
  if (!parsed.success) {
    throw new StagecraftError('KEY_INVALID', `${source}: the encrypted key is not scrypt + nacl/secretbox JSON`, { hint: 'the key file is damaged or not a cosign key; make a new pair with `stagecraft keygen`' });
  }
  const { kdf, cipher, ciphertext } = parsed.data;
  // Bound the work a hostile file can ask for (cosign's own keys use N=32768, r=8, p=1).
  if (kdf.params.N > 1 << 20 || (kdf.params.N & (kdf.params.N - 1)) !== 0 || kdf.params.r > 32 || kdf.params.p > 16) {
    throw new StagecraftError('KEY_INVALID', `${source}: scrypt parameters N=${kdf.params.N} r=${kdf.params.r} p=${kdf.params.p} are out of range`, { hint: 'cosign writes N=32768 r=8 p=1; make a new pair with `stagecraft keygen`' });
  }
  const nonce = Buffer.from(cipher.nonce, 'base64');
  if (nonce.length !== 24) throw new StagecraftError('KEY_INVALID', `${source}: the secretbox nonce is ${nonce.length} bytes, not 24`, { hint: 'the key file is damaged; make a new pair with `stagecraft keygen`' });
  const key = await scryptKey(password, Buffer.from(kdf.salt, 'base64'), kdf.params);
  let pkcs8: Uint8Array;
  try {
    pkcs8 = xsalsa20poly1305(key, nonce).decrypt(Buffer.from(ciphertext, 'base64'));
  } catch {
    throw new StagecraftError('KEY_INVALID', `${source}: wrong password (the key does not decrypt)`, {
      hint: 'set STAGECRAFT_PASSWORD (or COSIGN_PASSWORD) to the password the key was made with',
    });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' });
  } catch {
    throw new StagecraftError('KEY_INVALID', `${source}: the decrypted key is not a PKCS#8 private key`, { hint: 'the key file is damaged; make a new pair with `stagecraft keygen`' });
  }
  return signingKey(privateKey, source);
}

/** Reads a cosign public key's text (PEM `PUBLIC KEY`). */
export function parseVerifyingKey(text: string, source: string): VerifyingKey {
  const { der } = pemBlock(text, ['PUBLIC KEY'], source);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new StagecraftError('KEY_INVALID', `${source}: the PEM body is not an SPKI public key`, { hint: 'the key file is damaged; export the public key again (cosign public-key)' });
  }
  return verifyingKey(publicKey, source);
}

async function readKeyFile(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new StagecraftError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'KEY_INVALID', `cannot read the key file ${path}: ${code ?? String(cause)}`, {
      hint: code === 'ENOENT' ? 'make a key pair with `stagecraft keygen`, or pass the right path' : 'check the file permissions',
      cause,
    });
  }
  if (bytes.length > MAX_KEY_FILE_BYTES) throw new StagecraftError('KEY_INVALID', `${path} is ${bytes.length} bytes: too large for a key file`, { hint: 'pass the cosign.key / cosign.pub file' });
  return bytes.toString('utf8');
}

/** Loads and decrypts a cosign private key file; `password` is asked only once the file parses. */
export async function loadSigningKey(path: string, password: () => Promise<string>): Promise<SigningKey> {
  const text = await readKeyFile(path);
  // Structural problems are reported before a password is asked for.
  pemBlock(text, [SIGSTORE_PRIVATE_KEY_PEM, COSIGN_PRIVATE_KEY_PEM], path);
  return parseSigningKey(text, await password(), path);
}

/** Loads a cosign public key file. */
export async function loadVerifyingKey(path: string): Promise<VerifyingKey> {
  return parseVerifyingKey(await readKeyFile(path), path);
}
