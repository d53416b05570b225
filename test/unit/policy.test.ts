import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { baseAllowed, evaluatePolicy, formatVerdict, parsePolicy, parseSize, scansNeeded, type PolicyInput, type Verdict } from '../../src/policy/index.js';

const ZERO = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };

function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    image: {
      name: '127.0.0.1:5000/app:1', digest: `sha256:${'a'.repeat(64)}`, platform: 'linux/amd64',
      config: { User: 'app', Labels: { 'org.opencontainers.image.source': 'https://example.com/app' } },
      labels: { 'org.opencontainers.image.source': 'https://example.com/app' }, user: 'app', size: 12_000_000,
      layers: [{ digest: `sha256:${'b'.repeat(64)}`, size: 11_000_000, createdBy: 'ADD rootfs.tar /' }, { digest: `sha256:${'c'.repeat(64)}`, size: 999_000, createdBy: 'RUN apt-get install -y gcc' }],
    },
    bases: { known: true, images: [{ ref: 'docker.io/library/debian:bookworm', digest: `sha256:${'d'.repeat(64)}` }] },
    sbom: {
      attached: true, cataloged: true,
      packages: [
        { name: 'gcc', version: '4:12.2.0-3', type: 'deb', purl: 'pkg:deb/debian/gcc@4:12.2.0-3', layer: `sha256:${'c'.repeat(64)}`, path: '/var/lib/dpkg/status' },
        { name: 'libc6', version: '2.36-9', type: 'deb', purl: 'pkg:deb/debian/libc6@2.36-9', layer: '', path: '/var/lib/dpkg/status' },
      ],
    },
    vulnerabilities: { scanned: true, hasData: true, sources: [{ kind: 'osv-dir', name: 'OSV directory /osv', updated: '2026-12-01T00:00:00Z' }], findings: [], counts: ZERO },
    secrets: { scanned: true, findings: [] },
    provenance: { present: true, predicateType: 'https://slsa.dev/provenance/v1', predicate: { buildDefinition: { buildType: 'x' } } },
    signature: { signed: false, how: 'none' },
    ...overrides,
  };
}

async function rejects(text: string, pattern: RegExp, file = 'p.yaml'): Promise<StagecraftError> {
  const error = await parsePolicy(text, file).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof StagecraftError, `expected a StagecraftError, got ${String(error)}`);
  assert.equal(error.code, 'POLICY_INVALID');
  assert.match(`${error.message}\n${error.hint ?? ''}`, pattern);
  return error;
}

function result(verdict: Verdict, name: string): { passed: boolean; evidence: string } {
  const r = verdict.results.find((x) => x.name === name);
  assert.ok(r, `no result for ${name}`);
  return { passed: r.passed, evidence: r.evidence.join('\n') };
}

async function check(rules: string, over: Partial<PolicyInput> = {}): Promise<Verdict> {
  return evaluatePolicy(await parsePolicy(rules, 'p.yaml'), input(over));
}

