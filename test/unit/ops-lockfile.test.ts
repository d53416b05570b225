import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StagecraftError, parseDigest, parsePlatform, sha256Digest } from '../../src/core/index.js';
import { locateInput } from '../../src/engine/index.js';
import { checkLockedDockerfile, lockImagePins, lockUrlPins, makeLockfile, parseLockfile, serializeLockfile } from '../../src/ops/index.js';

const D1 = parseDigest(`sha256:${'1'.repeat(64)}`);
const D2 = parseDigest(`sha256:${'2'.repeat(64)}`);
const D3 = parseDigest(`sha256:${'3'.repeat(64)}`);
const amd64 = parsePlatform('linux/amd64');
const arm64 = parsePlatform('linux/arm64');
const DOCKERFILE = { path: 'Dockerfile', text: 'FROM busybox\nCOPY --from=alpine:3.19 /etc/os-release /\nADD https://example.com/a.tgz /a.tgz\n' };

function isLockError(pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(error instanceof StagecraftError, String(error));
    assert.equal(error.code, 'LOCK_MISMATCH');
    assert.match(error.message, pattern);
    assert.match(error.hint ?? '', /stagecraft lock/u);
    return true;
  };
}

test('lockfile: normalised names, per platform, sorted, digest-pinned refs left out, URL credentials never written', () => {
  const lock = makeLockfile({
    dockerfile: DOCKERFILE,
    images: [
      { ref: 'busybox', platform: arm64, digest: D1, manifestDigest: D3 },
      { ref: 'alpine:3.19', platform: amd64, digest: D2, manifestDigest: D2 },
      { ref: 'busybox', platform: amd64, digest: D1, manifestDigest: D2 },
      { ref: `busybox@${D1}`, platform: amd64, digest: D1, manifestDigest: D2 },
    ],
    urls: [{ url: 'https://user:pw@example.com/a.tgz', digest: D3 }],
  });
  assert.deepEqual(lock.images.map((i) => `${i.name} ${i.platform} ${i.manifest.slice(7, 8)}`), [
    'docker.io/library/alpine:3.19 linux/amd64 2',
    'docker.io/library/busybox:latest linux/amd64 2',
    'docker.io/library/busybox:latest linux/arm64 3',
  ]);
  assert.deepEqual(lock.urls, [{ url: 'https://example.com/a.tgz', digest: D3 }]);
  assert.equal(lock.dockerfile.digest, sha256Digest(DOCKERFILE.text));
  const text = serializeLockfile(lock);
  assert.doesNotMatch(text, /pw/u);
  // Stable bytes: keys sorted at every level, the same lock gives the same text, and it parses back.
  assert.equal(serializeLockfile(parseLockfile(Buffer.from(text), 'stagecraft.lock')), text);
  assert.ok(text.indexOf('"dockerfile"') < text.indexOf('"images"') && text.indexOf('"images"') < text.indexOf('"urls"') && text.indexOf('"urls"') < text.indexOf('"version"'));
  assert.ok(text.endsWith('}\n'));
});

test('lockfile: damaged, foreign-version or oversized files are refused with the fix', () => {
  assert.throws(() => parseLockfile(Buffer.from('{'), 'x/stagecraft.lock'), isLockError(/x\/stagecraft\.lock is not JSON/u));
  assert.throws(() => parseLockfile(Buffer.from('{"version":2}'), 'stagecraft.lock'), isLockError(/lock version 2; this stagecraft reads version 1/u));
  assert.throws(() => parseLockfile(Buffer.from(JSON.stringify({ version: 1, dockerfile: { path: 'D', digest: 'sha256:nothex' }, images: [], urls: [] })), 'stagecraft.lock'), isLockError(/dockerfile\.digest/u));
  assert.throws(() => parseLockfile(Buffer.from(JSON.stringify({ version: 1, dockerfile: { path: 'D', digest: D1 }, images: [], urls: [], extra: 1 })), 'stagecraft.lock'), isLockError(/not a valid lock file/u));
  assert.throws(() => parseLockfile(Buffer.alloc(5 * 1024 * 1024, 0x20), 'stagecraft.lock'), isLockError(/more than a lock file can be/u));
});

test('lockfile: a changed Dockerfile is a mismatch naming the file; the same text passes', () => {
  const lock = makeLockfile({ dockerfile: DOCKERFILE, images: [], urls: [] });
  checkLockedDockerfile(lock, 'stagecraft.lock', DOCKERFILE);
  assert.throws(() => checkLockedDockerfile(lock, 'stagecraft.lock', { ...DOCKERFILE, text: `${DOCKERFILE.text}RUN true\n` }), isLockError(/Dockerfile changed since stagecraft\.lock was written/u));
});

test('lockfile pins: a locked name resolves to its digest per platform; an unlocked one fails naming its Dockerfile line', () => {
  const lock = makeLockfile({ dockerfile: DOCKERFILE, images: [{ ref: 'busybox', platform: amd64, digest: D1, manifestDigest: D2 }], urls: [{ url: 'https://example.com/a.tgz', digest: D3 }] });
  const pins = lockImagePins(lock, 'stagecraft.lock', (what) => locateInput(DOCKERFILE, what));
  assert.deepEqual(pins.lookup('docker.io/library/busybox:latest', amd64), { digest: D1, manifest: D2 });
  assert.equal(pins.lookup('docker.io/library/busybox:latest', arm64), undefined);
  assert.equal(pins.locked, true);
  const missing = pins.missing('alpine:3.19', amd64);
  assert.ok(isLockError(/^Dockerfile:2: image alpine:3\.19 \(linux\/amd64\) is not in stagecraft\.lock/u)(missing));
  assert.equal(missing.location?.range.start.line, 2);
  const urls = lockUrlPins(lock, 'stagecraft.lock', (what) => locateInput(DOCKERFILE, what));
  assert.equal(urls.lookup('https://example.com/a.tgz'), D3);
  assert.equal(urls.lookup('https://example.com/b.tgz'), undefined);
  const noUrls = lockUrlPins(makeLockfile({ dockerfile: DOCKERFILE, images: [], urls: [] }), 'stagecraft.lock', (what) => locateInput(DOCKERFILE, what));
  assert.ok(isLockError(/^Dockerfile:3: ADD https:\/\/example\.com\/a\.tgz is not in stagecraft\.lock/u)(noUrls.missing('https://example.com/a.tgz')));
});

test('locateInput: the instruction line that names an input, continuation lines belonging to their instruction', () => {
  const dockerfile = { path: 'Dockerfile', text: '# busybox is small\nFROM alpine AS a\nRUN --mount=type=bind,from=busybox:1.36,target=/b \\\n    ls /b\nCOPY --from=busybox /x /x\n' };
  assert.equal(locateInput(dockerfile, 'busybox:1.36')?.range.start.line, 3);
  assert.equal(locateInput(dockerfile, 'ls /b')?.range.start.line, 3);
  assert.equal(locateInput(dockerfile, 'alpine')?.range.start.line, 2);
  assert.equal(locateInput(dockerfile, 'nothing'), undefined);
});
