import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  familiarImageRef,
  familiarName,
  formatImageRef,
  imageRefName,
  isStagecraftError,
  parseDigest,
  parseImageRef,
  withDigest,
  withTag,
} from '../../src/core/index.js';

const HEX = 'a'.repeat(64);
const DIGEST = `sha256:${HEX}`;

function assertInvalid(text: string, pattern?: RegExp): void {
  assert.throws(
    () => parseImageRef(text),
    (error: unknown) => {
      assert.ok(isStagecraftError(error), `expected StagecraftError for ${text}`);
      assert.equal(error.code, 'INVALID_REFERENCE');
      assert.ok(error.hint !== undefined && error.hint !== '', 'has a hint');
      if (pattern !== undefined) assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('parseImageRef normalizes like distribution/reference', () => {
  const cases: [string, string, string][] = [
    // input, full normalized, familiar
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['foo/bar', 'docker.io/foo/bar:latest', 'foo/bar:latest'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t', '127.0.0.1:5000/a/b:t'],
    ['example.com/team/app', 'example.com/team/app:latest', 'example.com/team/app:latest'],
    ['test:8080/foo', 'test:8080/foo:latest', 'test:8080/foo:latest'],
    ['[::1]:5000/x:y', '[::1]:5000/x:y', '[::1]:5000/x:y'],
    ['[2001:db8::1]/x', '[2001:db8::1]/x:latest', '[2001:db8::1]/x:latest'],
    [`x@${DIGEST}`, `docker.io/library/x@${DIGEST}`, `x@${DIGEST}`],
    [`x:t@${DIGEST}`, `docker.io/library/x:t@${DIGEST}`, `x:t@${DIGEST}`],
    ['x.io/a.b-c__d/e--f.g_h', 'x.io/a.b-c__d/e--f.g_h:latest', 'x.io/a.b-c__d/e--f.g_h:latest'],
    ['Foo.com/bar', 'Foo.com/bar:latest', 'Foo.com/bar:latest'],
    // An upper-case first component is a domain: repository paths cannot have capitals.
    ['Foo/bar', 'Foo/bar:latest', 'Foo/bar:latest'],
    ['foo:Tag_1.x-y', 'docker.io/library/foo:Tag_1.x-y', 'foo:Tag_1.x-y'],
  ];
  for (const [input, full, familiar] of cases) {
    it(input, () => {
      const ref = parseImageRef(input);
      assert.equal(formatImageRef(ref), full);
      assert.equal(familiarImageRef(ref), familiar);
      // Round trip: the normalized form parses to itself.
      assert.equal(formatImageRef(parseImageRef(full)), full);
    });
  }

  it('splits domain, path, tag and digest', () => {
    const ref = parseImageRef(`localhost:5000/a/b:t@${DIGEST}`);
    assert.equal(ref.domain, 'localhost:5000');
    assert.equal(ref.path, 'a/b');
    assert.equal(ref.tag, 't');
    assert.equal(ref.digest, DIGEST);
    assert.equal(imageRefName(ref), 'localhost:5000/a/b');
    assert.equal(familiarName(parseImageRef('docker.io/library/busybox')), 'busybox');
  });

  it('adds latest only when asked and when there is no digest', () => {
    assert.equal(parseImageRef('busybox', { defaultTag: false }).tag, undefined);
    assert.equal(parseImageRef(`busybox@${DIGEST}`).tag, undefined);
  });

  it('withTag and withDigest', () => {
    const ref = parseImageRef(`busybox:1@${DIGEST}`);
    assert.equal(formatImageRef(withTag(ref, 'v2')), 'docker.io/library/busybox:v2');
    const other = parseDigest(`sha256:${'b'.repeat(64)}`);
    assert.equal(formatImageRef(withDigest(parseImageRef('x:1'), other)), `docker.io/library/x:1@${other}`);
    assert.throws(() => withTag(ref, '.bad'), /invalid tag/);
  });
});

describe('parseImageRef rejects what Docker rejects', () => {
  it('upper case in the repository', () => {
    assertInvalid('Busybox', /must be lowercase/);
    assertInvalid('docker.io/Foo/bar', /must be lowercase/);
    assertInvalid('foo/Bar', /must be lowercase/);
    assertInvalid('localhost:5000/Upper', /must be lowercase/);
    assert.throws(() => parseImageRef('Uppercase:Tag'), (e: unknown) => isStagecraftError(e) && /library\/Uppercase/.test(e.message) && (e.hint ?? '').includes('"uppercase:Tag"'));
  });
  it('a bare 64-hex identifier', () => assertInvalid(HEX, /64-byte hexadecimal/));
  it('empty and malformed names', () => {
    for (const bad of ['', ':tag', '/x', 'x/', 'a//b', '-a', 'a-', 'a..b', 'a___b', 'x:', 'x@', 'x@sha256:abc', 'x:' + 'a'.repeat(129), 'x:-tag', 'x y', 'https://x/y', 'a_b.c/x', 'host:port/x']) {
      assertInvalid(bad);
    }
  });
  it('digests we cannot verify', () => {
    assertInvalid(`x@sha512:${'a'.repeat(128)}`, /unsupported digest algorithm/);
    assertInvalid(`x@sha256:${'A'.repeat(64)}`, /invalid digest/);
    assertInvalid(`x@sha256:${'a'.repeat(63)}`);
  });
  it('names longer than 255 characters', () => {
    assertInvalid(`example.com/${'a'.repeat(250)}`, /longer than 255/);
    parseImageRef(`${'a'.repeat(100)}/${'b'.repeat(100)}`);
  });
});
