/**
 * Signing keys and bundles: cosign key files round-trip for every key type, a key file encrypted here
 * independently (node:crypto scrypt + @noble/ciphers secretbox, per go-securesystemslib) decrypts, bad
 * passwords and damaged files fail with KEY_INVALID, and every bundle stagecraft writes is accepted by
 * the independent oracle @sigstore/verify, which (like stagecraft's own verify) rejects tampered
 * payloads, wrong keys and swapped subjects.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa.js';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import { StagecraftError, sha256Digest, type Digest } from '../../src/core/index.js';
import { MEDIA_TYPES, type Descriptor } from '../../src/oci/index.js';
import {
  BUNDLE_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE,
  fallbackTag,
  generateKeyFiles,
  loadSigningKey,
  loadVerifyingKey,
  makeBundle,
  mergeFallbackIndex,
  parseSigningKey,
  parseVerifyingKey,
  signArtifacts,
  signatureStatement,
  verifyBundle,
  verifyImageSignatures,
  type KeyAlgorithm,
  type SignatureSource,
  type SigningKey,
  type VerifyingKey,
} from '../../src/attest/sign/index.js';

const PASSWORD = 'correct horse';

function pem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

/** The oracle: @sigstore/verify with an empty trusted root, the key found by its hint, no tlog/timestamps. */
function oracleVerify(bundleBytes: Buffer, key: VerifyingKey): void {
  const emptyRoot = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
  const trust = toTrustMaterial(emptyRoot, (hint) => {
    if (hint !== key.hint) throw new Error(`unknown key hint ${hint}`);
    return { publicKey: key.publicKey, validFor: () => true };
  });
  const bundle = bundleFromJSON(JSON.parse(bundleBytes.toString('utf8')));
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
}

function rejects(fn: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => error instanceof StagecraftError && error.code === code && (pattern === undefined || pattern.test(error.message)));
}

const ALGORITHMS: readonly KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'ed25519', 'rsa'];

describe('cosign key files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-keys-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  for (const algorithm of ALGORITHMS) {
    it(`round-trips ${algorithm} through the encrypted PEM and signs what the oracle accepts`, async () => {
      const files = await generateKeyFiles(PASSWORD, algorithm);
      assert.match(files.privatePem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
      const body = JSON.parse(Buffer.from(files.privatePem.split('\n').slice(1, -2).join(''), 'base64').toString('utf8')) as { kdf: { name: string; params: unknown }; cipher: { name: string } };
      assert.equal(body.kdf.name, 'scrypt');
      assert.deepEqual(body.kdf.params, { N: 32768, r: 8, p: 1 });
      assert.equal(body.cipher.name, 'nacl/secretbox');
      await writeFile(join(dir, `${algorithm}.key`), files.privatePem);
      await writeFile(join(dir, `${algorithm}.pub`), files.publicPem);
      const key = await loadSigningKey(join(dir, `${algorithm}.key`), () => Promise.resolve(PASSWORD));
      const pub = await loadVerifyingKey(join(dir, `${algorithm}.pub`));
      assert.equal(key.algorithm, algorithm);
      assert.equal(key.hint, pub.hint);
      assert.equal(pub.hint, createHash('sha256').update(pub.spki).digest('base64'));
      const bundle = makeBundle(key, signatureStatement(sha256Digest('image')));
      oracleVerify(bundle, pub);
      assert.equal(verifyBundle(bundle, pub, 'b').statement.predicateType, COSIGN_SIGN_PREDICATE);
    });
  }

  it('reads a key encrypted independently here (scrypt + secretbox, old COSIGN header)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const salt = randomBytes(32);
    const nonce = randomBytes(24);
    const secret = scryptSync('pw', salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    const ciphertext = xsalsa20poly1305(secret, nonce).encrypt(privateKey.export({ format: 'der', type: 'pkcs8' }));
    const json = JSON.stringify({ kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: salt.toString('base64') }, cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') }, ciphertext: Buffer.from(ciphertext).toString('base64') });
    const key = await parseSigningKey(pem('ENCRYPTED COSIGN PRIVATE KEY', Buffer.from(json)), 'pw', 'k');
    assert.equal(key.algorithm, 'ecdsa-p384');
    const pub = parseVerifyingKey(pem('PUBLIC KEY', publicKey.export({ format: 'der', type: 'spki' })), 'p');
    assert.equal(pub.hint, key.hint);
    oracleVerify(makeBundle(key, signatureStatement(sha256Digest('x'))), pub);
  });

  it('refuses a wrong password, a corrupt PEM, a public key as private key and an unsupported curve', async () => {
    const files = await generateKeyFiles(PASSWORD);
    await assert.rejects(parseSigningKey(files.privatePem, 'wrong', 'cosign.key'), (e: unknown) => e instanceof StagecraftError && e.code === 'KEY_INVALID' && /cosign\.key: wrong password/.test(e.message));
    const corrupt = files.privatePem.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!');
    await assert.rejects(parseSigningKey(corrupt, PASSWORD, 'bad.key'), (e: unknown) => e instanceof StagecraftError && e.code === 'KEY_INVALID' && /bad\.key/.test(e.message));
    await assert.rejects(parseSigningKey(files.publicPem, PASSWORD, 'pub-as-key'), (e: unknown) => e instanceof StagecraftError && e.code === 'KEY_INVALID' && /"PUBLIC KEY"/.test(e.message));
    await assert.rejects(parseSigningKey('hello', PASSWORD, 'text'), (e: unknown) => e instanceof StagecraftError && e.code === 'KEY_INVALID' && /not a PEM/.test(e.message));
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ format: 'der', type: 'spki' });
    rejects(() => parseVerifyingKey(pem('PUBLIC KEY', k1), 'k1.pub'), 'KEY_INVALID', /secp256k1/);
    await assert.rejects(loadSigningKey('/nonexistent/cosign.key', () => Promise.resolve('x')), (e: unknown) => e instanceof StagecraftError && e.code === 'FILE_NOT_FOUND');
  });
});

