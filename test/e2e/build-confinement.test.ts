/**
 * RUN confinement seen from the CLI: `--ssh` sockets are checked before the build starts, and a
 * build started with extra inherited fds (a pipe, a host file, a host directory) and its output
 * redirected to a file shows none of them inside a RUN step; the step runs under seccomp.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';

/** The entries of a /proc directory of a process that may exit at any moment ([] once it has). */
function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function safeReadlink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '?';
  }
}

const O_CLOEXEC = 0o2000000;

/** The fds of process `pid` (or 'self') without close-on-exec, with their targets. */
function inheritableFds(pid: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of safeReaddir(`/proc/${pid}/fdinfo`)) {
    const flags = /^flags:\s*([0-7]+)/mu.exec(safeRead(`/proc/${pid}/fdinfo/${name}`))?.[1];
    if (flags !== undefined && (Number.parseInt(flags, 8) & O_CLOEXEC) === 0) out.set(Number(name), safeReadlink(`/proc/${pid}/fd/${name}`));
  }
  return out;
}

describe('build: RUN confinement from the command line', { timeout: 300_000 }, () => {
  let env: BuildEnv;
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });
  const root = (): string => join(env.work, 'confinement-root');

  it('--ssh with a missing socket or a file that is not a socket fails before the build, naming the path', () => {
    const dir = join(env.work, 'ssh-missing');
    mkdirSync(dir, { recursive: true });
    // an unreachable base: had the build started, the error would be about the registry
    writeFileSync(join(dir, 'Dockerfile'), 'FROM 127.0.0.1:9/unreachable\nRUN --mount=type=ssh true\n');
    const notSocket = join(dir, 'agent.sock');
    writeFileSync(notSocket, 'not a socket');
    const missing = runCli(['--root', root(), 'build', '--ssh', 'default=/missing/socket', dir]);
    assert.equal(missing.status, 4, missing.stderr);
    assert.match(missing.stderr, /--ssh default=\/missing\/socket: agent socket \/missing\/socket does not exist/);
    const fromEnv = runCli(['--root', root(), 'build', '--ssh', 'default', dir], { env: { ...process.env, SSH_AUTH_SOCK: '/missing/agent' } });
    assert.equal(fromEnv.status, 4, fromEnv.stderr);
    assert.match(fromEnv.stderr, /\/missing\/agent \(SSH_AUTH_SOCK\) does not exist/);
    const file = runCli(['--root', root(), 'build', '--ssh', `id=${notSocket}`, dir]);
    assert.equal(file.status, 2, file.stderr);
    assert.match(file.stderr, new RegExp(`${notSocket.replace(/[.]/g, '\\.')} is not a unix socket`));
  });

  it('a step sees only fds 0-2 although stagecraft inherited more and its output goes to a file', () => {
    const dir = join(env.work, 'fds');
    const out = join(env.work, 'fds-out');
    mkdirSync(dir, { recursive: true });
    // `exec >file` redirects the shell for good; a plain `cmd >file` makes busybox ash keep a copy of
    // its stdout at fd 10 (close-on-exec) while cmd runs: the step's own pipe, checked below.
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'RUN readlink /proc/$$/fd/1 | cat > /stdout-pipe; ls -l /proc/$$/fd > /redirected-fds; exec > /shell-fds; ls -l /proc/$$/fd; exec > /ls-fds; ls -l /proc/self/fd; grep -E "^Seccomp:" /proc/self/status > /seccomp',
      '',
    ].join('\n'));
    const canary = join(env.work, 'fds-canary.txt');
    writeFileSync(canary, 'host file\n');
    const stdoutFile = join(env.work, 'fds-stdout');
    const stdoutFd = openSync(stdoutFile, 'w');
    const fileFd = openSync(canary, 'r');
    const dirFd = openSync(env.work, 'r');
    try {
      // fds 3..6 are inherited by stagecraft (a pipe, a host file, a host directory, a pipe), not close-on-exec
      const result = spawnSync(process.execPath, [CLI_PATH, '--root', root(), 'build', '--progress=plain', '-o', `type=local,dest=${out}`, dir], {
        stdio: ['pipe', stdoutFd, 'pipe', 'pipe', fileFd, dirFd, 'pipe'],
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, String(result.stderr));
    } finally {
      for (const fd of [stdoutFd, fileFd, dirFd]) closeSync(fd);
    }
    const names = (listing: string): string[] => listing.split('\n').map((line) => /^l.*\s(\d+)(?: -> .*)?$/u.exec(line)?.[1]).filter((fd): fd is string => fd !== undefined).sort();
    const shell = readFileSync(join(out, 'shell-fds'), 'utf8');
    assert.deepEqual(names(shell), ['0', '1', '2'], shell);
    assert.doesNotMatch(shell, /fds-canary|stagecraft-build-/u);
    const ls = readFileSync(join(out, 'ls-fds'), 'utf8');
    // 3 is ls's own directory
    assert.deepEqual(names(ls), ['0', '1', '2', '3'], ls);
    assert.doesNotMatch(ls, /fds-canary|stagecraft-build-/u);
    assert.equal(readFileSync(join(out, 'seccomp'), 'utf8'), 'Seccomp:\t2\n');
    // While `ls >file` runs, the shell's fd 10 is its own stdout pipe, saved to be restored after.
    const redirected = readFileSync(join(out, 'redirected-fds'), 'utf8');
    const stdoutPipe = readFileSync(join(out, 'stdout-pipe'), 'utf8').trim();
    assert.match(stdoutPipe, /^pipe:\[\d+\]$/u);
    assert.deepEqual(names(redirected), ['0', '1', '10', '2'], redirected);
    assert.ok(redirected.includes(` 10 -> ${stdoutPipe}\n`), redirected);
  });

  it('everything stagecraft opens itself is close-on-exec (only its stdio and the fds it inherited are not)', async () => {
    const dir = join(env.work, 'cloexec');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t sleep 3\nRUN echo two > /two\n`);
    const canary = join(env.work, 'cloexec-canary.txt');
    writeFileSync(canary, 'host file\n');
    // What a child inherits from this process besides its stdio: our own fds that are not close-on-exec.
    const inherited = new Set(inheritableFds('self').keys());
    const fileFd = openSync(canary, 'r');
    // NODE_EXTRA_CA_CERTS makes Node's OpenSSL read that file (without O_CLOEXEC) at startup, before any of our code runs.
    const { NODE_EXTRA_CA_CERTS: _, ...childEnv } = process.env;
    const child = spawn(process.execPath, [CLI_PATH, '--root', join(env.work, 'cloexec-root'), 'build', '--progress=plain', dir], { stdio: ['ignore', 'pipe', 'pipe', fileFd], env: childEnv });
    closeSync(fileFd);
    const stderr: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.stdout?.resume();
    const exited = once(child, 'exit');
    let done = false;
    void exited.then(() => {
      done = true;
    });
    const seen = new Map<number, string>();
    let polls = 0;
    while (!done) {
      for (const [fd, target] of inheritableFds(String(child.pid))) seen.set(fd, target);
      polls++;
      await sleep(20);
    }
    await exited;
    assert.equal(child.exitCode, 0, Buffer.concat(stderr).toString('utf8'));
    assert.ok(polls > 20, `sampled ${polls} times`);
    assert.ok(seen.has(3), 'the fd passed as fd 3 is seen (the sampling works)');
    const unexpected = [...seen].filter(([fd]) => fd > 3 && !inherited.has(fd));
    assert.deepEqual(unexpected, [], `fds stagecraft opened without close-on-exec: ${unexpected.map(([fd, target]) => `${fd} -> ${target}`).join(', ')}`);
  });
});
