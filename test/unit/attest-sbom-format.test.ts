import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { sbomTable, spdxExpression, toCycloneDx, toSpdx, type SbomDocumentInfo, type SbomPackage, type SbomResult } from '../../src/attest/index.js';
import { sha256Digest } from '../../src/core/index.js';
import { SpdxDocument } from '../helpers/spdx-schema.js';

const LAYER0 = sha256Digest('layer 0');
const LAYER1 = sha256Digest('layer 1');
const STATUS_DIGEST = sha256Digest('status file');

const PACKAGES: SbomPackage[] = [
  {
    name: 'libc6', version: '2.36-9+deb12u4', type: 'deb', purl: 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12',
    licenses: ['LGPL-2.1-or-later', 'GPL-2+'], foundBy: 'dpkg-db', arch: 'amd64', source: { name: 'glibc' }, supplier: 'GNU Libc Maintainers <debian-glibc@lists.debian.org>',
    locations: [{ path: '/var/lib/dpkg/status', layer: LAYER0, digest: STATUS_DIGEST }],
    cpes: ['cpe:2.3:a:libc6:libc6:2.36-9\\+deb12u4:*:*:*:*:*:*:*'],
  },
  {
    name: 'zlib1g', version: '1:1.2.13.dfsg-1', type: 'deb', purl: 'pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12',
    licenses: ['Zlib'], foundBy: 'dpkg-db', locations: [{ path: '/var/lib/dpkg/status', layer: LAYER0, digest: STATUS_DIGEST }],
  },
  {
    name: '@scope/left', version: '1.0.0', type: 'npm', purl: 'pkg:npm/%40scope/left@1.0.0', licenses: ['(MIT OR Apache-2.0)'], foundBy: 'javascript-package',
    locations: [{ path: '/app/node_modules/@scope/left/package.json', layer: LAYER1 }], homepage: 'https://example.org/left',
  },
  // The same package twice (nested node_modules): two entries, one purl.
  { name: 'ms', version: '2.1.3', type: 'npm', purl: 'pkg:npm/ms@2.1.3', licenses: ['MIT'], foundBy: 'javascript-package', locations: [{ path: '/app/node_modules/ms/package.json', layer: LAYER1 }] },
  { name: 'ms', version: '2.1.3', type: 'npm', purl: 'pkg:npm/ms@2.1.3', licenses: ['MIT'], foundBy: 'javascript-package', locations: [{ path: '/app/node_modules/debug/node_modules/ms/package.json', layer: LAYER1 }] },
  { name: 'requests', version: '2.31.0', type: 'pypi', purl: 'pkg:pypi/requests@2.31.0', licenses: ['Apache Software License'], foundBy: 'python-installed', locations: [{ path: '/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA' }] },
  { name: 'busybox', version: '1.36.1', type: 'binary', purl: 'pkg:generic/busybox@1.36.1', licenses: [], foundBy: 'binary-classifier', locations: [{ path: '/bin/busybox' }] },
];

