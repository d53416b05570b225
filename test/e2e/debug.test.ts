/**
 * `stagecraft debug` through the built binary (run `npm run build` first), with real runc and
 * overlayfs: a failed RUN step's filesystem, env, user and working directory are kept; `debug --exec`
 * runs there (again and again: the kept state is not changed); secrets are never kept and only
 * mounted when given again; prune and the keep limit remove states; debug with nothing kept says why;
 * the debug container is confined as a RUN step (no host loopback, no host files, seccomp).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli, type CliRun } from '../helpers/cli.js';

/** Runs the CLI in a pseudo-terminal (script(1)) with `input` typed into it; the terminal's output. */
function inTerminal(args: readonly string[], input: string, extraEnv = ''): { status: number | null; output: string } {
  const command = `${extraEnv}COLUMNS=80 ${process.execPath} ${CLI_PATH} ${args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')}`;
  const run = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], { encoding: 'utf8', input, timeout: 120_000 });
  return { status: run.status, output: run.stdout };
}

/** Every file below `dir` (no symlinks followed), as paths. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesBelow(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** A TCP service on the host's 127.0.0.1 in a process of its own (the CLI runs synchronously). */
async function startLoopbackService(): Promise<{ port: number; connections: () => number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `
const server = require('node:net').createServer((s) => { process.stdout.write('connection\\n'); s.on('error', () => {}); s.end('HOST-LOOPBACK\\n'); });
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const deadline = Date.now() + 10_000;
  let match: RegExpExecArray | null;
  while ((match = /port (\d+)\n/.exec(output)) === null) {
    assert.ok(Date.now() < deadline, 'the loopback service did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port: Number(match[1]),
    connections: () => output.split('\n').filter((l) => l === 'connection').length,
    stop: async () => {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

describe('stagecraft debug: the kept state of a failed RUN step', { timeout: 600_000 }, () => {
  let env: BuildEnv;
  let count = 0;
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  function context(lines: readonly string[]): string {
    const dir = join(env.work, `ctx-${++count}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [`FROM ${env.busybox}`, ...lines, ''].join('\n'));
    return dir;
  }

  const debug = (root: string, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): CliRun => runCli(['--root', root, 'debug', ...args], { env: { ...process.env, ...extraEnv } });
  const buildIdOf = (run: ReturnType<BuildEnv['build']>): string => {
    const started = run.events.find((e) => e.type === 'build.started');
    assert.ok(started !== undefined && 'buildId' in started, run.stderr);
    return String(started.buildId);
  };

  it('keeps the failed step: debug --exec sees its files, env, workdir and user, twice; ls lists it; the log is kept whole', () => {
    const root = join(env.work, 'root-main');
    const dir = context([
      'ENV STEP_ENV=from-the-dockerfile',
      'USER 1000:1000',
      'WORKDIR /tmp/work',
      'RUN for i in $(seq 1 40); do echo "output line $i"; done; echo hi > /tmp/marker && exit 3',
    ]);
    const built = env.build([dir], { root });
    assert.equal(built.status, 1, built.stderr);
    const id = buildIdOf(built);
    // The error summary: the step's last lines and how to debug it.
    assert.match(built.stderr, /exit code: 3/);
    assert.match(built.stderr, /output line 40/);
    assert.match(built.stderr, new RegExp(`stagecraft debug ${id}`));

    const first = debug(root, ['--exec', 'cat /tmp/marker; echo "env=$STEP_ENV"; pwd; id -u; id -g; echo scribble > /tmp/session-file']);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(first.stdout, 'hi\nenv=from-the-dockerfile\n/tmp/work\n1000\n1000\n');

    // The kept state is unchanged by a session: the second sees the marker, not the first's file.
    const second = debug(root, ['--exec', 'cat /tmp/marker; test -e /tmp/session-file && echo leaked || echo clean', id]);
    assert.equal(second.status, 0, second.stderr);
    assert.equal(second.stdout, 'hi\nclean\n');

    // The command's exit status is debug's.
    assert.equal(debug(root, ['--exec', 'exit 7', id]).status, 7);

    const ls = debug(root, ['ls']);
    assert.equal(ls.status, 0, ls.stderr);
    assert.match(ls.stdout, new RegExp(`${id}\\s.*\\s3\\s+${dir.replace(/[.]/g, '\\.')}/Dockerfile:5\\s+\\[.*\\] RUN for i`));
    const listed = JSON.parse(debug(root, ['ls', '--json']).stdout) as { buildId: string; process: { args: string[]; env: string[]; cwd: string; user: string } }[];
    assert.equal(listed[0]?.buildId, id);
    assert.deepEqual(listed[0]?.process.cwd, '/tmp/work');
    assert.deepEqual(listed[0]?.process.user, '1000:1000');
    assert.ok(listed[0]?.process.env.includes('STEP_ENV=from-the-dockerfile'));

    const log = readFileSync(join(root, 'debug', id, 'log'), 'utf8');
    for (let i = 1; i <= 40; i++) assert.ok(log.includes(`output line ${i}\n`), `line ${i} is in the kept log`);
    const printed = debug(root, ['log', id]);
    assert.equal(printed.status, 0, printed.stderr);
    assert.equal(printed.stdout, log);
    assert.equal(debug(root, ['log', 'ffffffffffffffff']).status, 2);
  });

  it('a secret is never kept: not in the record, log or kept filesystem; absent in debug unless given again', () => {
    const root = join(env.work, 'root-secret');
    const value = `s3cr3t-${Date.now()}-value`;
    const secretFile = join(env.work, 'token.txt');
    writeFileSync(secretFile, value);
    const dir = context(['RUN --mount=type=secret,id=tok,target=/run/secrets/tok --mount=type=secret,id=tok,env=TOKEN test "$(cat /run/secrets/tok)" = "$TOKEN" && echo step-saw-secret > /seen && exit 4']);
    const built = env.build(['--secret', `id=tok,src=${secretFile}`, dir], { root });
    assert.equal(built.status, 1, built.stderr);
    assert.match(built.stderr, /exit code: 4/);
    const id = buildIdOf(built);
    const record = readFileSync(join(root, 'debug', id, 'record.json'), 'utf8');
    assert.match(record, /"id": "tok"/);
    for (const file of [...filesBelow(join(root, 'debug')), ...filesBelow(join(root, 'snapshots', 'snapshots'))]) {
      assert.ok(!readFileSync(file).includes(value), `${file} holds the secret value`);
    }

    const without = debug(root, ['--exec', 'cat /seen; test -e /run/secrets/tok && echo present || echo absent; echo "env=${TOKEN-unset}"', id]);
    assert.equal(without.status, 0, without.stderr);
    assert.equal(without.stdout, 'step-saw-secret\nabsent\nenv=unset\n');
    assert.match(without.stderr, /secret tok was not given again: \/run\/secrets\/tok is absent \(pass --secret id=tok,src=FILE/);

    const given = debug(root, ['--secret', `id=tok,src=${secretFile}`, '--exec', 'cat /run/secrets/tok; echo; echo "env=$TOKEN"', id]);
    assert.equal(given.status, 0, given.stderr);
    assert.equal(given.stdout, `${value}\nenv=${value}\n`);
  });

  it('prune removes kept states with their filesystem; the keep limit keeps the newest N', () => {
    const root = join(env.work, 'root-prune');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = env.build([context([`RUN echo attempt-${i} > /attempt && exit 5`])], { root, env: { ...process.env, STAGECRAFT_DEBUG_KEEP: '2' } });
      assert.equal(run.status, 1, run.stderr);
      ids.push(buildIdOf(run));
    }
    const kept = readdirSync(join(root, 'debug')).filter((n) => /^[a-f0-9]{16}$/.test(n)).sort();
    assert.deepEqual(kept, [ids[1], ids[2]].sort(), 'the oldest state went when the third build failed');
    const newest = debug(root, ['--exec', 'cat /attempt']);
    assert.equal(newest.stdout, 'attempt-2\n', newest.stderr);
    const snapshotOf = (id: string): string => (JSON.parse(readFileSync(join(root, 'debug', id, 'record.json'), 'utf8')) as { snapshot: string }).snapshot;
    const snapshots = kept.map(snapshotOf);
    for (const s of snapshots) assert.ok(existsSync(join(root, 'snapshots', 'snapshots', s)));

    const duBefore = JSON.parse(runCli(['--root', root, 'du', '--json']).stdout) as { debug: number; total: number };
    assert.ok(duBefore.debug > 0, 'du counts the kept records and logs');
    // A fresh state survives a default prune (kept 48 h, as build cache); an age filter removes it.
    const young = runCli(['--root', root, 'prune']);
    assert.equal(young.status, 0, young.stderr);
    assert.equal(readdirSync(join(root, 'debug')).filter((n) => /^[a-f0-9]{16}$/.test(n)).length, 2);
    const pruned = runCli(['--root', root, 'prune', '--filter', 'until=0s']);
    assert.equal(pruned.status, 0, pruned.stderr);
    assert.match(pruned.stdout, /2 kept failed steps/);
    assert.deepEqual(readdirSync(join(root, 'debug')), []);
    for (const s of snapshots) assert.ok(!existsSync(join(root, 'snapshots', 'snapshots', s)), `snapshot ${s} was removed`);
    assert.equal((JSON.parse(runCli(['--root', root, 'du', '--json']).stdout) as { debug: number }).debug, 0);
    const after = debug(root, ['--exec', 'true']);
    assert.equal(after.status, 2);
    assert.match(after.stderr, /no failed step is kept to debug/);
  });

  it('mounts are made again: a stage bind from the kept stage, the cache mount by id, tmpfs; a context bind is left out with a note', () => {
    const root = join(env.work, 'root-mounts');
    const dir = join(env.work, `ctx-${++count}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'context-file'), 'from-the-context\n');
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS data`,
      'RUN echo stage-content > /d.txt',
      `FROM ${env.busybox}`,
      'RUN --mount=type=bind,from=data,target=/mnt/data --mount=type=cache,id=dbg-cache,target=/cache --mount=type=tmpfs,target=/scratch --mount=type=bind,target=/ctx <<EOF',
      'echo cached-$((6*7)) > /cache/f',
      'cat /ctx/context-file',
      'exit 8',
      'EOF',
      '',
    ].join('\n'));
    const built = env.build([dir], { root });
    assert.equal(built.status, 1, built.stderr);
    assert.match(built.stderr, /exit code: 8/);
    const run = debug(root, ['--exec', 'cat /mnt/data/d.txt /cache/f; grep -q " /scratch tmpfs" /proc/mounts && echo scratch-is-tmpfs; test -e /ctx/context-file && echo ctx-present || echo ctx-absent']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'stage-content\ncached-42\nscratch-is-tmpfs\nctx-absent\n');
    assert.match(run.stderr, /the bind mount of build context files at \/ctx is not made again/);
    const record = JSON.parse(readFileSync(join(root, 'debug', buildIdOf(built), 'record.json'), 'utf8')) as { process: { args: string[] } };
    assert.deepEqual(record.process.args, ['/bin/sh', '-c', 'echo cached-$((6*7)) > /cache/f\ncat /ctx/context-file\nexit 8\n']);
    const all = runCli(['--root', root, 'prune', '--all']);
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /1 kept failed steps/);
    assert.deepEqual(readdirSync(join(root, 'debug')), []);
  });

  it('debug with nothing kept, or keeping disabled, says why and how to enable it', () => {
    const root = join(env.work, 'root-empty');
    const none = debug(root, ['--exec', 'true']);
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /error: no failed step is kept to debug: no build has failed in a RUN step/);
    assert.match(none.stderr, /hint: stagecraft keeps the failed RUN step of the last 5 failed builds/);
    const unknown = debug(root, ['--exec', 'true', '0123456789abcdef']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no failed step is kept for build 0123456789abcdef/);

    const run = env.build([context(['RUN exit 6'])], { root, env: { ...process.env, STAGECRAFT_DEBUG_KEEP: '0' } });
    assert.equal(run.status, 1, run.stderr);
    assert.doesNotMatch(run.stderr, /stagecraft debug/);
    const disabled = debug(root, ['--exec', 'true'], { STAGECRAFT_DEBUG_KEEP: '0' });
    assert.equal(disabled.status, 2);
    assert.match(disabled.stderr, /keeping failed steps is disabled \(debugKeep is 0\)/);
    assert.match(disabled.stderr, /hint: set "debugKeep" in the config file .* or STAGECRAFT_DEBUG_KEEP/);
    assert.ok(!existsSync(join(root, 'debug')) || readdirSync(join(root, 'debug')).length === 0);

    const noTty = debug(root, []);
    assert.equal(noTty.status, 2);
    assert.match(noTty.stderr, /an interactive debug shell needs a terminal/);
  });

  it('--on-error=debug without a terminal prints how to debug the failed step', () => {
    const root = join(env.work, 'root-onerror');
    const run = env.build(['--on-error=debug', context(['RUN exit 9'])], { root });
    assert.equal(run.status, 1, run.stderr);
    const id = buildIdOf(run);
    assert.match(run.stderr, new RegExp(`not a terminal, so no shell now; to debug the failed step run: stagecraft debug ${id}`));
    const bad = env.build(['--on-error=shell', context(['RUN true'])], { root });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown --on-error "shell"/);
  });

  it('in a terminal: debug opens an interactive shell there; --on-error=debug opens it at once; tty progress prints the failed output whole', () => {
    const root = join(env.work, 'root-tty');
    const long = 'x'.repeat(150);
    const dir = context(['WORKDIR /srv', `RUN for i in $(seq 1 30); do echo "tty line $i ${long}"; done; echo kept > /srv/marker; exit 2`]);
    const built = inTerminal(['--root', root, 'build', '--progress=tty', '--on-error=debug', dir], 'echo "in-shell:$(cat /srv/marker):$(pwd)"; exit 0\n');
    assert.equal(built.status, 1, built.output);
    assert.match(built.output, /opening a shell in the failed step/);
    assert.match(built.output, /in-shell:kept:\/srv/);
    // The live view clips lines to 80 columns and shows the last few; the whole output follows it.
    for (let i = 1; i <= 30; i++) assert.ok(built.output.includes(`tty line ${i} ${long}`), `line ${i} shown whole`);
    assert.match(built.output, /------ output of \[.*\] RUN for i/);

    const shell = inTerminal(['--root', root, 'debug'], 'cat /srv/marker; tty >/dev/null && echo "HAS""-A-TTY"; exit 4\n');
    assert.equal(shell.status, 4, shell.output);
    assert.match(shell.output, /kept\r?\n/);
    assert.match(shell.output, /HAS-A-TTY/);
  });

  it('the debug container is confined as a RUN step: no host loopback, no host files, seccomp and default capabilities', async () => {
    const root = join(env.work, 'root-confined');
    const service = await startLoopbackService();
    try {
      const hostFile = join('/tmp', `stagecraft-debug-host-${process.pid}`);
      writeFileSync(hostFile, 'HOST-FILE\n');
      const built = env.build([context(['RUN exit 1'])], { root });
      assert.equal(built.status, 1, built.stderr);
      const probe = debug(root, ['--exec', `(nc -w 3 127.0.0.1 ${service.port} </dev/null || echo no-loopback); (nc -w 3 10.0.2.2 ${service.port} </dev/null || echo no-gateway); cat ${hostFile} 2>/dev/null || echo no-host-file; grep -E '^(Seccomp|CapEff):' /proc/self/status`]);
      assert.equal(probe.status, 0, probe.stderr);
      assert.doesNotMatch(probe.stdout, /HOST-LOOPBACK|HOST-FILE/);
      assert.match(probe.stdout, /no-loopback\n/);
      assert.match(probe.stdout, /no-gateway\n/);
      assert.match(probe.stdout, /no-host-file\n/);
      assert.match(probe.stdout, /Seccomp:\t2\n/);
      // Docker's default set (moby oci/caps/defaults.go): 0xa80425fb.
      assert.match(probe.stdout, /CapEff:\t00000000a80425fb\n/);
      assert.equal(service.connections(), 0);
    } finally {
      await service.stop();
    }
  });
});
