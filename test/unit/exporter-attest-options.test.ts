import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StagecraftError } from '../../src/core/index.js';
import { DEFAULT_ATTESTATIONS, parseAttestFlags, scanEnabledForStage } from '../../src/exporter/index.js';

function usageError(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof StagecraftError);
    assert.equal(error.code, 'USAGE');
    assert.match(error.message, message);
    if (hint !== undefined) assert.match(error.hint ?? '', hint);
    return true;
  });
}

describe('--attest / --sbom / --provenance (buildx semantics)', () => {
  it('defaults to buildx: provenance mode=min for image outputs only, no SBOM', () => {
    assert.deepEqual(parseAttestFlags({}), { provenance: { mode: 'min', version: 'v1', inlineOnly: true } });
    assert.deepEqual(parseAttestFlags({}), DEFAULT_ATTESTATIONS);
    assert.deepEqual(parseAttestFlags({}, true), {}, 'BUILDX_NO_DEFAULT_ATTESTATIONS');
  });

  it('--sbom=true adds an SBOM and keeps the default provenance; --sbom=false has none', () => {
    assert.deepEqual(parseAttestFlags({ sbom: 'true' }), { sbom: { scanStage: false, scanContext: false }, provenance: DEFAULT_ATTESTATIONS.provenance });
    assert.deepEqual(parseAttestFlags({ sbom: 'false' }), { provenance: DEFAULT_ATTESTATIONS.provenance });
    assert.deepEqual(parseAttestFlags({ sbom: '1' }).sbom, { scanStage: false, scanContext: false }, 'Go ParseBool forms');
  });

  it('--provenance=false removes all; =true is BuildKit\'s default mode=max; mode=… and csv keys', () => {
    assert.deepEqual(parseAttestFlags({ provenance: 'false' }), {});
    assert.deepEqual(parseAttestFlags({ provenance: 'true' }), { provenance: { mode: 'max', version: 'v1' } });
    assert.deepEqual(parseAttestFlags({ provenance: 'mode=min' }), { provenance: { mode: 'min', version: 'v1' } });
    assert.deepEqual(parseAttestFlags({ provenance: 'mode=full' }).provenance?.mode, 'max');
    assert.deepEqual(
      parseAttestFlags({ attest: ['type=provenance,mode=max,builder-id=https://ci.example/run/1,version=v0.2,reproducible=true,filename=prov.json'] }),
      { provenance: { mode: 'max', version: 'v0.2', builderId: 'https://ci.example/run/1', reproducible: true, filename: 'prov.json' } },
    );
  });

  it('--attest type=sbom with generator, scan-stage, scan-context; disabled=true', () => {
    assert.deepEqual(parseAttestFlags({ attest: ['type=sbom,generator=docker/buildkit-syft-scanner,scan-stage=true,scan-context=true'] }).sbom, { generator: 'docker/buildkit-syft-scanner', scanStage: true, scanContext: true });
    assert.equal(parseAttestFlags({ attest: ['type=sbom,disabled=true'] }).sbom, undefined);
    assert.deepEqual(parseAttestFlags({ attest: ['type=provenance,disabled=true'] }), {});
  });

  it('a later flag of the same type replaces an earlier one; the shorthands come after --attest', () => {
    assert.equal(parseAttestFlags({ attest: ['type=provenance,mode=max', 'type=provenance,mode=min'] }).provenance?.mode, 'min');
    assert.equal(parseAttestFlags({ attest: ['type=provenance,mode=max'], provenance: 'false' }).provenance, undefined);
    assert.deepEqual(parseAttestFlags({ attest: ['type=sbom,scan-stage=true'], sbom: 'true' }).sbom, { scanStage: false, scanContext: false });
  });

  it('unknown types, keys and values are USAGE errors listing the choices', () => {
    usageError(() => parseAttestFlags({ attest: ['type=vex'] }), /unknown attestation type "vex"/, /sbom, provenance/);
    usageError(() => parseAttestFlags({ attest: ['mode=max'] }), /attestation type not specified/);
    usageError(() => parseAttestFlags({ attest: ['type=sbom,colour=red'] }), /unknown key "colour" for type=sbom/, /generator, scan-stage, scan-context/);
    usageError(() => parseAttestFlags({ attest: ['type=provenance,generator=x'] }), /unknown key "generator"/, /mode, builder-id, version, reproducible, filename, inline-only/);
    usageError(() => parseAttestFlags({ provenance: 'mode=medium' }), /invalid provenance mode "medium"/, /min or max/);
    usageError(() => parseAttestFlags({ provenance: 'version=v2' }), /unsupported SLSA provenance version "v2"/, /v1 or v0\.2/);
    usageError(() => parseAttestFlags({ attest: ['type=sbom,scan-stage=maybe'] }), /invalid value "maybe" for scan-stage/);
    usageError(() => parseAttestFlags({ attest: ['type=sbom,disabled=nope'] }), /invalid value "nope" for disabled/);
    usageError(() => parseAttestFlags({ attest: ['type=provenance,filename=../x.json'] }), /invalid filename/);
    usageError(() => parseAttestFlags({ attest: ['type=sbom,justakey'] }), /invalid field "justakey"/);
    usageError(() => parseAttestFlags({ sbom: 'colour=red' }), /unknown key "colour"/);
  });

  it('BUILDKIT_SBOM_SCAN_* values: booleans or stage lists (BuildKit isEnabledForStage)', () => {
    assert.equal(scanEnabledForStage('build', 'true'), true);
    assert.equal(scanEnabledForStage('build', 'false'), false);
    assert.equal(scanEnabledForStage('build', 'deps,build'), true);
    assert.equal(scanEnabledForStage('test', 'deps,build'), false);
    assert.equal(scanEnabledForStage(undefined, 'deps'), false);
    assert.equal(scanEnabledForStage('build', undefined), false);
  });
});
