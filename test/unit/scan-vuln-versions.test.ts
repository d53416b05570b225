import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareApk, compareDpkg, comparePep440, compareSemver } from '../../src/scan/vulns/versions.js';

/** Random dpkg versions from the characters that matter to the order (digits, letters, `~ + . -`, epochs). */
const dpkgPart = fc.array(fc.constantFrom('0', '1', '2', '9', '10', '00', 'a', 'b', 'z', 'A', '~', '+', '.', '~~', 'deb12u1', 'dfsg'), { minLength: 0, maxLength: 5 }).map((p) => p.join(''));
const dpkgVersion = fc
  .tuple(fc.constantFrom('', '0:', '1:', '2:'), fc.constantFrom('0', '1', '2', '10', '3'), dpkgPart, fc.option(fc.tuple(fc.constantFrom('0', '1', '2', '1~', 'a'), dpkgPart), { nil: undefined }))
  .map(([epoch, first, rest, revision]) => `${epoch}${first}${rest.replace(/-/gu, '')}${revision === undefined ? '' : `-${revision[0]}${revision[1]}`}`);

describe('dpkg version order', () => {
  it('agrees with dpkg --compare-versions on random versions (property)', () => {
    const pairs = fc.sample(fc.tuple(dpkgVersion, dpkgVersion), { numRuns: 250, seed: 42 });
    pairs.push(['1.0~rc1-1', '1.0-1'], ['3.0.19-1~deb12u2', '3.0.22-1~deb12u2'], ['2.36-9+deb12u10', '2.36-9+deb12u9'], ['1:1.0', '2.0'], ['1.0', '1.0-0']);
    let checked = 0;
    for (const [a, b] of pairs) {
      const ours = compareDpkg(a, b);
      assert.notEqual(ours, undefined, `${a} / ${b} should parse`);
      const lt = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
      const eq = spawnSync('dpkg', ['--compare-versions', a, 'eq', b]).status === 0;
      const theirs = lt ? -1 : eq ? 0 : 1;
      assert.equal(ours, theirs, `dpkg orders ${a} ${theirs < 0 ? '<' : theirs > 0 ? '>' : '='} ${b}`);
      checked++;
    }
    assert.ok(checked >= 250);
  });

  it('rejects what is not a version', () => {
    assert.equal(compareDpkg('abc', '1.0'), undefined);
    assert.equal(compareDpkg('1.0 2', '1.0'), undefined);
    assert.equal(compareDpkg('x:1.0', '1.0'), undefined);
    assert.equal(compareDpkg('1.0-', '1.0'), undefined);
  });
});

describe('apk version order', () => {
  // Each list is in ascending order (apk-tools semantics: suffix ranks, letters, -r releases, leading-zero fractions).
  const ascending = [
    '1.0_alpha', '1.0_alpha2', '1.0_beta', '1.0_pre1', '1.0_rc1', '1.0', '1.0-r1', '1.0-r10', '1.0_p1', '1.0a', '1.0b_rc1', '1.0b',
    '1.0.1', '1.01', '1.1', '1.2_git20240101', '1.2_p1', '1.10', '2.0', '10.0',
  ];
  it('orders a known ascending sequence', () => {
    for (let i = 0; i < ascending.length; i++) {
      for (let j = 0; j < ascending.length; j++) {
        const a = ascending[i] ?? '';
        const b = ascending[j] ?? '';
        assert.equal(compareApk(a, b), Math.sign(i - j), `${a} vs ${b}`);
      }
    }
  });
  it('is antisymmetric on random versions (property)', () => {
    const apk = fc.tuple(fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 4 }), fc.constantFrom('', 'a', 'b'), fc.constantFrom('', '_rc1', '_p2', '_alpha'), fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }))
      .map(([n, l, s, r]) => `${n.join('.')}${l}${s}${r === undefined ? '' : `-r${r}`}`);
    fc.assert(fc.property(apk, apk, (a, b) => compareApk(a, b) === -(compareApk(b, a) ?? Number.NaN) || (compareApk(a, b) === 0 && compareApk(b, a) === 0)));
  });
  it('rejects what is not an apk version', () => {
    assert.equal(compareApk('1.0-1', '1.0'), undefined);
    assert.equal(compareApk('v1.0', '1.0'), undefined);
  });
});