const RESULT: SbomResult = { packages: PACKAGES, distro: { id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' }, catalogers: ['dpkg-db', 'javascript-package'] };
const INFO: SbomDocumentInfo = { name: 'localhost:5000/app:1', subjectDigest: sha256Digest('manifest'), created: new Date('2024-01-02T03:04:05Z'), toolVersion: '0.1.0' };

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

const cdxValidator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);

describe('SPDX license expressions', () => {
  it('keeps valid expressions in the list\'s case and rejects text', () => {
    assert.equal(spdxExpression('mit'), 'MIT');
    assert.equal(spdxExpression('(MIT OR apache-2.0) AND BSD-3-Clause'), '(MIT OR Apache-2.0) AND BSD-3-Clause');
    assert.equal(spdxExpression('GPL-2.0-only WITH Classpath-exception-2.0'), 'GPL-2.0-only WITH Classpath-exception-2.0');
    assert.equal(spdxExpression('GPL-2.0+'), 'GPL-2.0+');
    assert.equal(spdxExpression('LicenseRef-custom-1'), 'LicenseRef-custom-1');
    for (const bad of ['GPL-2+', 'MIT OR', '(MIT', 'Apache Software License', 'MIT AND AND Zlib', '']) assert.equal(spdxExpression(bad), undefined, bad);
  });
});

describe('toSpdx', () => {
  const doc = toSpdx(RESULT, INFO);

  it('is valid SPDX 2.3 (schema, identifiers, references)', () => {
    const parsed = SpdxDocument.safeParse(doc);
    assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues, null, 1));
  });

  it('names the document, the tool and the time it was given', () => {
    const parsed = SpdxDocument.parse(doc);
    assert.equal(parsed.name, INFO.name);
    assert.equal(parsed.creationInfo.created, '2024-01-02T03:04:05Z');
    assert.deepEqual(parsed.creationInfo.creators, ['Tool: stagecraft-0.1.0']);
  });

  it('lists every package with its purl, CPE, supplier, licenses and where it was found', () => {
    const parsed = SpdxDocument.parse(doc);
    const packages = parsed.packages ?? [];
    assert.equal(packages.length, PACKAGES.length + 1, 'the root package and one per package');
    const libc = packages.find((p) => p.name === 'libc6');
    assert.ok(libc);
    assert.equal(libc.versionInfo, '2.36-9+deb12u4');
    assert.equal(libc.supplier, 'Organization: GNU Libc Maintainers <debian-glibc@lists.debian.org>');
    assert.equal(libc.downloadLocation, 'NOASSERTION');
    assert.equal(libc.sourceInfo, 'acquired package info from DPKG DB: /var/lib/dpkg/status');
    assert.deepEqual(libc.externalRefs?.map((r) => [r.referenceCategory, r.referenceType, r.referenceLocator]), [
      ['SECURITY', 'cpe23Type', PACKAGES[0]?.cpes?.[0]],
      ['PACKAGE-MANAGER', 'purl', PACKAGES[0]?.purl],
    ]);
    // A valid id stays; free text becomes a LicenseRef with its text extracted.
    assert.match(libc.licenseDeclared ?? '', /^LGPL-2\.1-or-later AND LicenseRef-GPL-2-[a-f0-9]{8}$/u);
    const ref = /LicenseRef-[A-Za-z0-9.-]+/u.exec(libc.licenseDeclared ?? '')?.[0];
    assert.deepEqual(parsed.hasExtractedLicensingInfos?.find((l) => l.licenseId === ref)?.extractedText, 'GPL-2+');
    assert.equal(packages.find((p) => p.name === '@scope/left')?.licenseDeclared, '(MIT OR Apache-2.0)');
    assert.equal(packages.find((p) => p.name === 'busybox')?.licenseDeclared, 'NOASSERTION');
    assert.equal(packages.find((p) => p.name === '@scope/left')?.homepage, 'https://example.org/left');
    assert.equal(packages.filter((p) => p.name === 'ms').length, 2, 'the same package at two paths stays two packages');
  });

  it('relates DOCUMENT DESCRIBES root, root CONTAINS each package, package evident-by its file', () => {
    const parsed = SpdxDocument.parse(doc);
    const rels = parsed.relationships ?? [];
    const root = parsed.packages?.find((p) => p.primaryPackagePurpose === 'CONTAINER');
    assert.ok(root);
    assert.equal(root.name, INFO.name);
    assert.ok(rels.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES' && r.relatedSpdxElement === root.SPDXID));
    assert.equal(rels.filter((r) => r.spdxElementId === root.SPDXID && r.relationshipType === 'CONTAINS').length, PACKAGES.length);
    // Only locations with a known digest become files (SPDX requires a checksum); both deb packages share one.
    assert.equal(parsed.files?.length, 1);
    const status = parsed.files?.[0];
    assert.equal(status?.fileName, '/var/lib/dpkg/status');
    assert.deepEqual(status?.checksums, [{ algorithm: 'SHA256', checksumValue: STATUS_DIGEST.slice(7) }]);
    assert.equal(status?.comment, `layerID: ${LAYER0}`);
    const evident = rels.filter((r) => r.relationshipType === 'OTHER' && r.relatedSpdxElement === status?.SPDXID);
    assert.equal(evident.length, 2);
    assert.match(evident[0]?.comment ?? '', /^evident-by:/u);
  });

  it('is deterministic: same input, same document; another subject, another namespace', () => {
    assert.deepEqual(toSpdx(RESULT, INFO), doc);
    assert.deepEqual(toSpdx({ ...RESULT, packages: [...PACKAGES].reverse() }, INFO), doc, 'input order does not matter');
    const other = toSpdx(RESULT, { ...INFO, subjectDigest: sha256Digest('other') });
    assert.notEqual(other.documentNamespace, doc.documentNamespace);
    const fewer = toSpdx({ ...RESULT, packages: PACKAGES.slice(1) }, { ...INFO, subjectDigest: undefined });
    const fewer2 = toSpdx({ ...RESULT, packages: PACKAGES.slice(2) }, { ...INFO, subjectDigest: undefined });
    assert.notEqual(fewer.documentNamespace, fewer2.documentNamespace, 'without a subject the content decides');
  });

  it('the schema rejects broken documents', () => {
    const breakers: ((d: Record<string, unknown>) => void)[] = [
      (d) => { delete d.dataLicense; },
      (d) => { d.spdxVersion = 'SPDX-2.2'; },
      (d) => { d.extra = 1; },
      (d) => { (d.creationInfo as Record<string, unknown>).created = '2024-01-02 03:04'; },
      (d) => { (d.creationInfo as Record<string, unknown>).creators = []; },
      (d) => { d.documentNamespace = 'no uri#x'; },
      (d) => { delete (d.packages as Record<string, unknown>[])[1]?.downloadLocation; },
      (d) => { ((d.packages as Record<string, unknown>[])[1] ?? {}).SPDXID = 'SPDXRef-bad id'; },
      (d) => { ((d.packages as Record<string, unknown>[])[1] ?? {}).primaryPackagePurpose = 'LIBRARIES'; },
      (d) => { ((d.packages as Record<string, unknown>[])[1] ?? {}).supplier = 'Debian'; },
      (d) => { ((d.packages as Record<string, unknown>[])[1] ?? {}).externalRefs = [{ referenceCategory: 'PACKAGE_MANAGER', referenceType: 'purl', referenceLocator: 'pkg:deb/x' }]; },
      (d) => { ((d.relationships as Record<string, unknown>[])[1] ?? {}).relationshipType = 'HAS'; },
      (d) => { ((d.relationships as Record<string, unknown>[])[1] ?? {}).relatedSpdxElement = 'SPDXRef-missing'; },
      (d) => { delete ((d.files as Record<string, unknown>[])[0] ?? {}).checksums; },
      (d) => { delete d.hasExtractedLicensingInfos; },
      (d) => { d.packages = [...(d.packages as unknown[]), (d.packages as unknown[])[1]]; },
    ];
    for (const [i, breaker] of breakers.entries()) {
      const broken = clone(doc);
      breaker(broken);
      assert.equal(SpdxDocument.safeParse(broken).success, false, `breaker ${i} was accepted`);
    }
  });
});

