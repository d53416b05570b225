/**
 * Robustness of everything stagecraft parses from registries and users on the way to a pull: manifests
 * and indexes (random bytes, random JSON, mutated valid documents under every Content-Type and
 * referring descriptor), image configs, WWW-Authenticate challenges, image references, platforms,
 * registry error bodies and blob downloads served wrong. Each either succeeds with a result that keeps
 * its invariants or fails with a typed StagecraftError of the expected codes — never another exception.
 * Seeded, so a failure reproduces; fast-check prints the seed and path of a counterexample.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError, formatImageRef, parseImageRef, parsePlatform, sha256Digest, type ErrorCode } from '../../src/core/index.js';
import { MEDIA_TYPES, isImageIndexMediaType, parseImageConfig, parseManifest, selectManifest, type ParsedManifest } from '../../src/oci/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { parseChallenges, pickChallenge } from '../../src/registry/challenge.js';
import { redactText } from '../../src/registry/redact.js';
import { errorFromResponse } from '../../src/registry/transport.js';

const SEED = 0x5eed13;
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns });

/** Runs `fn`; any throw must be a StagecraftError with one of `codes`. */
function typed<T>(fn: () => T, codes: readonly ErrorCode[]): T | StagecraftError {
  try {
    return fn();
  } catch (error) {
    assert.ok(error instanceof StagecraftError, `not a StagecraftError: ${String(error)}`);
    assert.ok(codes.includes(error.code), `unexpected code ${error.code}: ${error.message}`);
    return error;
  }
}

const enc = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const digestArb = fc.oneof(
  fc.string({ maxLength: 8 }).map((s) => sha256Digest(s)),
  fc.constantFrom('sha256:abc', 'sha512:' + 'a'.repeat(128), 'SHA256:' + 'A'.repeat(64), ''),
);
const mediaTypeArb = fc.oneof(fc.constantFrom(...Object.values(MEDIA_TYPES)), fc.string({ maxLength: 20 }));
const descriptorArb = fc.record(
  {
    mediaType: mediaTypeArb,
    digest: digestArb,
    size: fc.oneof(fc.nat(), fc.constantFrom(-1, 1.5, Number.MAX_SAFE_INTEGER + 2, 9 * 1024 * 1024)),
    platform: fc.record({ os: fc.constantFrom('linux', 'windows', ''), architecture: fc.constantFrom('amd64', 'arm64', 'arm', 'x'), variant: fc.constantFrom('v7', 'v8', '') }, { requiredKeys: [] }),
    annotations: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 2 }),
  },
  { requiredKeys: ['mediaType', 'digest', 'size'] },
);
const manifestArb = fc.record(
  {
    schemaVersion: fc.constantFrom(2, 1, 3, '2'),
    mediaType: mediaTypeArb,
    config: descriptorArb,
    layers: fc.array(descriptorArb, { maxLength: 3 }),
    manifests: fc.array(descriptorArb, { maxLength: 3 }),
    subject: descriptorArb,
    fsLayers: fc.constant([]),
  },
  { requiredKeys: [] },
);
const headerArb = fc.option(fc.oneof(mediaTypeArb, mediaTypeArb.map((m) => `${m}; charset=utf-8`)), { nil: undefined });
/** A JSON value with a chance of replacing any field of a document by random JSON. */
const mutatedArb = fc.tuple(manifestArb, fc.constantFrom('schemaVersion', 'mediaType', 'config', 'layers', 'manifests', 'subject'), fc.jsonValue({ maxDepth: 2 }), fc.boolean())
  .map(([doc, key, value, replace]) => (replace ? { ...doc, [key]: value } : doc));

function checkParsed(bytes: Uint8Array, result: ParsedManifest): void {
  assert.equal(result.digest, sha256Digest(bytes));
  assert.equal(result.size, bytes.byteLength);
  const body = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  assert.equal(result.kind === 'index', isImageIndexMediaType(result.mediaType));
  // Never ambiguous: what was accepted as one kind has none of the other kind's fields.
  if (result.kind === 'index') assert.ok(!('config' in body) && !('layers' in body));
  else assert.ok(!('manifests' in body));
  if (typeof body['mediaType'] === 'string') assert.equal(body['mediaType'], result.mediaType);
}

const MANIFEST_CODES: readonly ErrorCode[] = ['INVALID_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE'];