describe('policy file', () => {
  it('reads YAML and JSON into the same policy', async () => {
    const yaml = await parsePolicy('rules:\n  maxSize: 500MB\n  forbidRootUser: true\n  maxSeverity: { severity: high, fixedOnly: true }\ncel:\n  - name: src\n    expression: "\'org.opencontainers.image.source\' in image.labels"\n', 'p.yaml');
    const json = await parsePolicy('{"rules": {"maxSize": "500MB", "forbidRootUser": true, "maxSeverity": {"severity": "HIGH", "fixedOnly": true}}, "cel": [{"name": "src", "expression": "\'org.opencontainers.image.source\' in image.labels"}]}', 'p.json');
    assert.deepEqual(yaml.rules, json.rules);
    assert.deepEqual(yaml.rules.maxSize, { bytes: 500_000_000, unit: 'MB' });
    assert.deepEqual(yaml.rules.maxSeverity, { severity: 'HIGH', fixedOnly: true });
    assert.equal(yaml.cel[0]?.name, 'src');
    assert.equal(json.cel.length, 1);
  });

  it('gives the line and column of a YAML syntax error', async () => {
    const error = await rejects('rules:\n  maxSize: 500MB\n  forbidRootUser: [true\n', /p\.yaml:\d+:\d+/);
    assert.ok(error.location !== undefined && error.location.range.start.line >= 3, JSON.stringify(error.location));
  });

  it('gives the line and column of a JSON syntax error', async () => {
    const error = await rejects('{\n  "rules": {\n    "maxSize": 5,,\n  }\n}\n', /p\.json:3:\d+/, 'p.json');
    assert.equal(error.location?.file, 'p.json');
  });

  it('names an unknown rule at its line with the closest rule', async () => {
    const error = await rejects('rules:\n  maxSize: 1GB\n  forbidRootUsr: true\n', /p\.yaml:3:3: unknown rule "forbidRootUsr"[\s\S]*did you mean "forbidRootUser"/);
    assert.deepEqual(error.location?.range.start, { line: 3, column: 3 });
  });

  it('says where a top-level rule belongs', async () => {
    await rejects('maxSize: 1GB\n', /unknown key "maxSize"[\s\S]*under "rules:"/);
    await rejects('rule:\n  maxSize: 1GB\n', /unknown key "rule"[\s\S]*did you mean "rules"/);
  });

  it('rejects bad values at their position', async () => {
    await rejects('rules:\n  maxSize: lots\n', /p\.yaml:2:12: rules\.maxSize: invalid size "lots"/);
    await rejects('rules:\n  maxSeverity: severe\n', /unknown severity "severe"/);
    await rejects('rules:\n  forbidPackages: []\n', /at least one pattern/);
    await rejects('rules:\n  requireSbom: yes please\n', /p\.yaml:2:16: rules\.requireSbom/);
    await rejects('', /empty/);
    await rejects('rules: {}\n', /no rules/);
  });

  it('reports a CEL expression that does not compile, with its position', async () => {
    const error = await rejects('cel:\n  - name: broken\n    expression: "image.size +"\n', /CEL rule "broken": Unexpected token[\s\S]*column 13/);
    assert.deepEqual(error.location?.range.start, { line: 3, column: 30 });
    await rejects('cel:\n  - name: typo\n    expression: "imgae.size > 1"\n', /Unknown variable: imgae/);
    await rejects('cel:\n  - name: notbool\n    expression: "1 + 2"\n', /a rule must be a bool/);
    await rejects('cel:\n  - name: same\n    expression: "true"\n  - name: same\n    expression: "false"\n', /two CEL rules are named "same"/);
  });
});

