/**
 * `stagecraft scan secrets IMAGE` with the built binary over real builds (busybox base from a real
 * docker-registry): an `.npmrc` copied in one step and deleted in the next is found in its layer with
 * the Dockerfile line that copied it; an `ENV TOKEN=ghp_…` in the config; a build that uses a secret
 * through `RUN --mount=type=secret` (the bench's w6 shape) is clean. No value reaches stdout or stderr.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli, type CliRun } from '../helpers/cli.js';

function token(seed: string, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (const byte of createHash('sha512').update(seed).digest()) if (out.length < length) out += alphabet[byte % alphabet.length];
  return out;
}
const fingerprint = (value: string): string => `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;

const NPM_TOKEN = `npm_${token('e2e-npm', 36)}`;
const GH_TOKEN = `ghp_${token('e2e-gh', 36)}`;
const API_TOKEN = `sc-e2e-token-${token('e2e-api', 32)}`;
const NETRC_PASSWORD = `sc-e2e-netrc-${token('e2e-netrc', 16)}`;
const VALUES = [NPM_TOKEN, GH_TOKEN, API_TOKEN, NETRC_PASSWORD];

const reportSchema = z.object({
  image: z.string(),
  digest: z.string(),
  scannedBytes: z.number(),
  skippedFiles: z.number(),
  findings: z.array(z.object({
    rule: z.string(),
    site: z.string(),
    path: z.string(),
    line: z.number().optional(),
    deleted: z.boolean().optional(),
    layer: z.object({ index: z.number(), digest: z.string() }).optional(),
    source: z.object({ file: z.string(), line: z.number(), instruction: z.string().optional() }).optional(),
    fingerprint: z.string(),
  })),
});

describe('stagecraft scan secrets (e2e)', { timeout: 600_000 }, () => {
  let env: BuildEnv;
  let root: string;

  function cli(args: readonly string[]): CliRun {
    const run = runCli(['--root', root, ...args]);
    for (const value of VALUES) {
      assert.ok(!run.stdout.includes(value) && !run.stderr.includes(value), `stagecraft ${args.join(' ')} printed a secret value`);
    }
    return run;
  }

  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
  });
  after(() => env.close());

  it('finds an .npmrc deleted by the next step (layer, path, Dockerfile line) and an ENV token in the config', async () => {
    const context = join(env.work, 'leaky');
    await mkdir(context);
    await writeFile(join(context, '.npmrc'), `registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n`);
    await writeFile(join(context, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'WORKDIR /app',
      'COPY .npmrc /app/.npmrc',
      'RUN rm /app/.npmrc && echo built > /app/done',
      `ENV TOKEN=${GH_TOKEN}`,
      '',
    ].join('\n'));
    const tag = `${env.registry.host}/leaky:1`;
    const built = env.build(['--provenance=mode=max', '-t', tag, context], { root });
    assert.equal(built.status, 0, built.stderr);

    const table = cli(['scan', 'secrets', tag]);
    assert.equal(table.status, 1, `exit 1 when secrets are found\n${table.stdout}\n${table.stderr}`);
    const row = table.stdout.split('\n').find((l) => l.includes('/app/.npmrc'));
    assert.ok(row, table.stdout);
    assert.match(row, /^layer 2 \(deleted\)\s+\/app\/\.npmrc\s+2\s+@secretlint\/secretlint-rule-npm\s+sha256:[0-9a-f]{16}\s+Dockerfile:3 COPY \.npmrc \/app\/\.npmrc$/u);
    assert.ok(row.includes(fingerprint(NPM_TOKEN)), row);
    assert.match(table.stdout, /^LAYER\s+PATH\s+LINE\s+RULE\s+FINGERPRINT\s+DOCKERFILE$/mu);
    assert.match(table.stdout, /^config\s+Env\[1\]\s+1\s+@secretlint\/secretlint-rule-github\s+/mu);
    assert.match(table.stdout, /\d+ secrets found/u);

    const json = cli(['scan', 'secrets', '--format', 'json', tag]);
    assert.equal(json.status, 1, json.stderr);
    const report = reportSchema.parse(JSON.parse(json.stdout));
    const npmrc = report.findings.find((f) => f.path === '/app/.npmrc');
    assert.equal(npmrc?.deleted, true);
    assert.equal(npmrc?.line, 2);
    assert.equal(npmrc?.fingerprint, fingerprint(NPM_TOKEN));
    assert.deepEqual(npmrc?.source, { file: 'Dockerfile', line: 3, instruction: 'COPY .npmrc /app/.npmrc' });
    const env1 = report.findings.find((f) => f.site === 'config' && f.path === 'Env[1]');
    assert.equal(env1?.fingerprint, fingerprint(GH_TOKEN));
    assert.ok(report.findings.some((f) => f.site === 'config' && /^history\[\d+\]\.created_by$/u.test(f.path) && f.fingerprint === fingerprint(GH_TOKEN)), 'the ENV line of the history');
    assert.ok(report.findings.some((f) => f.site === 'provenance' && f.fingerprint === fingerprint(GH_TOKEN)), 'the Dockerfile the max provenance carries');
    assert.ok(report.scannedBytes > 0);

    // The size cap is a flag; a cap below the .npmrc skips it (and the config is still scanned).
    const capped = cli(['scan', 'secrets', '--format', 'json', '--max-file-size', '16', tag]);
    const cappedReport = reportSchema.parse(JSON.parse(capped.stdout));
    assert.ok(!cappedReport.findings.some((f) => f.site === 'layer'));
    assert.ok(cappedReport.skippedFiles > 0);
    const bad = cli(['scan', 'secrets', '--max-file-size', 'lots', tag]);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /invalid --max-file-size "lots"/u);
  });

  it('finds nothing in a build that uses its secrets through RUN --mount=type=secret (w6 shape), from the registry too', async () => {
    const context = join(env.work, 'mounted');
    const secrets = join(env.work, 'mounted.secrets');
    await mkdir(context);
    await mkdir(secrets);
    await writeFile(join(secrets, 'api_token'), `${API_TOKEN}\n`);
    await writeFile(join(secrets, 'netrc'), `machine packages.example.internal\nlogin bench\npassword ${NETRC_PASSWORD}\n`);
    await writeFile(join(context, 'Dockerfile'), [
      `FROM ${env.busybox} AS build`,
      'WORKDIR /src',
      'RUN --mount=type=secret,id=api_token,required=true \\',
      '    --mount=type=secret,id=netrc,target=/root/.netrc,required=true \\',
      '    test "$(wc -c < /run/secrets/api_token)" -ge 32 && grep -q \'^machine \' /root/.netrc \\',
      '    && echo "private source: authenticated" > /src/auth.log',
      `FROM ${env.busybox}`,
      'COPY --from=build /src/auth.log /usr/share/svc/auth.log',
      '',
    ].join('\n'));
    const tag = `${env.registry.host}/mounted:1`;
    const built = env.build(['--provenance=mode=max', '--secret', `id=api_token,src=${join(secrets, 'api_token')}`, '--secret', `id=netrc,src=${join(secrets, 'netrc')}`, '-t', tag, '--push', context], { root });
    assert.equal(built.status, 0, built.stderr);
    const local = cli(['scan', 'secrets', tag]);
    assert.equal(local.status, 0, `${local.stdout}\n${local.stderr}`);
    assert.match(local.stdout, /^no secrets found \(.* of text scanned in [0-9a-f]{12}, \d+ binary or oversized files skipped\)$/mu);
    // From the registry, into an empty store.
    const empty = await env.newRoot();
    const remote = runCli(['--root', empty, 'scan', 'secrets', '--format', 'json', tag]);
    assert.equal(remote.status, 0, remote.stderr);
    const report = reportSchema.parse(JSON.parse(remote.stdout));
    assert.deepEqual(report.findings, []);
    assert.ok(report.scannedBytes > 0);
  });
});
