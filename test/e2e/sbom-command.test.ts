/**
 * `stagecraft sbom IMAGE` with the built binary: an image built from the busybox base plus a fixture
 * (dpkg status and status.d, node_modules, Python dist-info/egg-info, jars) in two COPY layers, scanned
 * from the local store and — in an empty store — from a real docker-registry; printed as a table, SPDX
 * 2.3 JSON (validated with the zod schema) and CycloneDX 1.6 JSON (validated with the CycloneDX strict
 * schema); each package attributed to the layer that wrote its file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { z } from 'zod';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeSbomFixture, type SbomFixture } from '../helpers/sbom-fixture.js';
import { SpdxDocument } from '../helpers/spdx-schema.js';

const inspectSchema = z.object({ digest: z.string(), layers: z.array(z.object({ diffId: z.string() })) });
const cdxSchema = z.object({
  metadata: z.object({ timestamp: z.string(), component: z.object({ name: z.string(), version: z.string() }) }),
  components: z.array(z.object({ type: z.string(), name: z.string(), version: z.string().optional(), purl: z.string().optional(), properties: z.array(z.object({ name: z.string(), value: z.string() })).optional() })),
});

describe('stagecraft sbom', () => {
  let env: BuildEnv;
  let fixture: SbomFixture;
  let root: string;
  let tag: string;
  let layers: string[];
  let digest: string;

  function cli(args: readonly string[], options: { root?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
    return runCli(['--root', options.root ?? root, ...args], { env: options.env ?? process.env });
  }
  function ok(args: readonly string[], options: { root?: string; env?: NodeJS.ProcessEnv } = {}): CliRun {
    const run = cli(args, options);
    assert.equal(run.status, 0, `stagecraft ${args.join(' ')}\n${run.stderr}`);
    return run;
  }

  before(async () => {
    env = await startBuildEnv();
    const context = join(env.work, 'ctx');
    await mkdir(context);
    fixture = await makeSbomFixture(join(context, 'rootfs'), { goBinary: false, busybox: false });
    // The OS packages in one layer, the application's in the next: attribution must tell them apart.
    await writeFile(join(context, 'Dockerfile'), `FROM ${env.busybox}\nCOPY rootfs/etc/ /etc/\nCOPY rootfs/var/ /var/\nCOPY rootfs/app/ /app/\nCOPY rootfs/usr/ /usr/\n`);
    root = await env.newRoot();
    tag = `${env.registry.host}/sbom-fixture:1`;
    const built = env.build(['-t', tag, context], { root });
    assert.equal(built.status, 0, built.stderr);
    const inspected = inspectSchema.parse(JSON.parse(ok(['inspect', '--json', tag]).stdout));
    layers = inspected.layers.map((l) => l.diffId);
    digest = inspected.digest;
    assert.equal(layers.length, 5);
  });
  after(() => env.close());

  it('prints the table of an image in the local store', { timeout: 120_000 }, () => {
    const run = ok(['sbom', tag]);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+VERSION\s+TYPE$/u);
    for (const p of fixture.expected.filter((e) => e.type === 'deb')) {
      assert.ok(lines.some((l) => new RegExp(`^${p.name}\\s+${p.version.replace(/[.+]/gu, '\\$&')}\\s+deb$`, 'u').test(l)), `${p.name} ${p.version} missing:\n${run.stdout}`);
    }
    assert.ok(!run.stdout.includes('old-removed'), 'a deinstalled package is not listed');
  });

  it('writes valid SPDX 2.3 with purls, the subject digest and each package\'s layer', { timeout: 120_000 }, () => {
    const out = join(env.work, 'sbom.spdx.json');
    ok(['sbom', '--format', 'spdx-json', '--output', out, tag], { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
    const doc = SpdxDocument.parse(JSON.parse(readFileSync(out, 'utf8')));
    assert.equal(doc.creationInfo.created, '2023-11-14T22:13:20Z');
    const root = doc.packages?.find((p) => p.primaryPackagePurpose === 'CONTAINER');
    assert.equal(root?.versionInfo, digest);
    for (const p of fixture.expected.filter((e) => e.type === 'deb')) {
      const found = doc.packages?.find((q) => q.name === p.name && q.versionInfo === p.version);
      assert.ok(found, `${p.name} missing`);
      assert.ok(found.externalRefs?.some((r) => r.referenceType === 'purl' && r.referenceLocator.startsWith(`pkg:deb/debian/${p.name}@`)));
      assert.ok(found.sourceInfo?.includes(p.path), found.sourceInfo);
      // The dpkg files came with `COPY rootfs/var/`: the third layer (busybox, /etc, /var, …).
      const evident = doc.relationships?.find((r) => r.spdxElementId === found.SPDXID && r.relationshipType === 'OTHER');
      const file = doc.files?.find((f) => f.SPDXID === evident?.relatedSpdxElement);
      assert.equal(file?.fileName, p.path);
      assert.equal(file?.comment, `layerID: ${layers[2]}`);
    }
    // Deterministic with SOURCE_DATE_EPOCH: the same document twice.
    const again = ok(['sbom', '--format', 'spdx-json', tag], { env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
    assert.deepEqual(JSON.parse(again.stdout), JSON.parse(readFileSync(out, 'utf8')));
  });

  it('finds the node_modules, Python and Java packages, each in the layer that copied it', { timeout: 120_000 }, () => {
    const doc = SpdxDocument.parse(JSON.parse(ok(['sbom', '--format', 'spdx-json', tag]).stdout));
    // The layer of each top directory: busybox, then COPY /etc, /var, /app, /usr.
    const layerOfPath = (path: string): string | undefined => layers[['/etc/', '/var/', '/app/', '/usr/'].findIndex((top) => path.startsWith(top)) + 1];
    const purlType = { npm: 'npm', pypi: 'pypi', maven: 'maven' } as const;
    const checked = fixture.expected.filter((e): e is typeof e & { type: keyof typeof purlType } => e.type in purlType);
    assert.ok(checked.length >= 10);
    for (const p of checked) {
      const found = doc.packages?.filter((q) => q.versionInfo === p.version && q.externalRefs?.some((r) => r.referenceType === 'purl' && r.referenceLocator.startsWith(`pkg:${purlType[p.type]}/`) && decodeURIComponent(r.referenceLocator).includes(`${p.name}@`)));
      assert.ok(found !== undefined && found.length > 0, `${p.type} ${p.name} ${p.version} missing`);
      const files = (doc.relationships ?? []).filter((r) => found.some((f) => f.SPDXID === r.spdxElementId) && r.relationshipType === 'OTHER').map((r) => doc.files?.find((f) => f.SPDXID === r.relatedSpdxElement));
      const file = files.find((f) => f?.fileName === p.path);
      assert.ok(file, `${p.name}: no file ${p.path} among ${JSON.stringify(files.map((f) => f?.fileName))}`);
      assert.equal(file.comment, `layerID: ${layerOfPath(p.path)}`, p.path);
    }
  });

  it('writes valid CycloneDX 1.6 with locations and layers as properties', { timeout: 120_000 }, async () => {
    const run = ok(['sbom', '--format', 'cyclonedx-json', tag]);
    assert.equal(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(run.stdout), null);
    const bom = cdxSchema.parse(JSON.parse(run.stdout));
    assert.equal(bom.metadata.component.version, digest);
    assert.ok(bom.components.some((c) => c.type === 'operating-system' && c.name === 'debian'));
    for (const p of fixture.expected.filter((e) => e.type === 'deb')) {
      const found = bom.components.find((c) => c.name === p.name && c.version === p.version);
      assert.ok(found, `${p.name} missing`);
      const props = new Map(found.properties?.map((q) => [q.name, q.value]));
      assert.equal(props.get('stagecraft:location:0:path'), p.path);
      assert.equal(props.get('stagecraft:location:0:layerID'), layers[2]);
    }
  });

  it('scans an image that is only in a registry (an empty store pulls it)', { timeout: 120_000 }, () => {
    ok(['push', tag]);
    const fresh = join(env.work, 'fresh-root');
    const run = ok(['sbom', '--format', 'spdx-json', '--progress', 'quiet', tag], { root: fresh });
    const doc = SpdxDocument.parse(JSON.parse(run.stdout));
    for (const p of fixture.expected.filter((e) => e.type === 'deb')) assert.ok(doc.packages?.some((q) => q.name === p.name && q.versionInfo === p.version), `${p.name} missing`);
  });

  it('fails with the image name and the fix for an image that exists nowhere, and for a bad format', { timeout: 60_000 }, () => {
    const missing = cli(['sbom', `${env.registry.host}/no-such-image:1`]);
    assert.equal(missing.status, 6, missing.stderr);
    assert.match(missing.stderr, /no-such-image:1/u);
    assert.match(missing.stderr, /stagecraft images|check the name/u);
    const bad = cli(['sbom', '--format', 'spdx', tag]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown --format "spdx"/u);
    assert.match(bad.stderr, /table, spdx-json, cyclonedx-json/u);
  });
});