describe('policy rules', () => {
  it('maxSize: passes under, fails over with the sizes as evidence', async () => {
    const over = result(await check('rules:\n  maxSize: 10MB\n'), 'maxSize');
    assert.equal(over.passed, false);
    assert.match(over.evidence, /size 12 MB > 10 MB \(12000000 bytes\)/);
    const under = result(await check('rules:\n  maxSize: 500 MB\n'), 'maxSize');
    assert.equal(under.passed, true);
    assert.match(under.evidence, /size 12 MB <= 500 MB/);
    assert.deepEqual(parseSize('1.5GiB'), { bytes: 1610612736, unit: 'GiB' });
    assert.equal(parseSize('12 parsecs'), undefined);
  });

  it('forbidRootUser: an empty USER, root and 0 are root', async () => {
    assert.equal(result(await check('rules:\n  forbidRootUser: true\n'), 'forbidRootUser').passed, true);
    for (const user of ['', 'root', '0', '0:0', 'root:staff']) {
      const r = result(await check('rules:\n  forbidRootUser: true\n', { image: { ...input().image, user } }), 'forbidRootUser');
      assert.equal(r.passed, false, user);
      assert.match(r.evidence, user === '' ? /sets no USER/ : new RegExp(`USER ${user}`));
    }
  });

  it('forbidPackages: names each forbidden package with version and layer; no catalog is a failure', async () => {
    const found = result(await check('rules:\n  forbidPackages: [gcc*, "g++*", apt]\n'), 'forbidPackages');
    assert.equal(found.passed, false);
    assert.match(found.evidence, /gcc 4:12\.2\.0-3 \(deb\) found in final stage: \/var\/lib\/dpkg\/status, layer sha256:c{64}/);
    assert.doesNotMatch(found.evidence, /libc6/);
    assert.equal(result(await check('rules:\n  forbidPackages: [clang, make]\n'), 'forbidPackages').passed, true);
    const unknown = result(await check('rules:\n  forbidPackages: [gcc]\n', { sbom: { attached: false, cataloged: false, packages: [] } }), 'forbidPackages');
    assert.equal(unknown.passed, false);
    assert.match(unknown.evidence, /no package data/);
  });

  it('allowedBases: repository, tag, glob and digest patterns', async () => {
    const base = { ref: 'docker.io/library/debian:bookworm', digest: `sha256:${'d'.repeat(64)}` } as const;
    assert.ok(baseAllowed(base, 'debian'));
    assert.ok(baseAllowed(base, 'debian:bookworm'));
    assert.ok(!baseAllowed(base, 'debian:12'));
    assert.ok(baseAllowed(base, 'docker.io/library/*'));
    assert.ok(baseAllowed(base, 'docker.io/*/debian'));
    assert.ok(baseAllowed(base, 'deb?an'));
    assert.ok(!baseAllowed(base, 'docker.io/*/debian:12'));
    assert.ok(baseAllowed(base, `sha256:${'d'.repeat(64)}`));
    assert.ok(baseAllowed(base, `debian@sha256:${'d'.repeat(64)}`));
    assert.ok(!baseAllowed(base, `debian@sha256:${'e'.repeat(64)}`));
    assert.ok(!baseAllowed(base, 'alpine'));
    assert.ok(!baseAllowed(base, 'docker.io/library/debian-*'));
    const denied = result(await check('rules:\n  allowedBases: [alpine, "registry.example.com/*"]\n'), 'allowedBases');
    assert.equal(denied.passed, false);
    assert.match(denied.evidence, /base docker\.io\/library\/debian:bookworm \(sha256:d{64}\) matches none of alpine, registry\.example\.com\/\*/);
    assert.equal(result(await check('rules:\n  allowedBases: [debian]\n'), 'allowedBases').passed, true);
    assert.equal(result(await check('rules:\n  allowedBases: [debian]\n', { bases: { known: true, images: [] } }), 'allowedBases').passed, true);
    const unknown = result(await check('rules:\n  allowedBases: [debian]\n', { bases: { known: false, images: [] } }), 'allowedBases');
    assert.equal(unknown.passed, false);
    assert.match(unknown.evidence, /no base image data/);
  });

  it('requireSbom, requireProvenance, requireSignature', async () => {
    const rules = 'rules:\n  requireSbom: true\n  requireProvenance: true\n  requireSignature: true\n';
    const verdict = await check(rules);
    assert.equal(result(verdict, 'requireSbom').passed, true);
    assert.equal(result(verdict, 'requireProvenance').passed, true);
    assert.equal(result(verdict, 'requireSignature').passed, false);
    assert.match(result(verdict, 'requireSignature').evidence, /not signed/);
    const bare = await check(rules, { sbom: { attached: false, cataloged: true, packages: [] }, provenance: { present: false, predicateType: '', predicate: {} }, signature: { signed: true, how: 'build' } });
    assert.equal(result(bare, 'requireSbom').passed, false);
    assert.match(result(bare, 'requireSbom').evidence, /no SBOM attestation/);
    assert.equal(result(bare, 'requireProvenance').passed, false);
    assert.equal(result(bare, 'requireSignature').passed, true);
    assert.match(result(bare, 'requireSignature').evidence, /the build signs/);
  });

  it('maxSeverity: no data is a failure that says so, 0 findings with data pass', async () => {
    const noData = result(await check('rules:\n  maxSeverity: HIGH\n', { vulnerabilities: { scanned: true, hasData: false, sources: [], findings: [], counts: ZERO } }), 'maxSeverity');
    assert.equal(noData.passed, false);
    assert.match(noData.evidence, /no vulnerability data/);
    const clean = result(await check('rules:\n  maxSeverity: LOW\n'), 'maxSeverity');
    assert.equal(clean.passed, true);
    assert.match(clean.evidence, /0 vulnerabilities, none above LOW \(OSV directory \/osv, updated 2026-12-01/);
    const notScanned = result(await check('rules:\n  maxSeverity: HIGH\n', { vulnerabilities: { scanned: false, hasData: false, sources: [], findings: [], counts: ZERO } }), 'maxSeverity');
    assert.equal(notScanned.passed, false);
    assert.match(notScanned.evidence, /not scanned/);
  });

  it('maxSeverity: counts findings above the limit; fixedOnly ignores those without a fix; UNKNOWN counts as HIGH', async () => {
    const finding = (id: string, severity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'UNKNOWN', fixedVersion: string) => ({ id, aliases: [], package: 'libssl3', version: '3.0.11-1', ecosystem: 'Debian', severity, fixedVersion, fixed: fixedVersion !== '', source: 'OSV directory /osv' });
    const vulnerabilities = { scanned: true, hasData: true, sources: input().vulnerabilities.sources, findings: [finding('CVE-2024-1', 'CRITICAL', ''), finding('CVE-2024-2', 'HIGH', '3.0.13-1'), finding('CVE-2024-3', 'UNKNOWN', '3.0.13-1')], counts: { ...ZERO, CRITICAL: 1, HIGH: 1, UNKNOWN: 1 } };
    const high = result(await check('rules:\n  maxSeverity: HIGH\n', { vulnerabilities }), 'maxSeverity');
    assert.equal(high.passed, false);
    assert.match(high.evidence, /1 vulnerabilities above HIGH/);
    assert.match(high.evidence, /CVE-2024-1 CRITICAL in libssl3 3\.0\.11-1 \(no fix named\)/);
    const fixedOnly = result(await check('rules:\n  maxSeverity: { severity: HIGH, fixedOnly: true }\n', { vulnerabilities }), 'maxSeverity');
    assert.equal(fixedOnly.passed, true, fixedOnly.evidence);
    const medium = result(await check('rules:\n  maxSeverity: { severity: MEDIUM, fixedOnly: true }\n', { vulnerabilities }), 'maxSeverity');
    assert.equal(medium.passed, false);
    assert.match(medium.evidence, /CVE-2024-2 HIGH in libssl3 3\.0\.11-1 \(fixed in 3\.0\.13-1\)/);
    assert.match(medium.evidence, /CVE-2024-3 UNKNOWN/);
    assert.equal(result(await check('rules:\n  maxSeverity: NONE\n'), 'maxSeverity').passed, true);
  });

  it('noSecrets: findings name layer, path and line, never a value; not scanned fails', async () => {
    const secrets = { scanned: true, findings: [{ rule: '@secretlint/secretlint-rule-npm', site: 'layer' as const, path: '/app/.npmrc', layer: 2, line: 1, deleted: true, fingerprint: 'sha256:0123456789abcdef' }] };
    const found = result(await check('rules:\n  noSecrets: true\n', { secrets }), 'noSecrets');
    assert.equal(found.passed, false);
    assert.match(found.evidence, /@secretlint\/secretlint-rule-npm at layer 2 \/app\/\.npmrc:1 \(deleted by a later layer, still in the image\) \[sha256:0123456789abcdef\]/);
    assert.equal(result(await check('rules:\n  noSecrets: true\n'), 'noSecrets').passed, true);
    const notScanned = result(await check('rules:\n  noSecrets: true\n', { secrets: { scanned: false, findings: [] } }), 'noSecrets');
    assert.equal(notScanned.passed, false);
    assert.match(notScanned.evidence, /not scanned for secrets/);
  });

  it('a verdict passes only when every rule passes; the text lists every rule with its evidence', async () => {
    const verdict = await check('rules:\n  maxSize: 500MB\n  forbidRootUser: true\n  forbidPackages: [gcc]\n');
    assert.equal(verdict.passed, false);
    const text = formatVerdict(verdict);
    assert.match(text, /policy p\.yaml: FAIL \(2 passed, 1 failed\)/);
    assert.match(text, /pass {2}maxSize\n {10}size 12 MB <= 500 MB/);
    assert.match(text, /FAIL {2}forbidPackages\n {10}gcc 4:12\.2\.0-3/);
    assert.equal((await check('rules:\n  maxSize: 500MB\n')).passed, true);
  });
});

describe('policy CEL rules', () => {
  it('evaluate over the whole input object', async () => {
    const policy = await parsePolicy([
      'cel:',
      '  - name: small',
      '    expression: image.size < 200 * 1024 * 1024',
      '  - name: source-label',
      '    expression: "\'org.opencontainers.image.source\' in image.labels"',
      '  - name: few-layers',
      '    expression: image.layers.size() <= 1',
      '    message: at most one layer',
      '  - name: no-compilers',
      '    expression: "!sbom.packages.exists(p, p.name.startsWith(\'gcc\'))"',
      '  - name: no-critical',
      '    expression: vulnerabilities.hasData && vulnerabilities.counts.CRITICAL == 0',
      '  - name: signed-with-provenance',
      '    expression: signature.signed || provenance.predicate.buildDefinition.buildType == "x"',
      '  - name: debian-only',
      '    expression: bases.images.all(b, b.ref.startsWith("docker.io/library/debian"))',
      '  - name: secrets-clean',
      '    expression: secrets.scanned && secrets.findings.size() == 0',
      '  - name: missing-key',
      '    expression: image.config.Healthcheck.Test.size() > 0',
    ].join('\n'), 'p.yaml');
    const verdict = evaluatePolicy(policy, input());
    const by = (name: string): { passed: boolean; evidence: string } => result(verdict, name);
    assert.equal(by('small').passed, true);
    assert.equal(by('source-label').passed, true);
    assert.equal(by('few-layers').passed, false);
    assert.match(by('few-layers').evidence, /false: at most one layer/);
    assert.equal(by('no-compilers').passed, false);
    assert.equal(by('no-critical').passed, true);
    assert.equal(by('signed-with-provenance').passed, true);
    assert.equal(by('debian-only').passed, true);
    assert.equal(by('secrets-clean').passed, true);
    assert.equal(by('missing-key').passed, false);
    assert.match(by('missing-key').evidence, /evaluation failed: No such key: Healthcheck/);
    assert.equal(verdict.passed, false);
    // The same expressions flip with the input.
    const other = evaluatePolicy(policy, input({ image: { ...input().image, size: 300 * 1024 * 1024, labels: {} }, vulnerabilities: { scanned: true, hasData: false, sources: [], findings: [], counts: ZERO } }));
    assert.equal(result(other, 'small').passed, false);
    assert.equal(result(other, 'source-label').passed, false);
    assert.equal(result(other, 'no-critical').passed, false, 'no data must not read as 0 CRITICAL');
  });

  it('scansNeeded: the rules that need a scan ask for it', async () => {
    assert.deepEqual(scansNeeded(await parsePolicy('rules:\n  maxSize: 1GB\n', 'p.yaml')), { secrets: false, vulns: false, packages: false });
    assert.deepEqual(scansNeeded(await parsePolicy('rules:\n  noSecrets: true\n  maxSeverity: HIGH\n  forbidPackages: [gcc]\n', 'p.yaml')), { secrets: true, vulns: true, packages: true });
    assert.deepEqual(scansNeeded(await parsePolicy('cel:\n  - name: x\n    expression: vulnerabilities.hasData\n', 'p.yaml')), { secrets: false, vulns: true, packages: false });
  });
});
