/**
 * The runc executor against real runc (root) and a busybox rootfs: output, exit codes, env, cwd,
 * USER, network, hostname, secrets (tmpfs only, gone afterwards), tmpfs and bind mounts, stdin,
 * abort, concurrency. After every test no runc container, mount or run directory is left.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { createRuncExecutor, type ExecResult, type ExecSpec, type Executor } from '../../src/executor/index.js';
import { makeBusyboxRootfs } from '../helpers/base-image.js';

let base: string;
let stateDir: string;
let runDir: string;
let executor: Executor;
let rootfsCount = 0;

interface Outcome {
  readonly result: ExecResult;
  readonly stdout: string;
  readonly stderr: string;
}

async function newRootfs(): Promise<string> {
  const dir = join(base, `rootfs-${rootfsCount++}`);
  await makeBusyboxRootfs(dir);
  return dir;
}

function spec(rootfs: string, script: string, extra: Partial<ExecSpec> = {}): ExecSpec {
  return { rootfs, args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', network: 'default', mounts: [], ...extra };
}

async function run(execSpec: ExecSpec, options: { signal?: AbortSignal; stdin?: PassThrough; onStdout?: (text: string) => void; using?: Executor } = {}): Promise<Outcome> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const result = await (options.using ?? executor).run(
    execSpec,
    {
      stdout: (chunk) => {
        stdout.push(chunk);
        options.onStdout?.(Buffer.concat(stdout).toString('utf8'));
      },
      stderr: (chunk) => stderr.push(chunk),
      ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
    },
    options.signal ?? new AbortController().signal,
  );
  return { result, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
}

function mountsUnder(path: string): string[] {
  return execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(path));
}

function runcContainers(): string[] {
  return execFileSync('runc', ['--root', stateDir, 'list', '-q'], { encoding: 'utf8' }).split('\n').filter((line) => line !== '');
}

/** Files under `dir` containing `needle` (grep -r; exit 1 means none). */
function filesContaining(dir: string, needle: string): string[] {
  const result = spawnSync('grep', ['-r', '-l', '-a', '-F', needle, dir], { encoding: 'utf8' });
  if (result.status === 1) return [];
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line !== '');
}