/** A python3 with the packaging module: the one on PATH, else Debian's (python3-packaging, installed by scripts/install-system-deps.sh). */
function pythonWithPackaging(): string | undefined {
  return ['python3', '/usr/bin/python3'].find((python) => spawnSync(python, ['-c', 'import packaging.version'], { stdio: 'ignore' }).status === 0);
}

describe('PEP 440 order', () => {
  const pep = fc
    .tuple(fc.constantFrom('', '1!'), fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 3 }), fc.constantFrom('', 'a1', 'b2', 'rc1', 'rc', '.alpha3'), fc.constantFrom('', '.post1', '-2', '.post0'), fc.constantFrom('', '.dev0', '.dev3'), fc.constantFrom('', '+local.1', '+abc', '+1'))
    .map(([e, r, pre, post, dev, local]) => `${e}${r.join('.')}${pre}${post}${dev}${local}`);

  it('agrees with python packaging.version on random versions (property; skipped without python3-packaging)', (t) => {
    const python = pythonWithPackaging();
    if (python === undefined) {
      t.skip('python3 with the packaging module is not installed here');
      return;
    }
    const pairs = fc.sample(fc.tuple(pep, pep), { numRuns: 400, seed: 7 });
    const script = 'import sys,json\nfrom packaging.version import Version\nout=[]\nfor a,b in json.load(sys.stdin):\n  x,y=Version(a),Version(b)\n  out.append(-1 if x<y else (1 if x>y else 0))\nprint(json.dumps(out))';
    const theirs = JSON.parse(execFileSync(python, ['-c', script], { input: JSON.stringify(pairs) }).toString()) as number[];
    pairs.forEach(([a, b], i) => assert.equal(comparePep440(a, b), theirs[i], `${a} vs ${b}`));
  });

  it('orders the spec example sequence', () => {
    const ascending = ['1.0.dev456', '1.0a1', '1.0a2.dev456', '1.0a12.dev456', '1.0a12', '1.0b1.dev456', '1.0b2', '1.0b2.post345.dev456', '1.0b2.post345', '1.0rc1.dev456', '1.0rc1', '1.0', '1.0+abc.5', '1.0+abc.7', '1.0+5', '1.0.post456.dev34', '1.0.post456', '1.1.dev1'];
    for (let i = 0; i + 1 < ascending.length; i++) assert.equal(comparePep440(ascending[i] ?? '', ascending[i + 1] ?? ''), -1, `${ascending[i]} < ${ascending[i + 1]}`);
    assert.equal(comparePep440('1.0', '1.0.0'), 0);
    assert.equal(comparePep440('not a version', '1.0'), undefined);
  });
});

describe('semver order', () => {
  const semver = createRequire(import.meta.url)('semver') as { compare(a: string, b: string): number };
  const version = fc
    .tuple(fc.nat(5), fc.nat(5), fc.nat(5), fc.option(fc.array(fc.constantFrom('alpha', 'beta', '1', '2', '10', 'rc', '0', 'x-y'), { minLength: 1, maxLength: 3 }), { nil: undefined }))
    .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-${pre.join('.')}`}`);
  it('agrees with the semver package (property)', () => {
    fc.assert(fc.property(version, version, (a, b) => compareSemver(a, b) === semver.compare(a, b)), { numRuns: 500 });
  });
  it('takes Go versions with their v prefix and rejects non-semver', () => {
    assert.equal(compareSemver('v1.2.3', 'v1.10.0'), -1);
    assert.equal(compareSemver('v0.0.0-20240101000000-abcdefabcdef', 'v0.0.0'), -1);
    assert.equal(compareSemver('1.2', '1.2.0'), undefined);
  });
});