describe('toCycloneDx', () => {
  const bom = toCycloneDx(RESULT, INFO);

  it('is valid CycloneDX 1.6 (the library\'s strict JSON schema)', async () => {
    assert.equal(bom.specVersion, '1.6');
    assert.equal(await cdxValidator.validate(JSON.stringify(bom)), null);
  });

  it('has one component per package with purl-based bom-refs, the distro and the subject', () => {
    const components = bom.components as { 'bom-ref': string; type: string; name: string; version?: string; purl?: string; cpe?: string; licenses?: unknown[]; properties?: { name: string; value: string }[] }[];
    const os = components.filter((c) => c.type === 'operating-system');
    assert.deepEqual(os.map((c) => [c.name, c.version]), [['debian', '12']]);
    const packages = components.filter((c) => c.type !== 'operating-system');
    assert.equal(packages.length, PACKAGES.length);
    const refs = components.map((c) => c['bom-ref']);
    assert.equal(new Set(refs).size, refs.length, 'bom-refs are unique');
    assert.ok(refs.includes('pkg:npm/%40scope/left@1.0.0'), 'a unique purl is its own bom-ref');
    const ms = packages.filter((c) => c.name === 'ms');
    assert.equal(ms.length, 2);
    for (const c of ms) assert.match(c['bom-ref'], /^pkg:npm\/ms@2\.1\.3\?package-id=[a-f0-9]{16}$/u);
    const libc = packages.find((c) => c.name === 'libc6');
    assert.equal(libc?.cpe, PACKAGES[0]?.cpes?.[0]);
    assert.deepEqual(libc?.licenses, [{ license: { name: 'GPL-2+' } }, { license: { id: 'LGPL-2.1-or-later' } }]);
    const props = Object.fromEntries((libc?.properties ?? []).map((p) => [p.name, p.value]));
    assert.equal(props['stagecraft:location:0:path'], '/var/lib/dpkg/status');
    assert.equal(props['stagecraft:location:0:layerID'], LAYER0);
    assert.equal(props['stagecraft:package:foundBy'], 'dpkg-db');
    assert.equal(props['stagecraft:package:source'], 'glibc');
    assert.deepEqual(packages.find((c) => c.name === '@scope/left')?.licenses, [{ expression: '(MIT OR Apache-2.0)' }]);
    const metadata = bom.metadata as { timestamp: string; component: { name: string; type: string; version: string }; tools: { components: { name: string; version: string }[] } };
    assert.equal(metadata.timestamp, '2024-01-02T03:04:05.000Z');
    assert.deepEqual([metadata.component.type, metadata.component.name, metadata.component.version], ['container', INFO.name, INFO.subjectDigest]);
    assert.deepEqual(metadata.tools.components.map((t) => [t.name, t.version]), [['stagecraft', '0.1.0']]);
  });

  it('is deterministic: same input, same document, a content-derived serial number', () => {
    assert.deepEqual(toCycloneDx({ ...RESULT, packages: [...PACKAGES].reverse() }, INFO), bom);
    assert.match(String(bom.serialNumber), /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/u);
    assert.notEqual(toCycloneDx(RESULT, { ...INFO, subjectDigest: sha256Digest('x') }).serialNumber, bom.serialNumber);
  });

  it('the validator rejects broken documents', async () => {
    const breakers: ((d: Record<string, unknown>) => void)[] = [
      (d) => { ((d.components as Record<string, unknown>[])[1] ?? {}).type = 'bogus'; },
      (d) => { delete ((d.components as Record<string, unknown>[])[1] ?? {}).name; },
      (d) => { d.serialNumber = 'not-a-urn'; },
      (d) => { d.unknownField = true; },
      (d) => { ((d.components as Record<string, unknown>[])[1] ?? {}).licenses = [{ license: { id: 'Not-A-License' } }]; },
    ];
    for (const [i, breaker] of breakers.entries()) {
      const broken = clone(bom);
      breaker(broken);
      assert.notEqual(await cdxValidator.validate(JSON.stringify(broken)), null, `breaker ${i} was accepted`);
    }
  });
});

describe('sbomTable', () => {
  it('prints NAME VERSION TYPE sorted, aligned, duplicates merged', () => {
    assert.equal(sbomTable(RESULT), [
      'NAME         VERSION          TYPE',
      '@scope/left  1.0.0            npm',
      'busybox      1.36.1           binary',
      'libc6        2.36-9+deb12u4   deb',
      'ms           2.1.3            npm',
      'requests     2.31.0           pypi',
      'zlib1g       1:1.2.13.dfsg-1  deb',
      '',
    ].join('\n'));
  });
  it('says so when there are no packages', () => {
    assert.equal(sbomTable({ packages: [], distro: undefined, catalogers: [] }), 'No packages discovered\n');
  });
});