describe('manifest parsing never throws anything but a typed error', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), headerArb, (bytes, header) => {
      const result = typed(() => parseManifest(bytes, header), MANIFEST_CODES);
      if (!(result instanceof StagecraftError)) checkParsed(bytes, result);
    }), runs(3000));
  });

  it('random JSON', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), headerArb, (value, header) => {
      const bytes = enc(value);
      const result = typed(() => parseManifest(bytes, header), MANIFEST_CODES);
      if (!(result instanceof StagecraftError)) checkParsed(bytes, result);
    }), runs(2000));
  });

  it('manifest- and index-like documents under every Content-Type and referring descriptor; accepted indexes select or refuse a platform', () => {
    fc.assert(fc.property(mutatedArb, headerArb, fc.option(mediaTypeArb, { nil: undefined }), fc.constantFrom('linux/amd64', 'linux/arm64', 'linux/arm/v7'), (doc, header, descriptorMediaType, platform) => {
      const bytes = enc(doc);
      const result = typed(() => parseManifest(bytes, header, { source: 'r.io/fuzz:1', descriptorMediaType }), MANIFEST_CODES);
      if (result instanceof StagecraftError) {
        assert.match(result.message, /r\.io\/fuzz:1/, 'the error names the reference');
        return;
      }
      checkParsed(bytes, result);
      if (result.kind === 'index') typed(() => selectManifest(result.index, parsePlatform(platform), { source: 'r.io/fuzz:1' }), ['PLATFORM_MISMATCH']);
    }), runs(3000));
  });

  it('image configs: random JSON and mutated configs', () => {
    const configArb = fc.record(
      {
        architecture: fc.oneof(fc.constantFrom('amd64', 'arm64'), fc.jsonValue({ maxDepth: 1 })),
        os: fc.oneof(fc.constant('linux'), fc.jsonValue({ maxDepth: 1 })),
        config: fc.oneof(fc.constant(null), fc.record({ Env: fc.oneof(fc.array(fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 1 })), Cmd: fc.jsonValue({ maxDepth: 2 }), User: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })),
        rootfs: fc.oneof(fc.record({ type: fc.constantFrom('layers', 'x'), diff_ids: fc.array(digestArb, { maxLength: 3 }) }), fc.jsonValue({ maxDepth: 2 })),
        history: fc.oneof(fc.constant(null), fc.array(fc.record({ created_by: fc.string({ maxLength: 5 }), empty_layer: fc.jsonValue({ maxDepth: 0 }) }, { requiredKeys: [] }), { maxLength: 3 })),
      },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(fc.oneof(configArb, fc.jsonValue({ maxDepth: 3 })), (value) => {
      const result = typed(() => parseImageConfig(enc(value), { source: 'r.io/fuzz:1' }), ['INVALID_MANIFEST']);
      if (!(result instanceof StagecraftError)) {
        assert.ok(Array.isArray(result.rootfs.diff_ids));
        JSON.stringify(result); // what is accepted can be written out again
      }
    }), runs(2000));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      typed(() => parseImageConfig(bytes), ['INVALID_MANIFEST']);
    }), runs(1000));
  });
});

