import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';
import { HistoryExport, HistoryList, HistoryLogs, HistoryShown, type HistoryBuild } from '../helpers/history-json.js';
import { Database } from '../../src/db/index.js';

const LINES = 3000;
const SECRET = 'e2e-secret-value-5b8c1a';

describe('build history: every build recorded, `stagecraft history ls|show|logs|rm|export`', () => {
  let env: BuildEnv;
  let root: string;
  let dir: string;
  const cli = (args: readonly string[]): ReturnType<typeof runCli> => runCli(['--root', root, ...args]);
  const ok = (args: readonly string[]): ReturnType<typeof runCli> => {
    const run = cli(args);
    assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`);
    return run;
  };
  const list = (...args: string[]): HistoryBuild[] => HistoryList.parse(JSON.parse(ok(['history', 'ls', '--json', ...args]).stdout));

  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
    dir = join(env.work, 'hist');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'file\n');
    writeFileSync(join(dir, 'secret.txt'), SECRET);
  });
  after(async () => {
    await env.close();
  });

  it('records a success, a failing RUN (its whole output, > 100 KB) and a build cancelled with SIGINT', { timeout: 120_000 }, async () => {
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nARG VERSION\nRUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo "built $VERSION" > /v\nCOPY f /f\n`);
    const meta = join(env.work, 'meta.json');
    const good = env.build(['--build-arg', 'VERSION=7', '--build-arg', 'UNUSED=1', '--secret', `id=tok,src=${join(dir, 'secret.txt')}`, '-t', 'hist:ok', '--metadata-file', meta, dir], { root });
    assert.equal(good.status, 0, good.stderr);
    // The record names the image manifest (with attestations, containerimage.digest is the index, as buildx).
    const metadata = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, string>;
    const built = good.events.find((e) => e.type === 'build.completed');
    const digest = built?.type === 'build.completed' ? built.image?.digest : undefined;
    assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/);
    const inspected = runCli(['--root', root, 'inspect', '--json', 'hist:ok']);
    assert.equal((JSON.parse(inspected.stdout) as { digest: string }).digest, digest);

    writeFileSync(join(dir, 'Dockerfile.fail'), `FROM ${env.busybox}\nCOPY f /f\nRUN awk 'BEGIN { for (i = 1; i <= ${LINES}; i++) printf "line %d of the failing step, padded out to make the output long\\n", i }' && exit 3\n`);
    const bad = env.build(['-f', join(dir, 'Dockerfile.fail'), dir], { root });
    assert.equal(bad.status, 1, bad.stderr);

    writeFileSync(join(dir, 'Dockerfile.slow'), `FROM ${env.busybox}\nRUN echo waiting && sleep 60\n`);
    const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'build', '--progress=rawjson', '-f', join(dir, 'Dockerfile.slow'), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/"type":"vertex.log"[^\n]*waiting/.test(seen)) resolve();
      });
    });
    child.kill('SIGINT');
    assert.equal(await exited, 130);

    const builds = list();
    assert.deepEqual(builds.map((b) => b.status), ['cancelled', 'failed', 'success'], 'newest first');
    const [cancelled, failed, success] = builds;
    assert.ok(success !== undefined && failed !== undefined && cancelled !== undefined);
    assert.equal(new Set(builds.map((b) => b.id)).size, 3);
    for (const b of builds) {
      assert.equal(b.project, dir, 'no git remote: the context directory');
      assert.ok(b.endedAt >= b.startedAt);
    }
    assert.equal(success.image?.digest, digest, 'the image digest of the build');
    assert.equal(success.image?.configDigest, metadata['containerimage.config.digest']);
    assert.equal(success.steps.executed + success.steps.cached, success.steps.total);
    assert.deepEqual(success.request.buildArgs.filter((a) => a.name === 'VERSION'), [{ name: 'VERSION', value: '7' }]);
    assert.deepEqual(success.request.secrets, ['tok']);
    assert.deepEqual(success.request.tags, ['hist:ok']);
    assert.ok(success.warnings >= 1, 'the unused build arg warning is counted');
    assert.equal(failed.error?.code, 'BUILD_STEP_FAILED');
    assert.deepEqual(failed.error?.location, { file: join(dir, 'Dockerfile.fail'), line: 3 });
    assert.equal(cancelled.error?.code, 'ABORTED');

    assert.deepEqual(list('--filter', 'status=failed').map((b) => b.id), [failed.id]);
    assert.deepEqual(list('--limit', '1').map((b) => b.id), [cancelled.id]);
    const text = ok(['history', 'ls']).stdout.split('\n');
    assert.match(text[0] ?? '', /^BUILD ID\s+NAME\s+STATUS\s+CREATED AT\s+DURATION\s+CACHED\/TOTAL$/);
    assert.match(text[3] ?? '', new RegExp(`^${success.id}\\s+hist\\s+SUCCESS\\s+.* ago\\s+\\d+\\.\\ds\\s+0/${success.steps.total}$`));
    assert.equal(cli(['history', 'ls', '--filter', 'status=odd']).status, 2);

    // show: the success, with its steps, layers, lines and the warning.
    const shown = HistoryShown.parse(JSON.parse(ok(['history', 'show', '--json', success.id.slice(0, 6)]).stdout));
    assert.equal(shown.build.id, success.id, 'a prefix of the id finds it');
    const run = shown.steps.find((s) => s.name.includes('RUN --mount=type=secret'));
    assert.equal(run?.status, 'done');
    assert.equal(run?.location?.line, 3);
    assert.match(run?.layer?.digest ?? '', /^sha256:[0-9a-f]{64}$/);
    const copy = shown.steps.find((s) => s.name.includes('COPY f /f'));
    assert.equal(copy?.location?.line, 4);
    assert.ok((copy?.layer?.size ?? 0) > 0);
    // Each step's cache key as the build's events told it (rawjson), for a miss and for the FROM step.
    const told = new Map(good.events.flatMap((e) => ((e.type === 'vertex.started' || e.type === 'vertex.cached') && e.cacheKey !== undefined ? [[e.vertex, e.cacheKey] as const] : [])));
    assert.ok(shown.steps.length > 0 && shown.steps.every((s) => s.cacheKey !== undefined && s.cacheKey === told.get(s.vertex)), JSON.stringify(shown.steps.map((s) => [s.name, s.cacheKey])));
    const copyKey = copy?.cacheKey;
    assert.ok(shown.warnings.some((w) => /UNUSED/.test(w.message)), JSON.stringify(shown.warnings));
    const showText = ok(['history', 'show', success.id]).stdout;
    assert.match(showText, /^Status:\s+SUCCESS$/m);
    assert.match(showText, new RegExp(`^Image:\\s+${digest}$`, 'm'));
    assert.match(showText, /^#\s+STATUS\s+DURATION\s+LINE\s+CACHE KEY\s+LAYER\s+NAME$/m);
    assert.match(showText, new RegExp(`\\s${(copyKey ?? 'none').slice(7, 19)}\\s+[0-9a-f]{12} .*COPY f /f`), 'the short cache key in the steps table');
    assert.match(showText, /Warnings \(\d+\):/);

    // The failing build: exit code and line on its step; `logs` has its whole output.
    const failedShown = HistoryShown.parse(JSON.parse(ok(['history', 'show', '--json', '^2']).stdout));
    const failing = failedShown.steps.find((s) => s.status === 'failed');
    assert.equal(failing?.exitCode, 3);
    assert.equal(failing?.location?.line, 3);
    assert.match(ok(['history', 'show', '^2']).stdout, /BUILD_STEP_FAILED at .*Dockerfile\.fail:3/);
    const logs = ok(['history', 'logs', failed.id, '--step', String(failing?.seq)]).stdout;
    const expected = Array.from({ length: LINES }, (_, i) => `line ${i + 1} of the failing step, padded out to make the output long\n`).join('');
    assert.ok(expected.length > 100_000);
    assert.equal(logs, expected, 'the whole output of the failing step, not clipped');
    const jsonLogs = HistoryLogs.parse(JSON.parse(ok(['history', 'logs', '--json', failed.id]).stdout));
    assert.equal(jsonLogs.find((l) => l.seq === failing?.seq)?.text, expected);
    assert.equal(cli(['history', 'logs', failed.id, '--step', '99']).status, 6);

    const cancelledShown = HistoryShown.parse(JSON.parse(ok(['history', 'show', '--json', '^1']).stdout));
    assert.equal(cancelledShown.steps.find((s) => s.name.includes('sleep 60'))?.status, 'cancelled');
    assert.match(ok(['history', 'logs', '^1']).stdout, /RUN echo waiting && sleep 60\nwaiting\n/);

    // export: one JSON document with the record, steps, warnings and logs.
    const file = join(env.work, 'export.json');
    ok(['history', 'export', failed.id, '-o', file]);
    const exported = HistoryExport.parse(JSON.parse(readFileSync(file, 'utf8')));
    assert.equal(exported.build.id, failed.id);
    assert.equal(exported.logs.find((l) => l.seq === failing?.seq)?.text, expected);
    assert.equal(ok(['history', 'export', failed.id]).stdout, readFileSync(file, 'utf8'), 'to stdout too');

    // No secret value anywhere in the state root's database.
    const db = join(root, 'metadata.db');
    const bytes = Buffer.concat([readFileSync(db), (() => { try { return readFileSync(`${db}-wal`); } catch { return Buffer.alloc(0); } })()]);
    assert.ok(bytes.includes(Buffer.from('"value":"7"')), 'the build arg value is there (the search works)');
    assert.ok(!bytes.includes(Buffer.from(SECRET)), 'the secret value is not in the database');

    // The old `stagecraft history IMAGE` still shows the image's history, with a note.
    const old = ok(['history', 'hist:ok']);
    assert.match(old.stdout, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/m);
    assert.match(old.stderr, /deprecated; use `stagecraft image history hist:ok`/);

    // rm: by ^N, by id, unknown, by age, --all.
    assert.equal(ok(['history', 'rm', '^1']).stdout, `${cancelled.id}\n`);
    assert.deepEqual(list().map((b) => b.id), [failed.id, success.id]);
    assert.equal(cli(['history', 'rm', 'ffffffffffff']).status, 6);
    assert.equal(cli(['history', 'rm']).status, 2);
    assert.equal(cli(['history', 'rm', '--older-than', 'soon']).status, 2);
    assert.deepEqual(JSON.parse(ok(['history', 'rm', '--older-than', '1000h', '--json']).stdout), { removed: [] });
    assert.deepEqual(JSON.parse(ok(['history', 'rm', '--older-than', '1ms', '--json']).stdout), { removed: [failed.id, success.id] });
    // A warm rebuild is recorded too, its steps from the cache.
    const again = env.build(['--build-arg', 'VERSION=7', '--secret', `id=tok,src=${join(dir, 'secret.txt')}`, dir], { root });
    assert.equal(again.status, 0, again.stderr);
    const [warm] = list();
    assert.equal(warm?.status, 'success');
    // The solver looks no further than the cached target: its inputs are not visited.
    assert.ok((warm?.steps.cached ?? 0) >= 1 && warm?.steps.executed === 0, JSON.stringify(warm?.steps));
    const warmCopy = HistoryShown.parse(JSON.parse(ok(['history', 'show', '--json', warm?.id ?? '']).stdout)).steps.find((s) => s.name.includes('COPY f /f'));
    assert.equal(warmCopy?.status, 'cached');
    assert.equal(warmCopy?.cacheKey, copyKey, 'the hit is on the key the first build saved');
    assert.deepEqual(JSON.parse(ok(['history', 'rm', '--all', '--json']).stdout), { removed: [warm?.id] });
    assert.deepEqual(list(), []);
    assert.equal(cli(['history', 'show', '^1']).status, 6);
  });

  it('a history of a newer schema never blocks a build: one warning, the build succeeds; `history ls` says why it cannot read it', { timeout: 60_000 }, async () => {
    const newer = await env.newRoot();
    writeFileSync(join(dir, 'Dockerfile.plain'), `FROM ${env.busybox}\nCOPY f /f\n`);
    const first = env.build(['-f', join(dir, 'Dockerfile.plain'), dir], { root: newer });
    assert.equal(first.status, 0, first.stderr);
    {
      using db = Database.open(join(newer, 'metadata.db'));
      db.writeTransaction(() => db.command("INSERT INTO schema_migrations (owner, version, description, applied_at) VALUES ('history', 99, 'from a newer stagecraft', 0)")({}));
    }
    const second = env.build(['-f', join(dir, 'Dockerfile.plain'), dir], { root: newer });
    assert.equal(second.status, 0, second.stderr);
    // Build checks' warnings (rule set) aside: one warning about the history.
    const warnings = second.events.filter((e) => e.type === 'build.warning' && e.rule === undefined).map((e) => (e.type === 'build.warning' ? e.message : ''));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /build history cannot be used, this build is not recorded: .*schema version 99 of "history", newer than this stagecraft knows/);
    assert.ok(second.events.some((e) => e.type === 'build.completed'));
    const ls = runCli(['--root', newer, 'history', 'ls']);
    assert.equal(ls.status, 8);
    assert.match(ls.stderr, /schema version 99 of "history", newer than this stagecraft knows[\s\S]*use a newer stagecraft with this state root/);
  });
});
