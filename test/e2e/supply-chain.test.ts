/**
 * One pass (issue 16): `build --sbom --provenance --scan secrets,vulns --vuln-db --policy --sign --push`
 * against a real docker-registry, then from a second, empty state root: the signature and the signed
 * attestations verify (`verify --key --attestations`), the SBOM reads back (`inspect --format`), and
 * `policy check` passes the pushed image.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const ENV = { ...process.env, STAGECRAFT_PASSWORD: 'one pass' };
const OSV = fileURLToPath(new URL('../fixtures/osv', import.meta.url));

const POLICY = `rules:
  requireSbom: true
  requireProvenance: true
  requireSignature: true
  noSecrets: true
  maxSeverity: HIGH
cel:
  - name: vuln-data-used
    expression: vulnerabilities.hasData && vulnerabilities.findings.exists(v, v.package == "left-pad-ish")
`;

function ok(run: CliRun, what: string): CliRun {
  assert.equal(run.status, 0, `${what}: exit ${String(run.status)}\n${run.stdout}\n${run.stderr}`);
  return run;
}

describe('one pass: build, SBOM, provenance, scans, policy, sign, push', () => {
  let env: BuildEnv;
  let context: string;
  before(async () => {
    env = await startBuildEnv();
    context = join(env.work, 'ctx');
    await mkdir(join(context, 'app', 'node_modules', 'left-pad-ish'), { recursive: true });
    // TEST-NPM-0001 (fixtures/osv) affects left-pad-ish < 1.3.1, MODERATE.
    await writeFile(join(context, 'app', 'node_modules', 'left-pad-ish', 'package.json'), JSON.stringify({ name: 'left-pad-ish', version: '1.0.0', license: 'MIT' }));
    await writeFile(join(context, 'app', 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', dependencies: { 'left-pad-ish': '1.0.0' } }));
    await writeFile(join(context, 'Dockerfile'), `FROM ${env.busybox}\nCOPY app /app\nRUN echo ok > /app/ok\n`);
    await writeFile(join(env.work, 'p.yaml'), POLICY);
    ok(runCli(['keygen', '--output-key-prefix', join(env.work, 'k')], { env: ENV }), 'keygen');
  });
  after(async () => env.close());

  it('does all of it in one command, and a second empty state root verifies the result', async () => {
    const image = `${env.registry.host}/app:1`;
    const built = ok(runCli([
      '--root', join(env.work, 'root'), 'build', '--progress=plain', '--sbom=true', '--provenance=mode=max', '--scan', 'secrets,vulns', '--vuln-db', OSV,
      '--policy', join(env.work, 'p.yaml'), '--sign', `key=${join(env.work, 'k.key')}`, '--push', '-t', image, context,
    ], { env: ENV }), 'one-pass build');
    assert.match(built.stderr, /secrets: 0 found/);
    assert.match(built.stderr, /vulnerabilities: 1 \(0 CRITICAL, 0 HIGH, 1 MEDIUM, 0 LOW, 0 UNKNOWN\) from OSV/);
    assert.match(built.stderr, /PASS \(6 passed, 0 failed\)/);
    assert.match(built.stderr, /pass {2}requireSignature\n\s+the build signs the image/);

    const empty = await env.newRoot();
    const verified = JSON.parse(ok(runCli(['--root', empty, 'verify', '--key', join(env.work, 'k.pub'), '--attestations', '--json', image]), 'verify').stdout) as { attestations: { predicateType: string }[] };
    assert.deepEqual(verified.attestations.map((a) => a.predicateType).sort(), ['https://cosign.sigstore.dev/attestation/vuln/v1', 'https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);
    const sbom = JSON.parse(ok(runCli(['--root', empty, 'inspect', '--format', '{{json .SBOM}}', image]), 'inspect SBOM').stdout) as { SPDX?: { packages?: { name: string }[] } };
    assert.ok(sbom.SPDX?.packages?.some((p) => p.name === 'left-pad-ish'), 'the pushed SBOM lists left-pad-ish');
    const check = ok(runCli(['--root', empty, 'policy', 'check', image, '--policy', join(env.work, 'p.yaml'), '--vuln-db', OSV, '--key', join(env.work, 'k.pub')]), 'policy check');
    assert.match(check.stdout, /PASS \(6 passed, 0 failed\)/);
    assert.match(check.stdout, /a signature of the image verifies with the given key/);
  });
});