describe('WWW-Authenticate challenges', () => {
  const tokenArb = fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,8}$/);

  it('any header parses without throwing into lower-cased schemes and parameter names', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.array(fc.constantFrom('Bearer', 'Basic', ' ', ',', '=', '"', '\\', 'realm', 'a', '==', '\t'), { maxLength: 30 }).map((p) => p.join(''))), (header) => {
      const challenges = parseChallenges(header);
      for (const challenge of challenges) {
        assert.ok(challenge.scheme !== '' && challenge.scheme === challenge.scheme.toLowerCase());
        for (const name of Object.keys(challenge.params)) assert.equal(name, name.toLowerCase());
      }
      const picked = pickChallenge(challenges);
      if (picked !== undefined) assert.ok(picked.scheme === 'basic' || (picked.scheme === 'bearer' && picked.params['realm'] !== undefined));
    }), runs(3000));
  });

  it('what a registry sends is read back exactly (quoted strings with commas, quotes and backslashes)', () => {
    const challengeArb = fc.record({
      scheme: tokenArb,
      params: fc.uniqueArray(fc.tuple(tokenArb.map((t) => t.toLowerCase()), fc.string({ maxLength: 12 })), { selector: ([name]) => name, maxLength: 4 }),
    });
    fc.assert(fc.property(fc.array(challengeArb, { minLength: 1, maxLength: 3 }), (challenges) => {
      const header = challenges.map((c) => [c.scheme, c.params.map(([name, value]) => `${name}="${value.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(', ')].filter((part) => part !== '').join(' ')).join(', ');
      const parsed = parseChallenges(header);
      assert.deepEqual(parsed.map((c) => c.scheme), challenges.map((c) => c.scheme.toLowerCase()));
      for (const [i, challenge] of challenges.entries()) assert.deepEqual(parsed[i]?.params, Object.fromEntries(challenge.params));
    }), runs(3000));
  });
});

describe('image references and platforms', () => {
  const refChars = fc.constantFrom(...'abcXYZ019._-/:@'.split(''), 'sha256:', 'localhost', '[::1]', `sha256:${'a'.repeat(64)}`, 'docker.io/', 'A');
  const refArb = fc.oneof(fc.string({ maxLength: 40 }), fc.array(refChars, { maxLength: 20 }).map((p) => p.join('')));

  it('parse or INVALID_REFERENCE; what parses formats to a reference that parses to itself', () => {
    fc.assert(fc.property(refArb, (text) => {
      const ref = typed(() => parseImageRef(text), ['INVALID_REFERENCE']);
      if (ref instanceof StagecraftError) return;
      const again = parseImageRef(formatImageRef(ref));
      assert.deepEqual({ ...again }, { ...ref });
      assert.ok(ref.tag !== undefined || ref.digest !== undefined, 'latest is added when neither is given');
    }), runs(5000));
  });

  it('platforms parse or fail with a typed error', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.constantFrom('linux', 'arm', 'v7', '/', 'amd64', 'windows', 'x86_64', 'aarch64', 'v8', ''), { maxLength: 5 }).map((p) => p.join(''))), (text) => {
      typed(() => parsePlatform(text), ['USAGE', 'PLATFORM_MISMATCH', 'INVALID_REFERENCE']);
    }), runs(3000));
  });
});

describe('registry answers', () => {
  const secretArb = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/);

  it('any error answer becomes a StagecraftError whose message carries no credentials', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.integer({ min: 400, max: 599 }), fc.constantFrom(300, 301, 302, 307)),
      fc.oneof(fc.string({ maxLength: 60 }), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.record({ errors: fc.array(fc.record({ code: fc.constantFrom('DENIED', 'MANIFEST_UNKNOWN', 'DIGEST_INVALID', 'X'), message: fc.string({ maxLength: 20 }) }), { maxLength: 2 }) }).map((v) => JSON.stringify(v))),
      secretArb,
      async (status, body, secret) => {
        const echoed = `${body} Authorization: Basic ${Buffer.from(`u:${secret}`).toString('base64')} Bearer ${secret} https://u:${secret}@host/x?token=${secret}`;
        const error = await errorFromResponse(new Response(echoed, { status }), 'GET manifest r.io/a:1');
        assert.ok(error instanceof StagecraftError);
        assert.ok(!error.message.includes(secret), error.message);
        assert.ok(!error.message.includes(Buffer.from(`u:${secret}`).toString('base64')), error.message);
      },
    ), runs(1000));
  });

  it('redactText removes userinfo, Authorization values and token parameters', () => {
    fc.assert(fc.property(secretArb, fc.string({ maxLength: 20 }), (secret, noise) => {
      for (const text of [`${noise} https://user:${secret}@r.io/v2/`, `authorization: Bearer ${secret}`, `"Authorization":"Basic ${secret}"`, `${noise}?access_token=${secret}&x=1`, `password=${secret}`]) {
        assert.ok(!redactText(text).includes(secret), `${text} → ${redactText(text)}`);
      }
    }), runs(2000));
  });

  it('a blob served whole, cut, extended, corrupted or with a wrong Content-Length is exactly the blob or a typed error', async () => {
    const blob = Buffer.from('the layer bytes, verified while streaming '.repeat(8));
    const descriptor = { mediaType: MEDIA_TYPES.ociLayer, digest: sha256Digest(blob), size: blob.length };
    const serveArb = fc.record({
      cut: fc.option(fc.nat(blob.length), { nil: undefined }),
      extra: fc.uint8Array({ maxLength: 5 }),
      flip: fc.option(fc.nat(blob.length - 1), { nil: undefined }),
      length: fc.constantFrom<'right' | 'served' | 'none' | 'wrong'>('right', 'served', 'none', 'wrong'),
      chunk: fc.integer({ min: 1, max: 64 }),
      status: fc.constantFrom(200, 200, 200, 206, 404, 500),
    });
    await fc.assert(fc.asyncProperty(serveArb, async (serve) => {
      let body = Buffer.concat([blob.subarray(0, serve.cut ?? blob.length), Buffer.from(serve.extra)]);
      if (serve.flip !== undefined && serve.flip < body.length) {
        body = Buffer.from(body);
        body[serve.flip] = (body[serve.flip] ?? 0) ^ 0x5a;
      }
      const fakeFetch = (): Promise<Response> => {
        const headers: Record<string, string> = {};
        if (serve.length === 'right') headers['content-length'] = String(blob.length);
        if (serve.length === 'served') headers['content-length'] = String(body.length);
        if (serve.length === 'wrong') headers['content-length'] = String(body.length + 3);
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < body.length; i += serve.chunk) chunks.push(body.subarray(i, i + serve.chunk));
        const stream = new ReadableStream<Uint8Array>({ start(controller) { for (const c of chunks) controller.enqueue(c); controller.close(); } });
        return Promise.resolve(new Response(stream, { status: serve.status, headers }));
      };
      const client = new RegistryClient({ fetch: fakeFetch, retry: { attempts: 2 }, clock: { now: () => 0, sleep: () => Promise.resolve() } });
      try {
        const stream = await client.fetchBlob(parseImageRef('r.io/a/b'), descriptor);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        assert.ok(Buffer.concat(chunks).equals(blob), 'a download that ends without error is the blob');
      } catch (error) {
        assert.ok(error instanceof StagecraftError, `not a StagecraftError: ${String(error)}`);
        assert.ok(['DIGEST_MISMATCH', 'REGISTRY_ERROR', 'NOT_FOUND'].includes(error.code), `${error.code}: ${error.message}`);
        if (error.code !== 'NOT_FOUND') assert.ok(error.message.includes(descriptor.digest), error.message);
      }
    }), runs(1000));
  });
});
