/**
 * scanImageSecrets over images stored in a real content store whose layers are tars crafted byte by
 * byte (test/helpers/tar-craft.ts): each rule family, files deleted by whiteouts and opaque
 * directories of later layers, binaries and the size cap, symlinks not followed, hostile tars, the
 * config, provenance and logs. No value may appear in a report.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import zstd from 'zstd-napi';
import { openContent, type Content } from '../../src/content/index.js';
import type { Digest } from '../../src/core/index.js';
import { Database } from '../../src/db/index.js';
import { fingerprint, scanImageSecrets, type ScanImageSecretsInput, type SecretReport } from '../../src/scan/index.js';
import { archive, dir, entry, file, hardlink, symlink } from '../helpers/tar-craft.js';

/** A deterministic token body of `length` characters from `alphabet`. */
function token(seed: string, length: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string {
  let out = '';
  for (let i = 0; out.length < length; i++) {
    for (const byte of createHash('sha256').update(`${seed}/${i}`).digest()) {
      if (out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

const sha = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

// The secrets (built here, never committed as literals).
const S = {
  npmToken: `npm_${token('npm', 36)}`,
  npmAuth: Buffer.from(`ci:${token('npmauth', 20)}`).toString('base64'),
  github: `ghp_${token('gh', 36)}`,
  gitlab: `glpat-${token('gl', 20)}`,
  slack: `xoxb-1234567890-1234567890123-${token('slack', 24)}`,
  stripe: `sk_live_${token('stripe', 24)}`,
  awsId: `AKIA${token('awsid', 16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`,
  awsSecret: token('awssecret', 40),
  gcpKey: `AIza${token('gcp', 35)}`,
  azureKey: `${token('azure', 86)}==`,
  urlPassword: token('urlpw', 12),
  dbPassword: `p4ss.${token('redis', 10)}`,
  dockerAuth: Buffer.from(`robot:${token('docker', 24)}`).toString('base64'),
  envToken: `ghp_${token('envtok', 36)}`,
  namedArg: token('namedarg', 24),
  logToken: `glpat-${token('logtok', 20)}`,
};
const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
const allValues = [...Object.values(S), pkcs8, rsa, encrypted];

function assertNoValue(text: string, where: string): void {
  for (const value of allValues) assert.ok(!text.includes(value), `${where} shows a secret value`);
  // Not even a recognisable piece of one.
  for (const value of Object.values(S)) assert.ok(!text.includes(value.slice(-16)), `${where} shows part of a secret value`);
}

describe('scanImageSecrets', () => {
  let work: string;
  let db: Database;
  let content: Content;
  const signal = new AbortController().signal;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-scan-secrets-'));
    db = Database.open(join(work, 'metadata.db'));
    content = await openContent({ root: join(work, 'content'), db });
  });
  after(async () => {
    db.close();
    await rm(work, { recursive: true, force: true });
  });

  /** Stores an image whose layers are `tars` (compressed as asked) and returns its manifest digest. */
  async function storeImage(tars: readonly (Buffer | { tar: Buffer; compression: 'gzip' | 'zstd' | 'none' })[], config: Record<string, unknown> = {}): Promise<Digest> {
    const layers = [];
    const diffIds = [];
    for (const item of tars) {
      const { tar, compression } = Buffer.isBuffer(item) ? { tar: item, compression: 'gzip' as const } : item;
      const blob = compression === 'gzip' ? gzipSync(tar) : compression === 'zstd' ? Buffer.from(zstd.compress(tar)) : tar;
      const info = await content.blobs.put(blob);
      layers.push({ mediaType: `application/vnd.oci.image.layer.v1.tar${compression === 'none' ? '' : `+${compression}`}`, digest: info.digest, size: info.size });
      diffIds.push(sha(tar));
    }
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, ...config }));
    const configInfo = await content.blobs.put(configBytes);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configInfo.digest, size: configInfo.size },
      layers,
    }));
    return (await content.blobs.put(manifest)).digest;
  }

  async function scan(manifest: Digest, extra: Partial<ScanImageSecretsInput> = {}): Promise<{ report: SecretReport; warnings: string[] }> {
    const warnings: string[] = [];
    const report = await scanImageSecrets({ content, manifest, warn: (m) => warnings.push(m), signal, ...extra });
    assertNoValue(JSON.stringify(report), 'the report');
    assertNoValue(warnings.join('\n'), 'the warnings');
    return { report, warnings };
  }

  it('finds every rule family in a layer, with path, line, rule and the value\'s fingerprint only', async () => {
    const serviceAccount = JSON.stringify({ type: 'service_account', private_key_id: token('kid', 40), private_key: rsa, client_email: 'x@y.iam.gserviceaccount.com' });
    const layer = archive(
      dir('app/'),
      file('app/.npmrc', `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${S.npmToken}\n`),
      file('app/legacy/.npmrc', `always-auth=true\n_auth=${S.npmAuth}\n`),
      file('root/.ssh/id_rsa', rsa),
      file('root/.ssh/id_ed25519', pkcs8),
      file('etc/keys/signing.key', `# cosign-like\n${encrypted}`),
      file('root/.aws/credentials', `[default]\naws_access_key_id = ${S.awsId}\naws_secret_access_key = ${S.awsSecret}\n`),
      file('app/gcp.js', `const key = "${S.gcpKey}";\n`),
      file('app/sa.json', serviceAccount),
      file('app/azure.env', `AZURE=DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${S.azureKey};EndpointSuffix=core.windows.net\n`),
      file('app/tokens.txt', `one\ngithub ${S.github}\ngitlab ${S.gitlab}\nslack ${S.slack}\nstripe ${S.stripe}\n`),
      file('app/urls.conf', `upstream = https://deploy:${S.urlPassword}@git.example.com/repo.git\ncache = redis://default:${S.dbPassword}@cache.internal:6379/0\nplaceholder = https://user:\${PASSWORD}@example.com/\n`),
      file('root/.docker/config.json', JSON.stringify({ auths: { 'registry.example.com': { auth: S.dockerAuth } } }, null, 2)),
      file('app/clean.js', 'export const answer = 42;\n// AKIAIOSFODNN7EXAMPLE is the documentation key\n'),
    );
    const { report } = await scan(await storeImage([layer]));
    const found = (path: string, rule: string): NonNullable<SecretReport['findings'][number]> => {
      const hit = report.findings.find((f) => f.path === path && f.rule === rule);
      assert.ok(hit, `${rule} in ${path} not found; findings:\n${report.findings.map((f) => `${f.path} ${f.rule}`).join('\n')}`);
      assert.equal(hit.site, 'layer');
      assert.equal(hit.layer?.index, 0);
      assert.equal(hit.deleted, undefined);
      return hit;
    };
    assert.equal(found('/app/.npmrc', '@secretlint/secretlint-rule-npm').line, 2);
    assert.equal(found('/app/legacy/.npmrc', 'stagecraft/npmrc-auth').fingerprint, fingerprint(S.npmAuth));
    found('/root/.ssh/id_rsa', '@secretlint/secretlint-rule-privatekey');
    // The preset wants 100+ base64 characters: an Ed25519 key (64) is stagecraft's rule's.
    assert.equal(found('/root/.ssh/id_ed25519', 'stagecraft/private-key').fingerprint, fingerprint(pkcs8.trim()));
    assert.equal(found('/etc/keys/signing.key', 'stagecraft/private-key').line, 2);
    assert.equal(found('/root/.aws/credentials', 'stagecraft/aws-access-key-id').fingerprint, fingerprint(S.awsId));
    const secret = found('/root/.aws/credentials', '@secretlint/secretlint-rule-aws');
    assert.equal(secret.fingerprint, fingerprint(S.awsSecret), 'the fingerprint names the value, not the whole match');
    assert.equal(secret.line, 3);
    found('/app/gcp.js', 'stagecraft/gcp-api-key');
    found('/app/sa.json', '@secretlint/secretlint-rule-gcp');
    found('/app/azure.env', 'stagecraft/azure-storage-key');
    assert.equal(found('/app/tokens.txt', '@secretlint/secretlint-rule-github').line, 2);
    assert.equal(found('/app/tokens.txt', 'stagecraft/gitlab-token').line, 3);
    assert.equal(found('/app/tokens.txt', '@secretlint/secretlint-rule-slack').line, 4);
    assert.equal(found('/app/tokens.txt', 'stagecraft/stripe-key').fingerprint, fingerprint(S.stripe));
    found('/app/urls.conf', '@secretlint/secretlint-rule-basicauth');
    const redis = report.findings.filter((f) => f.path === '/app/urls.conf' && f.line === 2);
    assert.equal(redis.length, 1, 'the redis URL is reported once (preset or stagecraft rule, not both)');
    assert.ok(!report.findings.some((f) => f.path === '/app/urls.conf' && f.line === 3), 'a ${PASSWORD} template is no secret');
    assert.equal(found('/root/.docker/config.json', 'stagecraft/docker-config-auth').fingerprint, fingerprint(S.dockerAuth));
    assert.ok(!report.findings.some((f) => f.path === '/app/clean.js'), 'the documentation example key is no finding');
    for (const f of report.findings) {
      assert.match(f.fingerprint, /^sha256:[0-9a-f]{16}$/u);
      assert.ok(!/found .*:/u.test(f.message), `message "${f.message}" is the preset's (which prints the value)`);
    }
    assert.equal(new Set(report.findings.map((f) => `${f.path}:${f.line}:${f.fingerprint}`)).size, report.findings.length, 'no duplicates');
    assert.ok(report.scannedBytes > 1000);
  });

  it('reports files that later layers delete (whiteout, opaque directory) or replace, on plain, gzip and zstd layers', async () => {
    const base = archive(
      dir('app/'), file('app/.npmrc', `//r/:_authToken=${S.npmToken}\n`),
      dir('conf/'), dir('conf/sub/'), file('conf/sub/token', `t=${S.github}\n`),
      file('etc/replaced', `k=${S.gitlab}\n`),
      file('keep/visible', `s=${S.stripe}\n`),
    );
    const removes = archive(dir('app/'), file('app/.wh..npmrc'), file('etc/replaced', 'nothing here\n'));
    const empties = archive(dir('conf/'), file('conf/.wh..wh..opq'), file('conf/new', 'fresh\n'));
    const manifest = await storeImage([{ tar: base, compression: 'none' }, { tar: removes, compression: 'zstd' }, { tar: empties, compression: 'gzip' }]);
    const { report } = await scan(manifest);
    const byPath = new Map(report.findings.map((f) => [f.path, f]));
    assert.equal(byPath.get('/app/.npmrc')?.deleted, true, 'removed by a whiteout');
    assert.equal(byPath.get('/conf/sub/token')?.deleted, true, 'under an opaque directory');
    assert.equal(byPath.get('/etc/replaced')?.deleted, true, 'replaced by a later layer');
    assert.equal(byPath.get('/keep/visible')?.deleted, undefined, 'still in the image');
    assert.ok(report.findings.every((f) => f.layer?.index === 0));
  });

  it('skips binaries (magic, NUL bytes) and files over the size cap, counting them', async () => {
    const elf = Buffer.concat([Buffer.from('\x7fELF\x02\x01\x01', 'latin1'), Buffer.from(` ${S.github} `)]);
    const nul = Buffer.concat([Buffer.from(`x=${S.gitlab}\n`), Buffer.alloc(4), Buffer.from('tail')]);
    const big = `${'#'.repeat(5000)}\n${S.stripe}\n`;
    const manifest = await storeImage([archive(file('bin/tool', elf), file('data/blob', nul), file('big.txt', big))]);
    const capped = await scan(manifest, { maxFileBytes: 4096 });
    assert.deepEqual(capped.report.findings, []);
    assert.equal(capped.report.skippedFiles, 3);
    const whole = await scan(manifest, { maxFileBytes: 1 << 20 });
    assert.deepEqual(whole.report.findings.map((f) => [f.path, f.rule]), [['/big.txt', 'stagecraft/stripe-key']]);
    assert.equal(whole.report.skippedFiles, 2);
  });

  it('never follows a symlink or hardlink (not even to a host file holding a secret)', async () => {
    const host = join(work, 'host-secret.npmrc');
    await writeFile(host, `//r/:_authToken=${S.npmToken}\n_auth=${S.npmAuth}\n`);
    const manifest = await storeImage([archive(symlink('app/.npmrc', host), symlink('app/key.p12', host), hardlink('app/hard.npmrc', host.slice(1)))]);
    const { report } = await scan(manifest);
    assert.deepEqual(report.findings, []);
  });

  it('survives hostile tars: a huge size field, names climbing out, control characters', async () => {
    const upper = archive(file('../../../../etc/.npmrc', `//r/:_authToken=${S.npmToken}\n`), file('odd\x1b[31mname', `tok ${S.github}\n`));
    const huge = Buffer.concat([file('ok.txt', `k ${S.gitlab}\n`), entry({ name: 'huge', type: '0', size: 0o77777777777, data: 'short' })]);
    const manifest = await storeImage([{ tar: huge, compression: 'none' }, upper]);
    const { report, warnings } = await scan(manifest);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /^layer 0 \(sha256:[0-9a-f]{64}\) could not be read to its end/u);
    const paths = report.findings.map((f) => f.path).sort();
    assert.deepEqual(paths, ['/etc/.npmrc', '/odd\\x1b[31mname', '/ok.txt']);
    // A huge file is skipped by the cap, never buffered; a huge cap is refused by the reader at the end.
    const tooBig = await storeImage([{ tar: Buffer.concat([entry({ name: 'huge', type: '0', size: 0o77777777777, data: 'x' })]), compression: 'gzip' }]);
    const capped = await scan(tooBig, { maxFileBytes: Number.MAX_SAFE_INTEGER });
    assert.equal(capped.warnings.length, 1);
    assert.deepEqual(capped.report.findings, []);
  });

  it('scans the config (Env, Labels, history), the provenance build args and the logs; names each layer\'s instruction', async () => {
    const layer0 = archive(file('base.txt', 'base\n'));
    const layer1 = archive(file('app/.npmrc', `//r/:_authToken=${S.npmToken}\n`));
    const config = {
      config: { Env: ['PATH=/usr/bin', `TOKEN=${S.envToken}`, 'SECRET_FILE=/run/secrets/x'], Labels: { 'org.example.deploy-token': S.namedArg, maintainer: 'me' } },
      history: [
        { created_by: 'ADD base.tar / # buildkit' },
        { created_by: 'ENV TOKEN=' + S.envToken, empty_layer: true },
        { created_by: `RUN /bin/sh -c echo ${S.github} > /dev/null # buildkit` },
      ],
    };
    const manifest = await storeImage([layer0, layer1], config);
    const provenance = { buildDefinition: { externalParameters: { request: { args: { 'build-arg:NPM_TOKEN': S.namedArg, 'build-arg:VERSION': '1.2.3', 'build-arg:URL': `https://ci:${S.urlPassword}@git.example.com/x` } } } } };
    const logs = [{ name: '[build 3/4] RUN make', text: `compiling\nusing ${S.logToken}\n` }];
    const { report } = await scan(manifest, { provenance, logs });
    const at = (site: string, path: string): SecretReport['findings'][number][] => report.findings.filter((f) => f.site === site && f.path === path);
    assert.equal(at('config', 'Env[1]')[0]?.fingerprint, fingerprint(S.envToken));
    assert.deepEqual(at('config', 'Env[2]'), [], 'a path to a secret is no secret');
    assert.equal(at('config', 'Labels.org.example.deploy-token')[0]?.rule, 'stagecraft/secret-named-variable');
    assert.equal(at('config', 'history[1].created_by')[0]?.fingerprint, fingerprint(S.envToken));
    assert.equal(at('config', 'history[2].created_by').length, 1);
    assert.equal(at('provenance', 'provenance.buildDefinition.externalParameters.request.args.build-arg:NPM_TOKEN')[0]?.fingerprint, fingerprint(S.namedArg));
    assert.equal(at('provenance', 'provenance.buildDefinition.externalParameters.request.args.build-arg:URL').length, 1);
    assert.ok(!report.findings.some((f) => f.path.endsWith('VERSION')));
    const log = at('log', '[build 3/4] RUN make')[0];
    assert.equal(log?.line, 2);
    assert.equal(log?.rule, 'stagecraft/gitlab-token');
    // The layer's instruction from the history (no source given), its secret redacted.
    const npmrc = at('layer', '/app/.npmrc')[0];
    assert.equal(npmrc?.layer?.index, 1);
    assert.deepEqual(npmrc?.source, { file: 'history[2]', line: 0, instruction: 'RUN echo *** > /dev/null' });
    // A source from the caller (the build plan) wins.
    const given = await scan(manifest, { sources: [undefined, { file: 'Dockerfile', line: 7, instruction: `COPY .npmrc /app/ # ${S.github}` }] });
    assert.deepEqual(given.report.findings.find((f) => f.path === '/app/.npmrc')?.source, { file: 'Dockerfile', line: 7, instruction: 'COPY .npmrc /app/ # ***' });
  });

  it('maps findings of many small files linted in one batch back to their own file and line; a disable comment silences nothing', async () => {
    const files = [];
    for (let i = 0; i < 400; i++) files.push(file(`vendor/f${i}.js`, i % 97 === 5 ? `// line1\n// line2\nconst t = "${S.github}";\n` : `// secretlint-disable\nexport const v${i} = ${i};\n`));
    const { report } = await scan(await storeImage([archive(...files)]));
    assert.deepEqual(report.findings.map((f) => `${f.path}:${f.line}`), ['/vendor/f102.js:3', '/vendor/f199.js:3', '/vendor/f296.js:3', '/vendor/f393.js:3', '/vendor/f5.js:3']);
  });

  it('fingerprints name a value without showing it', () => {
    for (const value of allValues) {
      const print = fingerprint(value);
      assert.equal(print, `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`);
      assert.ok(!print.includes(value) && !value.includes(print.slice(7)));
    }
    assert.notEqual(fingerprint(S.github), fingerprint(S.envToken));
  });
});
