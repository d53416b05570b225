import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { toCycloneDx } from '../../src/attest/index.js';
import { VULN_PREDICATE_TYPE, scanVulnerabilities, vulnPredicate, vulnTable, withVulnerabilities, type VulnPackage } from '../../src/scan/index.js';
import { cvss2Score, cvss3Score } from '../../src/scan/vulns/cvss.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'osv');

function pkg(type: string, name: string, version: string, source?: string): VulnPackage {
  const purlType = { npm: 'npm', pypi: 'pypi', golang: 'golang', deb: 'deb/debian', apk: 'apk/alpine', cargo: 'cargo' }[type] ?? type;
  return { name, version, type, purl: `pkg:${purlType}/${encodeURIComponent(name)}@${encodeURIComponent(version)}`, ...(source === undefined ? {} : { source: { name: source } }) };
}

async function scan(packages: VulnPackage[], distro?: { id: string; versionId: string }): Promise<{ report: Awaited<ReturnType<typeof scanVulnerabilities>>; warnings: string[] }> {
  const warnings: string[] = [];
  const stateRoot = await mkdtemp(join(tmpdir(), 'vuln-osv-'));
  try {
    const report = await scanVulnerabilities({ packages, distro, data: { stateRoot, osvDir: FIXTURES, offline: true }, warn: (m) => warnings.push(m), signal: new AbortController().signal });
    return { report, warnings };
  } finally {
    await rm(stateRoot, { recursive: true, force: true });
  }
}

const ids = (report: Awaited<ReturnType<typeof scanVulnerabilities>>, name: string): string[] => report.findings.filter((f) => f.package.name === name).map((f) => f.id).sort();