function rejectsWith(code: string, pattern: RegExp): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isStagecraftError(error), `expected a StagecraftError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

before(async () => {
  base = await mkdtemp(join(tmpdir(), 'executor-runc-'));
  stateDir = join(base, 'state');
  runDir = join(base, 'run');
  executor = createRuncExecutor({ stateDir, runDir, killGraceMs: 60_000 });
});

afterEach(async () => {
  assert.deepEqual(runcContainers(), [], 'no runc container is left');
  assert.deepEqual(mountsUnder(base), [], 'nothing stays mounted');
  assert.deepEqual(await readdir(runDir).catch(() => []), [], 'no run directory is left');
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('runc executor', { timeout: 120_000 }, () => {
  let rootfs: string;
  before(async () => {
    rootfs = await newRootfs();
    await appendFile(join(rootfs, 'etc/group'), 'wheel:x:10:app\nstaff:x:50:root,app\n');
  });

  it('captures stdout and stderr separately and propagates the exit code', async () => {
    const { result, stdout, stderr } = await run(spec(rootfs, 'echo to-out; echo to-err >&2; exit 7'));
    assert.equal(stdout, 'to-out\n');
    assert.equal(stderr, 'to-err\n');
    assert.equal(result.exitCode, 7);
    assert.equal(result.signal, undefined);
    assert.ok(result.durationMs >= 0);
  });

  it('a failing command reports its exit code; a killed one its signal', async () => {
    assert.equal((await run({ ...spec(rootfs, ''), args: ['/bin/false'] })).result.exitCode, 1);
    const killed = await run(spec(rootfs, 'sleep 30 & kill -KILL $!; wait $!; exit $?'));
    assert.equal(killed.result.exitCode, 137);
    assert.equal(killed.result.signal, 'SIGKILL');
  });

  it('a missing executable is an EXEC_START error with runc\'s message', async () => {
    await assert.rejects(run({ ...spec(rootfs, ''), args: ['no-such-program', 'x'] }), rejectsWith('EXEC_START', /no-such-program.*executable file not found/));
  });

  it('honours env, adds the default PATH and HOME, and creates a missing cwd owned by the user', async () => {
    const { result, stdout } = await run(spec(rootfs, 'pwd; echo "$GREETING|$PATH|$HOME"; touch ok', { env: ['GREETING=hello world'], cwd: '/work/deep/dir', user: 'app' }));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, '/work/deep/dir\nhello world|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/home/app\n');
    for (const dir of ['work', 'work/deep', 'work/deep/dir']) {
      const info = await stat(join(rootfs, dir));
      assert.equal(info.uid, 1000, dir);
      assert.equal(info.gid, 1000, dir);
      assert.equal(info.mode & 0o777, 0o755, dir);
    }
    assert.equal((await stat(join(rootfs, 'work/deep/dir/ok'))).uid, 1000);
  });

  it('runs as USER by name with supplementary groups, and as uid:gid', async () => {
    const byName = await run(spec(rootfs, 'id', { user: 'app' }));
    // as runc (and so BuildKit) sets them: the groups listing the user; the primary gid is not repeated
    assert.equal(byName.stdout.trim(), 'uid=1000(app) gid=1000(app) groups=10(wheel),50(staff)');
    const numeric = await run(spec(rootfs, 'id -u; id -g; id -G', { user: '1234:5678' }));
    assert.equal(numeric.stdout, '1234\n5678\n5678\n');
    const root = await run(spec(rootfs, 'id -u; id -G'));
    assert.equal(root.stdout, '0\n0 50\n');
  });

  it('an unknown USER is a USER_NOT_FOUND error', async () => {
    await assert.rejects(run(spec(rootfs, 'true', { user: 'ghost' })), rejectsWith('USER_NOT_FOUND', /ghost/));
  });

  it('network none has only the loopback interface; host networking sees the host interfaces', async () => {
    const none = await run(spec(rootfs, 'ls /sys/class/net', { network: 'none' }));
    assert.equal(none.stdout, 'lo\n');
    const host = await run(spec(rootfs, 'ls /sys/class/net', { network: 'host' }));
    assert.deepEqual(host.stdout.split('\n').filter((l) => l !== '').sort(), (await readdir('/sys/class/net')).sort());
  });

  it('sets the hostname and lists it in /etc/hosts; /etc/resolv.conf is generated read-only', async () => {
    const { stdout } = await run(spec(rootfs, 'hostname; grep -c "127.0.0.1.*localhost.*build-host" /etc/hosts; grep -c nameserver /etc/resolv.conf; echo x > /etc/resolv.conf || echo read-only', { hostname: 'build-host' }));
    assert.equal(stdout.split('\n').slice(0, 2).join('\n'), 'build-host\n1');
    assert.match(stdout, /read-only\n$/);
    assert.equal((await run(spec(rootfs, 'hostname'))).stdout, 'buildkitsandbox\n');
    await assert.rejects(stat(join(rootfs, 'etc/hosts')), 'the /etc/hosts mount stub is removed');
  });

  it('a secret is readable at its target with its mode, lives on a tmpfs, and is nowhere on disk afterwards', async () => {
    const value = `s3cret-${randomBytes(12).toString('hex')}`;
    const envValue = `env-${randomBytes(12).toString('hex')}`;
    const stdin = new PassThrough();
    let sawSecret!: () => void;
    const secretSeen = new Promise<void>((resolve) => {
      sawSecret = resolve;
    });
    const running = run(
      spec(rootfs, 'stat -c "%a %u %g" /run/secrets/token; cat /run/secrets/token; echo; echo "$TOKEN"; read line; echo "got $line"', {
        mounts: [{ type: 'secret', target: '/run/secrets/token', data: Buffer.from(value), uid: 0, gid: 0, mode: 0o400 }],
        secretEnv: { TOKEN: envValue },
      }),
      { stdin, onStdout: (text) => (text.includes(envValue) ? sawSecret() : undefined) },
    );
    try {
      await secretSeen;
      // While it runs: the secret file and the env-bearing config.json are on a tmpfs, not on disk.
      const tmpfsMounts = mountsUnder(runDir);
      assert.equal(tmpfsMounts.length, 1);
      const onDisk = filesContaining(base, value).concat(filesContaining(base, envValue));
      assert.ok(onDisk.every((file) => file.startsWith(`${tmpfsMounts[0]}/`)), `only on the tmpfs: ${onDisk.join(', ')}`);
      assert.ok(onDisk.length >= 2);
    } finally {
      stdin.end('hello\n');
    }
    const { result, stdout } = await running;
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, `400 0 0\n${value}\n${envValue}\ngot hello\n`);
    assert.deepEqual(filesContaining(base, value), []);
    assert.deepEqual(filesContaining(base, envValue), []);
    await assert.rejects(stat(join(rootfs, 'run')), 'the secret mount stub (and its parents) are removed from the rootfs');
  });

  it('a secret for a non-root user keeps its owner and mode', async () => {
    const { stdout } = await run(spec(rootfs, 'stat -c "%a %u %g" /s; cat /s', {
      user: 'app',
      mounts: [{ type: 'secret', target: '/s', data: Buffer.from('abc'), uid: 1000, gid: 1000, mode: 0o440 }],
    }));
    assert.equal(stdout, '440 1000 1000\nabc');
  });

  it('mounts a tmpfs; nothing written there reaches the rootfs', async () => {
    const { result, stdout } = await run(spec(rootfs, 'grep " /scratch " /proc/mounts | cut -d" " -f3; echo data > /scratch/file; cat /scratch/file', {
      mounts: [{ type: 'tmpfs', target: '/scratch', size: 1 << 20 }],
    }));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, 'tmpfs\ndata\n');
    await assert.rejects(stat(join(rootfs, 'scratch')));
  });

  it('bind mounts: read-only refuses writes, read-write writes through to the host', async () => {
    const ro = join(base, 'bind-ro');
    const rw = join(base, 'bind-rw');
    await mkdir(ro);
    await mkdir(rw);
    await chmod(rw, 0o777);
    await writeFile(join(ro, 'in.txt'), 'from host\n');
    const { result, stdout } = await run(spec(rootfs, 'cat /mnt/ro/in.txt; touch /mnt/ro/new && echo wrote || echo refused; echo out > /mnt/rw/out.txt', {
      mounts: [
        { type: 'bind', source: ro, target: '/mnt/ro', readonly: true },
        { type: 'bind', source: rw, target: '/mnt/rw', readonly: false },
      ],
    }));
    assert.equal(result.exitCode, 0);
    assert.equal(stdout, 'from host\nrefused\n');
    assert.deepEqual(await readdir(ro), ['in.txt']);
    assert.equal(await readFile(join(rw, 'out.txt'), 'utf8'), 'out\n');
    await assert.rejects(stat(join(rootfs, 'mnt')), 'mount stubs are removed');
  });

  it('an ssh mount is a socket with the requested owner and mode that forwards to the host socket', async () => {
    const agent = join(base, 'agent.sock');
    const server = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(agent, resolve));
    try {
      const stdin = new PassThrough();
      let listed!: (text: string) => void;
      const seen = new Promise<string>((resolve) => {
        listed = resolve;
      });
      const running = run(spec(rootfs, 'stat -c "%F %u %g %a" /run/ssh/agent.sock; read x', {
        user: 'app',
        mounts: [{ type: 'ssh', source: agent, target: '/run/ssh/agent.sock', uid: 1000, gid: 1000, mode: 0o600 }],
      }), { stdin, onStdout: (text) => (text.includes('\n') ? listed(text) : undefined) });
      try {
        assert.equal(await seen, 'socket 1000 1000 600\n');
        // busybox has no unix-socket client: check the forwarding through the proxy socket from the host side.
        const [proxyMount] = mountsUnder(runDir);
        assert.ok(proxyMount !== undefined);
        const proxies = (await readdir(proxyMount)).filter((name) => name.startsWith('a'));
        assert.equal(proxies.length, 1);
        const echoed = await new Promise<string>((resolve, reject) => {
          const client = createConnection(join(proxyMount, proxies[0] ?? ''), () => client.end('ping'));
          const chunks: Buffer[] = [];
          client.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => resolve(Buffer.concat(chunks).toString())).on('error', reject);
        });
        assert.equal(echoed, 'ping');
      } finally {
        stdin.end('\n');
      }
      assert.equal((await running).result.exitCode, 0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a read-only rootfs refuses writes', async () => {
    const { stdout } = await run(spec(rootfs, 'touch /newfile && echo wrote || echo refused', { readonlyRootfs: true }));
    assert.equal(stdout, 'refused\n');
  });

  it('leaves /dev, /proc and /sys as BuildKit does, and removes the other mount points it made', async () => {
    const fresh = await newRootfs();
    const before = (await readdir(fresh)).sort();
    const etcBefore = (await readdir(join(fresh, 'etc'))).sort();
    assert.equal((await run(spec(fresh, 'ls /dev/null /proc/self /sys/kernel >/dev/null'))).result.exitCode, 0);
    assert.deepEqual((await readdir(fresh)).sort(), [...new Set([...before, 'dev', 'proc', 'sys'])].sort());
    assert.deepEqual((await readdir(join(fresh, 'etc'))).sort(), etcBefore, 'no /etc/hosts or /etc/resolv.conf stub is left');
  });

  it('abort kills a running container and rejects with the abort reason', { timeout: 20_000 }, async () => {
    const controller = new AbortController();
    const reason = new Error('user pressed ctrl-c');
    const running = run(spec(rootfs, 'echo started; exec sleep 60'), {
      signal: controller.signal,
      onStdout: (text) => (text.includes('started') ? controller.abort(reason) : undefined),
    });
    await assert.rejects(running, (error: unknown) => error === reason);
  });

  it('an already aborted signal starts nothing', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    await assert.rejects(run(spec(rootfs, 'true'), { signal: controller.signal }), /too late/);
  });

  it('runs two containers at once', async () => {
    const [first, second] = await Promise.all([
      run(spec(rootfs, 'hostname; echo one > /tmp/one; sleep 1; cat /tmp/one', { hostname: 'first' })),
      run(spec(rootfs, 'hostname; echo two > /tmp/two; sleep 1; cat /tmp/two', { hostname: 'second', network: 'none' })),
    ]);
    assert.equal(first.stdout, 'first\none\n');
    assert.equal(second.stdout, 'second\ntwo\n');
  });

  it('a missing runc is an EXTERNAL_TOOL error with an install hint', async () => {
    const missing = createRuncExecutor({ stateDir, runDir, runcPath: '/nonexistent/runc' });
    await assert.rejects(run(spec(rootfs, 'true'), { using: missing }), (error: unknown) => {
      assert.ok(isStagecraftError(error));
      assert.equal(error.code, 'EXTERNAL_TOOL');
      assert.match(error.hint ?? '', /apt-get install runc/);
      return true;
    });
  });

  it('gives up on a runc that cannot kill its container (stuck guard) and still cleans up', { timeout: 30_000 }, async () => {
    const fake = join(base, 'stuck-runc');
    // `run` hangs and ignores SIGTERM; `kill` always fails: only the guard's SIGKILL ends it.
    await writeFile(fake, '#!/bin/sh\nfor a in "$@"; do case "$a" in run) echo started; trap "" TERM; exec sleep 1000;; kill) exit 1;; esac; done\nexit 0\n', { mode: 0o755 });
    const stuck = createRuncExecutor({ stateDir, runDir, runcPath: fake, killGraceMs: 500 });
    const controller = new AbortController();
    const running = run(spec(rootfs, 'true'), { using: stuck, signal: controller.signal, onStdout: () => controller.abort(new Error('stop')) });
    await assert.rejects(running, /stop/);
  });
});