describe('signature bundles', () => {
  let key: SigningKey;
  let other: SigningKey;
  const image = sha256Digest('the image manifest');
  const otherImage = sha256Digest('another image');
  before(async () => {
    key = (await generateKeyFiles(PASSWORD)).key;
    other = (await generateKeyFiles(PASSWORD)).key;
  });

  it('writes cosign v3\'s image-signature statement (digest-only subject, empty predicate)', () => {
    const bundle = JSON.parse(makeBundle(key, signatureStatement(image)).toString('utf8')) as { mediaType: string; verificationMaterial: { publicKey: { hint: string } }; dsseEnvelope: { payload: string; payloadType: string } };
    assert.equal(bundle.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(bundle.verificationMaterial.publicKey.hint, key.hint);
    assert.equal(bundle.dsseEnvelope.payloadType, 'application/vnd.in-toto+json');
    assert.deepEqual(JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')), {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ digest: { sha256: image.slice(7) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    });
  });

  it('rejects a tampered payload and a wrong key, in stagecraft and in the oracle', () => {
    const bundle = makeBundle(key, signatureStatement(image));
    const json = JSON.parse(bundle.toString('utf8')) as { dsseEnvelope: { payload: string } };
    json.dsseEnvelope.payload = signatureStatement(otherImage).toString('base64');
    const tampered = Buffer.from(JSON.stringify(json));
    rejects(() => verifyBundle(tampered, key, 'tampered'), 'SIGNATURE_INVALID', /does not verify/);
    assert.throws(() => oracleVerify(tampered, key), /signature/i);
    rejects(() => verifyBundle(bundle, other, 'wrong key'), 'SIGNATURE_INVALID');
    // The oracle finds no key for the hint, or the other key does not verify it.
    assert.throws(() => oracleVerify(bundle, other));
    oracleVerify(bundle, key);
  });

  /** An in-memory registry of artifacts: what signArtifacts made, listed under the fallback tag. */
  function memorySource(entries: { subject: Digest; artifacts: ReturnType<typeof signArtifacts> }[], statements: { descriptor: Descriptor; bytes: Buffer }[] = []): SignatureSource {
    const blobs = new Map<string, Buffer>();
    const fallback = new Map<string, Descriptor[]>();
    for (const { subject, artifacts } of entries) {
      for (const a of artifacts) {
        blobs.set(a.descriptor.digest, a.bytes);
        for (const b of a.blobs) blobs.set(b.descriptor.digest, b.bytes);
      }
      fallback.set(fallbackTag(subject), mergeFallbackIndex(undefined, artifacts.map((a) => a.descriptor)).manifests.slice());
    }
    for (const s of statements) blobs.set(s.descriptor.digest, s.bytes);
    const read = (d: Descriptor): Promise<Buffer> => {
      const b = blobs.get(d.digest);
      return b === undefined ? Promise.reject(new Error(`no ${d.digest}`)) : Promise.resolve(b);
    };
    return { referrers: (s) => Promise.resolve(fallback.get(fallbackTag(s)) ?? []), manifest: read, blob: read, legacy: () => Promise.resolve([]) };
  }

  const manifest = (digest: Digest): Descriptor => ({ mediaType: MEDIA_TYPES.ociManifest, digest, size: 100 });

  it('verifies an image signature and its attestations; every referrer bundle passes the oracle', async () => {
    const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: image.slice(7) } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} }));
    const artifacts = signArtifacts({ subject: manifest(image), statements: [{ bytes: statement, predicateType: 'https://slsa.dev/provenance/v1' }], key });
    assert.equal(artifacts.length, 2);
    for (const a of artifacts) {
      assert.equal(a.descriptor.artifactType, BUNDLE_MEDIA_TYPE);
      const m = JSON.parse(a.bytes.toString('utf8')) as { subject: { digest: string }; config: { mediaType: string }; annotations: Record<string, string> };
      assert.equal(m.subject.digest, image);
      assert.equal(m.config.mediaType, 'application/vnd.oci.empty.v1+json');
      assert.equal(m.annotations['dev.sigstore.bundle.content'], 'dsse-envelope');
      const bundleBlob = a.blobs.find((b) => b.descriptor.mediaType === BUNDLE_MEDIA_TYPE);
      assert.ok(bundleBlob);
      oracleVerify(bundleBlob.bytes, key);
    }
    const statementDescriptor = { mediaType: 'application/vnd.in-toto+json', digest: sha256Digest(statement), size: statement.length, annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v1' } };
    const source = memorySource([{ subject: image, artifacts }], [{ descriptor: statementDescriptor, bytes: statement }]);
    const result = await verifyImageSignatures({ source, key, subject: image, attestations: [statementDescriptor] });
    assert.equal(result.signatures.length, 1);
    assert.deepEqual(result.attestations.map((a) => a.predicateType), ['https://slsa.dev/provenance/v1']);
    // The wrong key: rejected.
    await assert.rejects(verifyImageSignatures({ source, key: other, subject: image }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID' && /does not verify/.test(e.message));
    // An unsigned attestation: rejected, named.
    const unsigned = { ...statementDescriptor, digest: sha256Digest('unsigned statement'), annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } };
    await assert.rejects(verifyImageSignatures({ source, key, subject: image, attestations: [unsigned] }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID' && /spdx\.dev\/Document .* has no signature/.test(e.message));
  });

  it('rejects swapped subjects: a valid signature of another image listed under this one', async () => {
    // The referrer manifest says otherImage: listed under image's fallback tag, it does not count.
    const swappedManifest = signArtifacts({ subject: manifest(otherImage), key });
    await assert.rejects(verifyImageSignatures({ source: memorySource([{ subject: image, artifacts: swappedManifest }]), key, subject: image }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID' && /is about sha256:/.test(e.message));
    // The referrer manifest says image, but the signed statement names otherImage (the bundle is valid: the oracle accepts it).
    const { bundleArtifact } = await import('../../src/attest/sign/artifacts.js');
    const bundle = makeBundle(key, signatureStatement(otherImage));
    oracleVerify(bundle, key);
    const swappedStatement = [bundleArtifact(manifest(image), bundle, COSIGN_SIGN_PREDICATE)];
    await assert.rejects(verifyImageSignatures({ source: memorySource([{ subject: image, artifacts: swappedStatement }]), key, subject: image }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID' && /statement names/.test(e.message));
    // Nothing at all.
    await assert.rejects(verifyImageSignatures({ source: memorySource([]), key, subject: image }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID' && /no signature found/.test(e.message));
  });

  it('accepts a signature of the index that lists the manifest (cosign sign repo:tag), only when told the index', async () => {
    const index = sha256Digest('the index');
    const source = memorySource([{ subject: index, artifacts: signArtifacts({ subject: { mediaType: MEDIA_TYPES.ociIndex, digest: index, size: 10 }, key }) }]);
    const result = await verifyImageSignatures({ source, key, subject: image, index });
    assert.deepEqual(result.signatures.map((s) => s.subject), [index]);
    await assert.rejects(verifyImageSignatures({ source, key, subject: image }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID');
    await assert.rejects(verifyImageSignatures({ source, key: other, subject: image, index }), (e: unknown) => e instanceof StagecraftError && e.code === 'SIGNATURE_INVALID');
  });

  it('merges the fallback index instead of replacing it', () => {
    const a = signArtifacts({ subject: manifest(image), key })[0];
    const b = signArtifacts({ subject: manifest(image), key: other })[0];
    assert.ok(a !== undefined && b !== undefined);
    const first = mergeFallbackIndex(undefined, [a.descriptor]);
    const merged = mergeFallbackIndex(first.bytes, [b.descriptor, a.descriptor]);
    assert.deepEqual(merged.manifests.map((m) => m.digest), [a.descriptor.digest, b.descriptor.digest]);
    assert.equal((JSON.parse(merged.bytes.toString('utf8')) as { mediaType: string }).mediaType, 'application/vnd.oci.image.index.v1+json');
  });
});

describe('signatures in the local store', () => {
  it('signImage names the fallback index per repository; GC keeps the signatures; local verify and the legacy .sig verify', async () => {
    const { openContent } = await import('../../src/content/index.js');
    const { Database } = await import('../../src/db/index.js');
    const { localSignatureSource, signImage } = await import('../../src/attest/sign/index.js');
    const dir = await mkdtemp(join(tmpdir(), 'sc-sign-store-'));
    const db = Database.open(join(dir, 'metadata.db'));
    let now = Date.UTC(2026, 0, 1);
    try {
      const content = await openContent({ root: join(dir, 'content'), db, clock: () => now });
      // A minimal image: config + manifest, named.
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
      await content.blobs.put(config);
      const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: { mediaType: MEDIA_TYPES.ociConfig, digest: sha256Digest(config), size: config.length }, layers: [] }));
      await content.blobs.put(manifestBytes);
      const subject = { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(manifestBytes), size: manifestBytes.length };
      content.references.set('localhost:5000/app:1', subject);
      const { key } = await generateKeyFiles(PASSWORD);
      const set = await signImage({ content, subject, key, names: ['localhost:5000/app:1'], legacy: true });
      assert.deepEqual(set.names, [`localhost:5000/app:${fallbackTag(subject.digest)}`, `localhost:5000/app:${fallbackTag(subject.digest)}.sig`]);
      now += 7 * 24 * 3600 * 1000;
      await content.gc({ gracePeriodMs: 0 });
      const source = localSignatureSource(content);
      const result = await verifyImageSignatures({ source, key, subject: subject.digest });
      assert.deepEqual(result.signatures.map((s) => s.kind), ['bundle']);
      // Without the bundle's fallback name, the legacy .sig is found and verifies.
      content.references.delete(`localhost:5000/app:${fallbackTag(subject.digest)}`);
      const legacy = await verifyImageSignatures({ source, key, subject: subject.digest });
      assert.deepEqual(legacy.signatures.map((s) => s.kind), ['legacy']);
      const other = (await generateKeyFiles(PASSWORD)).key;
      await assert.rejects(verifyImageSignatures({ source, key: other, subject: subject.digest }), (e: unknown) => e instanceof StagecraftError && /legacy signature .* does not verify/.test(e.message));
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