describe('OSV matcher over the fixture directory', () => {
  it('reports affected versions with severity and fixed version, and not fixed, unaffected or withdrawn ones', async () => {
    const { report } = await scan([
      pkg('npm', 'left-pad-ish', '1.2.0'),
      pkg('npm', '@scope/widget', '1.1.0'),
      pkg('pypi', 'yaml.ish', '6.0.1rc0'),
      pkg('golang', 'example.invalid/gopher/net', 'v0.6.0'),
    ]);
    assert.equal(report.hasData, true);
    const leftPad = report.findings.find((f) => f.package.name === 'left-pad-ish');
    assert.deepEqual({ id: leftPad?.id, severity: leftPad?.severity, fixed: leftPad?.fixedVersion, aliases: leftPad?.aliases }, { id: 'TEST-NPM-0001', severity: 'MEDIUM', fixed: '1.3.1', aliases: ['CVE-2099-0001'] });
    assert.deepEqual(ids(report, 'left-pad-ish'), ['TEST-NPM-0001'], 'the withdrawn TEST-NPM-0003 names 1.2.0 but is not reported');
    const widget = report.findings.find((f) => f.package.name === '@scope/widget');
    assert.equal(widget?.severity, 'CRITICAL', 'CVSS 3.1 9.8 → CRITICAL');
    assert.equal(widget?.fixedVersion, '1.2.0');
    const yaml = report.findings.find((f) => f.package.name === 'yaml.ish');
    assert.equal(yaml?.id, 'TEST-PYPI-0001', 'PyPI names are normalized (Yaml_Ish = yaml.ish)');
    assert.equal(yaml?.severity, 'MEDIUM', 'CVSS 3.1 5.9 → MEDIUM');
    assert.equal(report.findings.find((f) => f.package.name === 'example.invalid/gopher/net')?.severity, 'LOW');
    assert.deepEqual(report.counts, { CRITICAL: 1, HIGH: 0, MEDIUM: 2, LOW: 1, UNKNOWN: 0 });
    assert.ok(report.notes?.some((n) => /GIT range/u.test(n)), 'GIT ranges are ignored with a note');
    assert.ok(report.notes?.some((n) => /withdrawn/u.test(n)));
    assert.ok(report.notes?.some((n) => /"Maven"/u.test(n)), 'an unknown ecosystem is named');
    const source = report.sources.find((s) => s.kind === 'osv-dir');
    assert.equal(source?.updated, '2026-12-01T00:00:00.000Z', 'the newest `modified` dates the data');
  });

  it('does not report versions at or past the fix, between ranges, or past last_affected; includes last_affected itself', async () => {
    const { report } = await scan([
      pkg('npm', 'left-pad-ish', '1.3.1'),
      pkg('npm', '@scope/widget', '1.5.0'),
      pkg('pypi', 'yaml-ish', '6.0.1'),
      pkg('golang', 'example.invalid/gopher/net', 'v0.4.9'),
    ]);
    assert.equal(report.hasData, true);
    assert.deepEqual(report.findings, []);
    assert.match(vulnTable(report), /0 known vulnerabilities/u);
    const atLast = await scan([pkg('npm', '@scope/widget', '2.1.5'), pkg('npm', 'other', '1.0.0')]);
    assert.deepEqual(ids(atLast.report, '@scope/widget'), ['TEST-NPM-0002']);
    assert.equal(atLast.report.findings[0]?.fixedVersion, undefined, 'a last_affected range names no fix');
    const past = await scan([pkg('npm', '@scope/widget', '2.1.6')]);
    assert.deepEqual(past.report.findings, []);
  });

  it('matches distro advisories only for the image release, by source package', async () => {
    const debian12 = await scan([pkg('deb', 'libexample1', '1.2-3', 'libexample-src')], { id: 'debian', versionId: '12' });
    const osvFindings = debian12.report.findings.filter((f) => f.source.startsWith('OSV'));
    assert.deepEqual(osvFindings.map((f) => [f.id, f.severity, f.fixedVersion]), [['TEST-DEB-0001', 'HIGH', '1.2-3+deb12u1']]);
    const fixedAlready = await scan([pkg('deb', 'libexample1', '1.2-3+deb12u1', 'libexample-src')], { id: 'debian', versionId: '12' });
    assert.deepEqual(fixedAlready.report.findings.filter((f) => f.source.startsWith('OSV')), []);
    const alpine = await scan([pkg('apk', 'busybox-ish', '1.36.1-r28', 'busybox-ish')], { id: 'alpine', versionId: '3.20.3' });
    assert.deepEqual(alpine.report.findings.map((f) => [f.id, f.severity]), [['TEST-APK-0001', 'HIGH']]);
    const otherAlpine = await scan([pkg('apk', 'busybox-ish', '1.36.1-r28', 'busybox-ish')], { id: 'alpine', versionId: '3.19.1' });
    assert.equal(otherAlpine.report.hasData, false, 'advisories for Alpine v3.20 are no data for 3.19');
  });

  it('warns about corrupt files, naming them, and keeps going', async () => {
    const { report, warnings } = await scan([pkg('npm', 'left-pad-ish', '1.0.0')]);
    assert.ok(warnings.some((w) => w.includes('corrupt.json') && /not valid JSON/u.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('not-osv.json') && /not an OSV record/u.test(w)), warnings.join('\n'));
    assert.equal(report.findings.length, 1);
  });

  it('says "no vulnerability data" — never "0" — when no source covers the image', async () => {
    const { report } = await scan([pkg('cargo', 'serde', '1.0.0')]);
    assert.equal(report.hasData, false);
    const table = vulnTable(report);
    assert.match(table, /no vulnerability data/u);
    assert.doesNotMatch(table, /\b0 (known )?vulnerabilit/u);
    const predicate = vulnPredicate(report, { name: 'app:1', digest: 'sha256:' + 'a'.repeat(64), scannerVersion: '0.1.0' });
    assert.equal(predicate.scanner.result.summary, "no vulnerability data for this image's packages");
    assert.equal(predicate.scanner.result.counts, null);
    const bom = withVulnerabilities({ metadata: {}, components: [] }, report);
    assert.equal(bom.vulnerabilities, undefined);
    assert.match(JSON.stringify(bom.metadata), /no vulnerability data/u);
  });

  it('gives a cosign vuln predicate and a schema-valid CycloneDX vulnerabilities section', async () => {
    const packages = [pkg('npm', 'left-pad-ish', '1.2.0'), pkg('npm', '@scope/widget', '1.1.0')];
    const { report } = await scan(packages);
    const predicate = vulnPredicate(report, { name: 'app:1', digest: 'sha256:' + 'b'.repeat(64), scannerVersion: '0.1.0' });
    assert.equal(VULN_PREDICATE_TYPE, 'https://cosign.sigstore.dev/attestation/vuln/v1');
    assert.deepEqual(Object.keys(predicate).sort(), ['invocation', 'metadata', 'scanner']);
    assert.equal(predicate.scanner.uri, 'pkg:generic/stagecraft@0.1.0');
    assert.equal(predicate.scanner.db.version, '2026-12-01T00:00:00.000Z');
    assert.ok(!Number.isNaN(Date.parse(predicate.metadata.scanStartedOn)) && !Number.isNaN(Date.parse(predicate.metadata.scanFinishedOn)));
    assert.equal((predicate.scanner.result.findings as unknown[]).length, 2);

    const sbomPackages = packages.map((p) => ({ ...p, type: 'npm' as const, licenses: [], foundBy: 'javascript-package', locations: [{ path: `/app/node_modules/${p.name}/package.json` }] }));
    const bom = toCycloneDx({ packages: sbomPackages, distro: undefined, catalogers: [] }, { name: 'app:1', created: new Date(0), toolVersion: '0.1.0' });
    const withVulns = withVulnerabilities(bom, report);
    const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
    assert.equal(await validator.validate(JSON.stringify(withVulns)), null);
    const vulns = withVulns.vulnerabilities as { id: string; affects: { ref: string }[]; ratings: { severity: string }[] }[];
    assert.deepEqual(vulns.map((v) => [v.id, v.ratings[0]?.severity, v.affects.length]), [['TEST-NPM-0001', 'medium', 1], ['TEST-NPM-0002', 'critical', 1]]);
  });
});

describe('CVSS base scores', () => {
  it('computes v3.1 and v2 scores as FIRST/NVD publish them', () => {
    assert.equal(cvss3Score('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'), 9.8);
    assert.equal(cvss3Score('CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H'), 10);
    assert.equal(cvss3Score('CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N'), 5.5);
    assert.equal(cvss3Score('CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N'), 6.1);
    assert.equal(cvss3Score('CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:N'), 0);
    assert.equal(cvss3Score('CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N'), undefined);
    assert.equal(cvss2Score('AV:N/AC:L/Au:N/C:P/I:P/A:P'), 7.5);
    assert.equal(cvss2Score('AV:N/AC:L/Au:N/C:N/I:N/A:P'), 5);
  });
});
